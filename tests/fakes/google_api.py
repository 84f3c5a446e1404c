"""Google Calendar v3 and Gmail v1 answers in Google's real JSON shapes, for `HttpMockSequence`.

Follows the API references (developers.google.com/calendar/api/v3/reference: CalendarList, Events,
Freebusy; developers.google.com/gmail/api/reference/rest: users.messages, users.threads, users.labels,
users.drafts), Google's JSON error envelope (cloud.google.com/apis/design/errors, with the legacy
`errors[].reason` list the discovery APIs still send), and the OAuth token endpoint's answers
(RFC 6749 section 5). The servers are built with `static_discovery=True`, so no response here is ever
consumed by discovery: each entry answers one API call, in order.
"""

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from google.oauth2.credentials import Credentials
from googleapiclient.http import HttpMockSequence
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult

from assistant.servers.settings import GoogleSettings

Reply = tuple[dict[str, str], str]

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
}


def ok(body: dict[str, Any]) -> Reply:
    return {"status": "200", "content-type": "application/json; charset=UTF-8"}, json.dumps(body)


def no_content() -> Reply:
    return {"status": "204"}, ""


def error(status: int, reason: str, message: str, domain: str = "global") -> Reply:
    body: dict[str, Any] = {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
            "status": _STATUS[status],
        }
    }
    if reason == "insufficientPermissions":
        body["error"]["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                "domain": "googleapis.com",
                "metadata": {"service": "gmail.googleapis.com", "method": "caribou.api.proto.MailboxService"},
            }
        ]
    return {"status": str(status), "content-type": "application/json; charset=UTF-8"}, json.dumps(body)


def unauthorized() -> Reply:
    return error(
        401,
        "authError",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
        "or other valid authentication credential.",
    )


def insufficient_scope() -> Reply:
    return error(403, "insufficientPermissions", "Request had insufficient authentication scopes.")


def not_found(message: str = "Not Found") -> Reply:
    return error(404, "notFound", message)


def rate_limited() -> Reply:
    return error(429, "rateLimitExceeded", "Rate Limit Exceeded", domain="usageLimits")


def token_revoked() -> Reply:
    """The token endpoint's answer to a refresh with a revoked or expired refresh token."""
    body = {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
    return {"status": "400", "content-type": "application/json; charset=utf-8"}, json.dumps(body)


def token_refreshed(access_token: str, scope: str) -> Reply:
    return ok({"access_token": access_token, "expires_in": 3599, "scope": scope, "token_type": "Bearer"})


def mock(*replies: Reply) -> HttpMockSequence:
    """An httplib2.Http stand-in answering each request with the next reply; it records requests."""
    return HttpMockSequence(list(replies))


class OfflineServer:
    """A calendar or gmail server built by `build`, whose Google answers are `replies` in order.

    Reached through a real in-memory MCP client; the token is a stand-in, never refreshed.
    """

    def __init__(
        self, build: Callable[..., MCPServer[Any]], settings: object, state_dir: Path, *replies: Reply
    ) -> None:
        self.http = mock(*replies)
        self.server = build(
            settings,
            GoogleSettings(state_dir=state_dir),
            credentials=lambda: Credentials(token="ya29.test"),  # type: ignore[no-untyped-call]
            http=lambda: self.http,
        )

    async def call(self, tool: str, **arguments: Any) -> CallToolResult:
        async with Client(self.server) as client:
            return await client.call_tool(tool, arguments)


# Calendar v3 ---------------------------------------------------------------------------------------


def calendar_list(*entries: dict[str, Any]) -> Reply:
    return ok(
        {"kind": "calendar#calendarList", "etag": '"p33c"', "nextSyncToken": "CPD", "items": list(entries)}
    )


def calendar_entry(
    calendar_id: str, summary: str, primary: bool = False, tz: str = "Europe/Berlin"
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "kind": "calendar#calendarListEntry",
        "etag": '"1700000000000000"',
        "id": calendar_id,
        "summary": summary,
        "timeZone": tz,
        "colorId": "14",
        "backgroundColor": "#9fe1e7",
        "foregroundColor": "#000000",
        "selected": True,
        "accessRole": "owner",
        "defaultReminders": [{"method": "popup", "minutes": 10}],
        "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]},
    }
    if primary:
        entry["primary"] = True
    return entry


def event(
    event_id: str,
    summary: str,
    start: str,
    end: str,
    tz: str = "Europe/Berlin",
    description: str = "",
    attendees: tuple[str, ...] = (),
) -> dict[str, Any]:
    """An event; `start`/`end` are RFC 3339 date-times with offset, or YYYY-MM-DD for all-day."""

    def when(value: str) -> dict[str, str]:
        return {"date": value} if len(value) == 10 else {"dateTime": value, "timeZone": tz}

    body: dict[str, Any] = {
        "kind": "calendar#event",
        "etag": '"3400000000000000"',
        "id": event_id,
        "status": "confirmed",
        "htmlLink": f"https://www.google.com/calendar/event?eid={event_id}",
        "created": "2026-11-01T10:00:00.000Z",
        "updated": "2026-11-01T10:00:00.000Z",
        "summary": summary,
        "creator": {"email": "me@example.com", "self": True},
        "organizer": {"email": "me@example.com", "self": True},
        "start": when(start),
        "end": when(end),
        "iCalUID": f"{event_id}@google.com",
        "sequence": 0,
        "reminders": {"useDefault": True},
        "eventType": "default",
    }
    if description:
        body["description"] = description
    if attendees:
        body["attendees"] = [{"email": a, "responseStatus": "needsAction"} for a in attendees]
    return body


def events(*items: dict[str, Any], tz: str = "Europe/Berlin") -> Reply:
    return ok(
        {
            "kind": "calendar#events",
            "etag": '"p32g"',
            "summary": "me@example.com",
            "updated": "2026-11-20T10:00:00.000Z",
            "timeZone": tz,
            "accessRole": "owner",
            "defaultReminders": [{"method": "popup", "minutes": 10}],
            "items": list(items),
        }
    )


def freebusy(time_min: str, time_max: str, busy: dict[str, list[tuple[str, str]]]) -> Reply:
    return ok(
        {
            "kind": "calendar#freeBusy",
            "timeMin": time_min,
            "timeMax": time_max,
            "calendars": {
                calendar_id: {"busy": [{"start": s, "end": e} for s, e in intervals]}
                for calendar_id, intervals in busy.items()
            },
        }
    )


def freebusy_unknown_calendar(time_min: str, time_max: str, calendar_id: str) -> Reply:
    return ok(
        {
            "kind": "calendar#freeBusy",
            "timeMin": time_min,
            "timeMax": time_max,
            "calendars": {calendar_id: {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}},
        }
    )


# Gmail v1 ------------------------------------------------------------------------------------------


def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def headers(**values: str) -> list[dict[str, str]]:
    names = {
        "from_": "From",
        "to": "To",
        "cc": "Cc",
        "subject": "Subject",
        "date": "Date",
        "message_id": "Message-ID",
    }
    return [{"name": names.get(k, k), "value": v} for k, v in values.items()]


def message(
    message_id: str,
    thread_id: str,
    subject: str,
    sender: str = "Ann <ann@example.com>",
    plain: str | None = "Hello there.",
    html: str | None = None,
    attachment: tuple[str, str, int] | None = None,
    labels: tuple[str, ...] = ("INBOX", "UNREAD"),
) -> dict[str, Any]:
    """A users.messages resource in format=full: multipart/mixed of alternative text/html (+ file)."""
    parts: list[dict[str, Any]] = []
    if plain is not None:
        parts.append(
            {"partId": "0.0", "mimeType": "text/plain", "filename": "",
             "headers": [{"name": "Content-Type", "value": "text/plain; charset=\"UTF-8\""}],
             "body": {"size": len(plain.encode()), "data": b64(plain)}}
        )  # fmt: skip
    if html is not None:
        parts.append(
            {"partId": "0.1", "mimeType": "text/html", "filename": "",
             "headers": [{"name": "Content-Type", "value": "text/html; charset=\"UTF-8\""}],
             "body": {"size": len(html.encode()), "data": b64(html)}}
        )  # fmt: skip
    alternative = {"partId": "0", "mimeType": "multipart/alternative", "filename": "", "headers": [],
                   "body": {"size": 0}, "parts": parts}  # fmt: skip
    top_parts: list[dict[str, Any]] = [alternative]
    if attachment is not None:
        name, mime, size = attachment
        top_parts.append(
            {"partId": "1", "mimeType": mime, "filename": name,
             "headers": [{"name": "Content-Disposition", "value": f'attachment; filename="{name}"'}],
             "body": {"attachmentId": "ANGjdJ8" + message_id, "size": size}}
        )  # fmt: skip
    return {
        "id": message_id,
        "threadId": thread_id,
        "labelIds": list(labels),
        "snippet": (plain or "")[:100],
        "sizeEstimate": 4321,
        "historyId": "123456",
        "internalDate": "1764230400000",
        "payload": {
            "partId": "",
            "mimeType": "multipart/mixed",
            "filename": "",
            "headers": headers(
                from_=sender,
                to="me@example.com",
                subject=subject,
                date="Thu, 27 Nov 2026 08:00:00 +0000",
                message_id=f"<{message_id}@mail.example.com>",
            ),
            "body": {"size": 0},
            "parts": top_parts,
        },
    }


def message_list(*ids: tuple[str, str]) -> Reply:
    return ok(
        {"messages": [{"id": m, "threadId": t} for m, t in ids], "resultSizeEstimate": len(ids)}
        if ids
        else {"resultSizeEstimate": 0}
    )


def label_list() -> Reply:
    return ok(
        {
            "labels": [
                {"id": "INBOX", "name": "INBOX", "type": "system",
                 "messageListVisibility": "hide", "labelListVisibility": "labelShow"},
                {"id": "UNREAD", "name": "UNREAD", "type": "system"},
                {"id": "Label_12", "name": "Receipts", "type": "user",
                 "messageListVisibility": "show", "labelListVisibility": "labelShow"},
            ]
        }
    )  # fmt: skip


def draft_created(draft_id: str, message_id: str, thread_id: str) -> Reply:
    """users.drafts.create: the new draft's id and its message's ids."""
    return ok({"id": draft_id, "message": {"id": message_id, "threadId": thread_id, "labelIds": ["DRAFT"]}})


def draft_raw(draft_id: str, message_id: str, rfc822: str) -> Reply:
    """users.drafts.get with format=raw: the whole message as base64url RFC 5322 text."""
    message = {"id": message_id, "threadId": "t-" + message_id, "labelIds": ["DRAFT"], "raw": b64(rfc822)}
    return ok({"id": draft_id, "message": message})


def sent(message_id: str, thread_id: str) -> Reply:
    """users.drafts.send: the sent message."""
    return ok({"id": message_id, "threadId": thread_id, "labelIds": ["SENT"]})
