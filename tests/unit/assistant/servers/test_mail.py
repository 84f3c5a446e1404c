"""Gmail payloads read as text, and drafts written as clean RFC 5322 mail."""

import base64
import email.policy
import unicodedata
from email.parser import BytesParser
from typing import Any

import pytest
from fakes import google_api as g
from hypothesis import example, given
from hypothesis import strategies as st

from assistant.errors import RecipientNotAllowed, ToolInputInvalid
from assistant.servers.mail import build_draft, raw_recipients, read_message

MIME = ["Content-Type", "Content-Transfer-Encoding", "MIME-Version"]
# Issue 13: Python's email package decodes this into a Subject and a Bcc header.
PLANTED_BCC = "=?utf-8?q?Hi=0D=0ABcc:_attacker@evil.example?="


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


# Line breaks are all tried below; these are the other control characters (C0, DEL, C1).
@pytest.mark.parametrize("subject", ["a\r\nBcc: eve@evil.example", "a\x00b", "a\tb", "a\x7fb", "a\x9bb"])
def test_a_subject_cannot_carry_a_header(subject: str) -> None:
    with pytest.raises(ToolInputInvalid, match="one line"):
        build_draft(["ann@example.com"], subject, "body")


@pytest.mark.parametrize(
    "subject",
    [
        PLANTED_BCC,
        "=?UTF-8?B?SGkNCkJjYzogZXZlQGV2aWwuZXhhbXBsZQ==?=",  # the same in base64
        "Re: =?utf-8?q?x=0ABcc:_eve@evil.example?= lunch",
        "=?iso-8859-1?q?Gr=FC=DFe?=",  # harmless, but the model should write the text itself
    ],
)
def test_issue_13_an_encoded_word_subject_is_refused(subject: str) -> None:
    with pytest.raises(ToolInputInvalid, match="encoded word"):
        build_draft(["ann@example.com"], subject, "body")


def test_issue_13_the_read_back_alone_refuses_a_planted_header(monkeypatch: pytest.MonkeyPatch) -> None:
    """The second line of defence: with the subject check switched off, the draft is still refused."""
    monkeypatch.setattr("assistant.servers.mail.check_subject", lambda subject: subject)
    with pytest.raises(ToolInputInvalid, match=r"changed when read back \(now: To, Subject, Bcc,"):
        build_draft(["ann@example.com"], PLANTED_BCC, "body")


@given(st.text(max_size=300))
@example(PLANTED_BCC)
@example(" leading space")
@example("x\u2028y")
# Python's folder at 78 columns lost these: a space at a fold, and a line break after "Subject:".
@example("aüa üx日 日 a日日日ü日 日ü x日  x日日日")
@example("x" * 77 + " ü")
def test_any_subject_is_refused_clearly_or_read_back_exactly(subject: str) -> None:
    try:
        raw = build_draft(["ann@example.com", "bob@team.example"], subject, "body")
    except ToolInputInvalid:
        # Refused: it would span lines, or holds what a reader could decode into more headers.
        spans_lines = len(f"x{subject}x".splitlines()) > 1
        assert spans_lines or any(unicodedata.category(c) == "Cc" for c in subject) or "=?" in subject
        return
    parsed = parse(raw)
    assert parsed.keys() == ["To", "Subject", *MIME]
    assert parsed["Subject"] == subject.strip()
    assert parsed["To"] == "ann@example.com, bob@team.example"


# Found by trying all of Unicode, so a character Python adds later is tested too.
LINE_SPLITTING = [chr(i) for i in range(0x110000) if len(f"a{chr(i)}b".splitlines()) > 1]


@pytest.mark.parametrize("c", LINE_SPLITTING, ids=[f"U+{ord(c):04X}" for c in LINE_SPLITTING])
def test_every_character_str_splitlines_splits_on_is_refused(c: str) -> None:
    with pytest.raises(ToolInputInvalid, match="one line"):
        build_draft(["ann@example.com"], f"a{c}b", "body")


@pytest.mark.parametrize(
    ("message_id", "references"),
    [
        ("<m1@x>", "<a@x> =?utf-8?q?=0D=0ABcc:_eve@evil.example?="),
        ("<=?utf-8?q?=0D=0ABcc:_eve@evil.example?=@x>", None),
        ("<m1@x>\r\nBcc: eve@evil.example", None),
        ("<m1@x>", "<a@x>\u2028Bcc: eve@evil.example"),
        ("m1@x", None),
    ],
)
def test_issue_13_a_reply_cannot_carry_headers_planted_by_the_original_sender(
    message_id: str, references: str | None
) -> None:
    with pytest.raises(ToolInputInvalid, match="draft it without in_reply_to"):
        build_draft(["ann@example.com"], "Re: hi", "body", message_id, references)


def test_a_reply_keeps_a_long_folded_reference_chain() -> None:
    chain = " ".join(f"<id{n}@mail.example.com>" for n in range(60))
    mail = parse(build_draft(["ann@example.com"], "Re: hi", "body", "<m1@x>", chain))
    assert mail["References"] == f"{chain} <m1@x>"
    assert mail.keys() == ["To", "Subject", "In-Reply-To", "References", *MIME]


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
