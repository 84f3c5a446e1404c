"""Gmail payloads read as text, and drafts written as clean RFC 5322 mail."""

import base64
import email.policy
from email.parser import BytesParser
from typing import Any

import pytest
from fakes import google_api as g

from assistant.errors import RecipientNotAllowed, ToolInputInvalid
from assistant.servers.mail import build_draft, raw_recipients, read_message


def single_part(data: bytes, content_type: str) -> dict[str, Any]:
    encoded = base64.urlsafe_b64encode(data).decode().rstrip("=")
    return {
        "id": "m1",
        "threadId": "t1",
        "payload": {
            "mimeType": content_type.split(";")[0],
            "headers": [*g.headers(subject="s"), {"name": "Content-Type", "value": content_type}],
            "body": {"size": len(data), "data": encoded},
        },
    }


def test_a_single_part_message_in_latin_1() -> None:
    message = read_message(single_part("Grüße".encode("latin-1"), 'text/plain; charset="ISO-8859-1"'), 100)
    assert message.body == "Grüße"


def test_an_unknown_charset_falls_back_to_utf_8() -> None:
    message = read_message(single_part("héllo".encode(), "text/plain; charset=x-klingon"), 100)
    assert message.body == "héllo"


def test_the_body_is_capped() -> None:
    message = read_message(single_part(b"x" * 1000, "text/plain"), 600)
    assert len(message.body) == 600 and message.body_truncated


def test_plain_text_wins_over_html() -> None:
    message = read_message(g.message("m1", "t1", "s", plain="plain", html="<p>html</p>"), 100)
    assert message.body == "plain"


def test_deeply_nested_parts_do_not_recurse_forever() -> None:
    part: dict[str, Any] = {"mimeType": "text/plain", "body": {"data": g.b64("deep")}}
    for _ in range(500):
        part = {"mimeType": "multipart/mixed", "parts": [part], "body": {}}
    assert read_message({"id": "m", "payload": part}, 100).body == ""


def parse(raw: str) -> Any:
    data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    return BytesParser(policy=email.policy.default).parsebytes(data)


def test_a_reply_draft_threads_and_keeps_unicode() -> None:
    mail = parse(build_draft(["ann@example.com"], "Grüße", "Hallo Ann", "<a@x>", "<z@x>"))
    assert mail["Subject"] == "Grüße"
    assert mail["References"] == "<z@x> <a@x>"
    assert mail["In-Reply-To"] == "<a@x>"
    assert mail.get_content().strip() == "Hallo Ann"


@pytest.mark.parametrize("subject", ["a\r\nBcc: eve@evil.example", "a\nb", "a\rb", "a\x00b"])
def test_a_subject_cannot_carry_a_header(subject: str) -> None:
    with pytest.raises(ToolInputInvalid, match="one line"):
        build_draft(["ann@example.com"], subject, "body")


def test_raw_recipients_read_every_recipient_header() -> None:
    headers = "To: Ann <ann@example.com>\r\nCc: b@x.org, c@y.org\r\nBcc: d@z.org\r\nSubject: s\r\n"
    raw = g.b64(headers + "\r\nbody\r\n")
    assert raw_recipients(raw) == ["ann@example.com", "b@x.org", "c@y.org", "d@z.org"]


def test_a_malformed_recipient_header_refuses_sending() -> None:
    with pytest.raises(RecipientNotAllowed, match="malformed"):
        raw_recipients(g.b64("To: ann@example.com <<eve@evil.example\r\n\r\nbody\r\n"))


def test_a_folded_recipient_header_is_read_whole() -> None:
    raw = g.b64("To: Ann <ann@example.com>,\r\n Bob <bob@example.com>\r\nSubject: s\r\n\r\nbody\r\n")
    assert raw_recipients(raw) == ["ann@example.com", "bob@example.com"]
