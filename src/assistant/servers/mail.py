"""Gmail message payloads: read as headers plus a text body, and drafts written as RFC 5322 mail.

Reading never fetches an attachment; it only lists name, type and size (the name is the sender's text,
used for nothing but display). Writing builds the message with `email.message.EmailMessage` from
checked parts, then reads the result back as Gmail will and refuses it unless its headers are exactly
the ones set: Python's email package decodes RFC 2047 encoded words, so a subject such as
`=?utf-8?q?Hi=0D=0ABcc:_x?=` would otherwise come back as two headers.
"""

import base64
import binascii
import email.policy
import re
import unicodedata
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from pydantic import BaseModel

from assistant.errors import ToolInputInvalid
from assistant.servers.html_text import html_to_text
from assistant.servers.recipients import header_addresses

_MAX_DEPTH = 20
# Control characters (C0, DEL, C1 with U+0085) and the line and paragraph separators U+2028/U+2029:
# together every character str.splitlines() or a mail reader ends a line at.
_LINE_BREAKING = frozenset({"Cc", "Zl", "Zp"})
# An RFC 2047 encoded word, or anything Python's lenient decoder might take for one.
_ENCODED_WORD = re.compile(r"=\?.*\?=", re.DOTALL)
# RFC 5322 msg-id as found in the wild: printable ASCII in angle brackets.
_MESSAGE_ID = re.compile(r"<[!-;=?-~]+>")
# Folded at RFC 5322's hard limit, not 78: Python's folder can drop a space between encoded words, or
# start a header with an empty line, and the read-back check would then refuse a harmless subject.
_WRITE_POLICY = email.policy.SMTP.clone(max_line_length=998)


class Attachment(BaseModel):
    filename: str
    mime_type: str
    size: int


class Message(BaseModel):
    id: str
    thread_id: str
    sender: str
    to: str
    cc: str
    subject: str
    date: str
    labels: list[str]
    body: str
    body_truncated: bool
    attachments: list[Attachment]

    def as_text(self) -> str:
        lines = [f"From: {self.sender}", f"To: {self.to}"]
        if self.cc:
            lines.append(f"Cc: {self.cc}")
        lines += [f"Subject: {self.subject}", f"Date: {self.date}", f"Id: {self.id}", "", self.body]
        if self.body_truncated:
            lines.append("[body truncated]")
        if self.attachments:
            lines.append("\nAttachments (listed, not fetched):")
            lines += [f"- {a.filename} ({a.mime_type}, {a.size} bytes)" for a in self.attachments]
        return "\n".join(lines)


def header_map(payload: dict[str, Any]) -> dict[str, str]:
    """The message's top-level headers by lower-case name (first occurrence wins)."""
    found: dict[str, str] = {}
    for header in payload.get("headers", []):
        found.setdefault(str(header.get("name", "")).lower(), str(header.get("value", "")))
    return found


def _decode(data: str, content_type: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return ""
    charset = "utf-8"
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"') or charset
    try:
        return raw.decode(charset, errors="replace")
    except LookupError:
        return raw.decode("utf-8", errors="replace")


def _walk(part: dict[str, Any], depth: int = 0) -> list[dict[str, Any]]:
    if depth > _MAX_DEPTH:
        return []
    children = part.get("parts") or []
    if not children:
        return [part]
    return [leaf for child in children for leaf in _walk(child, depth + 1)]


def read_message(raw: dict[str, Any], max_chars: int) -> Message:
    """A users.messages resource (format=full) as headers, a text body and an attachment list."""
    payload = raw.get("payload", {})
    headers = header_map(payload)
    plain: list[str] = []
    html: list[str] = []
    attachments: list[Attachment] = []
    for leaf in _walk(payload):
        mime = str(leaf.get("mimeType", "")).lower()
        body = leaf.get("body", {})
        if leaf.get("filename") or body.get("attachmentId"):
            attachments.append(
                Attachment(
                    filename=str(leaf.get("filename", "")), mime_type=mime, size=int(body.get("size", 0))
                )
            )
        elif mime in {"text/plain", "text/html"} and "data" in body:
            content_type = header_map(leaf).get("content-type", mime)
            (plain if mime == "text/plain" else html).append(_decode(str(body["data"]), content_type))
    text = "\n\n".join(plain) if plain else "\n\n".join(html_to_text(h)[1] for h in html)
    return Message(
        id=str(raw.get("id", "")),
        thread_id=str(raw.get("threadId", "")),
        sender=headers.get("from", ""),
        to=headers.get("to", ""),
        cc=headers.get("cc", ""),
        subject=headers.get("subject", ""),
        date=headers.get("date", ""),
        labels=[str(label) for label in raw.get("labelIds", [])],
        body=text[:max_chars],
        body_truncated=len(text) > max_chars,
        attachments=attachments,
    )


def check_subject(subject: str) -> str:
    """The subject without surrounding spaces (mail drops leading ones), or ToolInputInvalid."""
    if any(unicodedata.category(c) in _LINE_BREAKING for c in subject):
        raise ToolInputInvalid(
            "subject must be one line: no CR, LF, U+2028/U+2029 separators or other control characters"
        )
    if _ENCODED_WORD.search(subject):
        raise ToolInputInvalid(
            "subject must not contain an encoded word ('=?...?='); write the text itself, in any language"
        )
    return subject.strip()


def reply_headers(message_id: str, references: str | None) -> tuple[str, str]:
    """In-Reply-To and References for a reply, from the original's headers (the sender wrote them)."""
    ids = [*(references or "").split(), message_id]
    if not all(_MESSAGE_ID.fullmatch(i) and not _ENCODED_WORD.search(i) for i in ids):
        raise ToolInputInvalid(
            "the message to reply to has a Message-ID or References header that is not plain <id@host> "
            "ids; draft it without in_reply_to"
        )
    return message_id, " ".join(ids)


def _check_read_back(data: bytes, headers: list[tuple[str, str]]) -> None:
    """Refuse `data` unless a reader sees exactly `headers`, in order and with the same values."""
    parsed = BytesParser(policy=email.policy.default).parsebytes(data, headersonly=True)
    found = [(name, str(value)) for name, value in parsed.items()]
    defects = parsed.defects or any(value.defects for value in parsed.values())
    if found != headers or defects:
        names = ", ".join(name for name, _ in found)
        raise ToolInputInvalid(
            f"the draft's headers changed when read back (now: {names}); refusing to save it"
        )


def build_draft(
    to: list[str], subject: str, body: str, in_reply_to: str | None = None, references: str | None = None
) -> str:
    """The draft as base64url RFC 5322 text, the form users.drafts.create takes in `message.raw`.

    `to` holds bare addresses already checked against the allow-list; `in_reply_to` and `references`
    are the original message's own Message-ID and References headers.
    """
    headers = [("To", ", ".join(to)), ("Subject", check_subject(subject))]
    if in_reply_to:
        reply_to, chain = reply_headers(in_reply_to, references)
        headers += [("In-Reply-To", reply_to), ("References", chain)]
    message = EmailMessage(policy=_WRITE_POLICY)
    for name, value in headers:
        message[name] = value
    message.set_content(body)
    # set_content adds the MIME headers; they are ours too.
    mime = [(name, str(value)) for name, value in message.items()][len(headers) :]
    data = message.as_bytes()
    _check_read_back(data, headers + mime)
    return base64.urlsafe_b64encode(data).decode("ascii")


def raw_recipients(raw: str) -> list[str]:
    """Every To, Cc and Bcc address of a draft in `format=raw` (base64url RFC 5322 text)."""
    data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    # compat32 keeps each header's raw text; the default policy would hand back a cleaned-up value
    # that silently drops the parts it could not parse.
    parsed = BytesParser(policy=email.policy.compat32).parsebytes(data, headersonly=True)
    addresses: list[str] = []
    for name in ("To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc"):
        for value in parsed.get_all(name, []):
            unfolded = re.sub(r"\r?\n(?=[ \t])", "", str(value))  # RFC 5322 section 2.2.3
            addresses += header_addresses(name, unfolded)
    return addresses
