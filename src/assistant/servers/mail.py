"""Gmail message payloads: read as headers plus a text body, and drafts written as RFC 5322 mail.

Reading never fetches an attachment; it only lists name, type and size (the name is the sender's text,
used for nothing but display). Writing builds the message with `email.message.EmailMessage` from
checked parts, so no header can be smuggled in through a subject or an address.
"""

import base64
import binascii
import email.policy
import re
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from pydantic import BaseModel

from assistant.errors import ToolInputInvalid
from assistant.servers.html_text import html_to_text
from assistant.servers.recipients import header_addresses

_MAX_DEPTH = 20


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
    if any(ord(c) < 32 or ord(c) == 127 for c in subject):
        raise ToolInputInvalid("subject must be one line: no CR, LF or other control characters")
    return subject


def build_draft(
    to: list[str], subject: str, body: str, in_reply_to: str | None = None, references: str | None = None
) -> str:
    """The draft as base64url RFC 5322 text, the form users.drafts.create takes in `message.raw`."""
    message = EmailMessage(policy=email.policy.SMTP)
    message["To"] = ", ".join(to)
    message["Subject"] = check_subject(subject)
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = f"{references} {in_reply_to}".strip() if references else in_reply_to
    message.set_content(body)
    return base64.urlsafe_b64encode(message.as_bytes()).decode("ascii")


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
