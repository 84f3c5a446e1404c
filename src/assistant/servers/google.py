"""Google APIs for the calendar and gmail servers: scopes, the saved token, and calling the API.

This is the one module that touches google-api-python-client and google-auth: their exceptions are
translated here. Each call runs in a worker thread with its own `httplib2.Http`, which is not
thread-safe. The token lives in `<state_dir>/google-token.json` (0600, directory 0700) without the
client secret, which is read from its credential or file whenever a token must be refreshed.
"""

import asyncio
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import google_auth_httplib2
import httplib2
from google.auth.exceptions import GoogleAuthError, RefreshError, TransportError
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import Resource, build
from googleapiclient.errors import HttpError
from googleapiclient.http import HttpRequest
from pydantic import BaseModel, ValidationError

from assistant.credentials import check_private, credential_path, read_secret
from assistant.errors import (
    ConfigError,
    GoogleAuthRequired,
    NotFound,
    ToolInputInvalid,
    UpstreamUnavailable,
)
from assistant.servers.settings import CalendarSettings, GmailSettings, GoogleSettings

FIX = "run `assistant auth google`"
CLIENT_JSON_FIX = (
    "set `[google] client_secret_file` to the Desktop app OAuth client JSON from Google Cloud console "
    "(mode 0600), then run `assistant auth google`"
)
_AUTH = "https://www.googleapis.com/auth/"
CALENDAR_READ = (_AUTH + "calendar.readonly",)
CALENDAR_WRITE = (
    _AUTH + "calendar.events",
    _AUTH + "calendar.calendarlist.readonly",
    _AUTH + "calendar.freebusy",
)
GMAIL_READ: tuple[str, ...] = (_AUTH + "gmail.readonly",)
GMAIL_COMPOSE: tuple[str, ...] = (_AUTH + "gmail.compose",)
GMAIL_MODIFY: tuple[str, ...] = (_AUTH + "gmail.modify",)
_RATE_LIMITED = {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "RATE_LIMIT_EXCEEDED"}
_SCOPE_MISSING = {"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}


def calendar_scopes(settings: CalendarSettings) -> tuple[str, ...]:
    """Least privilege for the calendar tools that `settings` turns on."""
    if not settings.enabled:
        return ()
    return CALENDAR_READ if settings.read_only else CALENDAR_WRITE


def gmail_scopes(settings: GmailSettings) -> tuple[str, ...]:
    """gmail.readonly; plus gmail.compose for drafts and sending, gmail.modify for labels."""
    if not settings.enabled:
        return ()
    scopes = GMAIL_READ
    if not settings.read_only:
        scopes += GMAIL_COMPOSE
    if settings.labels:
        scopes += GMAIL_MODIFY
    return scopes


class ClientConfig(BaseModel):
    """The part of Google's "Desktop app" client JSON (`{"installed": {...}}`) that we use."""

    client_id: str
    client_secret: str
    auth_uri: str = "https://accounts.google.com/o/oauth2/auth"
    token_uri: str = "https://oauth2.googleapis.com/token"  # noqa: S105 (an endpoint)

    @classmethod
    def load(cls, settings: GoogleSettings) -> "ClientConfig":
        raw = read_secret(settings.client_secret_credential, settings.client_secret_file, CLIENT_JSON_FIX)
        try:
            installed = json.loads(raw)["installed"]
            return cls.model_validate(installed)
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            raise ConfigError(
                "the Google client secret is not a Desktop app OAuth client JSON (with an 'installed' "
                "object); download it from Google Cloud console > Credentials"
            ) from exc

    def as_flow_config(self) -> dict[str, dict[str, object]]:
        return {"installed": {**self.model_dump(), "redirect_uris": ["http://localhost"]}}


class TokenStore:
    """The user's token: read from its systemd credential or the owner-only file in the state directory,
    and always written to that file (0600, directory 0700)."""

    def __init__(self, state_dir: Path, credential: str | None = None) -> None:
        self.directory = state_dir.expanduser()
        self.path = self.directory / "google-token.json"
        self._credential = credential

    def source(self) -> Path:
        """Where the token is read from: the systemd credential when there is one, else the file."""
        from_systemd = credential_path(self._credential) if self._credential else None
        return from_systemd or self.path

    def load(self, client: ClientConfig) -> Credentials:
        source = self.source()
        if not source.is_file():
            raise GoogleAuthRequired(f"no Google token at {source}; {FIX}")
        if source == self.path:
            check_private(source)
        try:
            info = json.loads(source.read_text(encoding="utf-8"))
            info |= {"client_id": client.client_id, "client_secret": client.client_secret}
            credentials: Credentials = Credentials.from_authorized_user_info(info)  # type: ignore[no-untyped-call]
        except (ValueError, KeyError) as exc:
            raise GoogleAuthRequired(f"the Google token at {source} is unreadable; {FIX}") from exc
        return credentials

    def save(self, credentials: Credentials) -> None:
        """Write atomically with mode 0600 in a 0700 directory; never the client secret."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        info = json.loads(credentials.to_json(strip=["client_secret"]))  # type: ignore[no-untyped-call]
        temporary = self.path.with_suffix(".tmp")
        temporary.unlink(missing_ok=True)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(info, file)
        os.replace(temporary, self.path)


class SavedCredentials:
    """Credentials from the token store, refreshed when expired and saved again after a refresh.

    The file is loaded again whenever it changes on disk, so a new `assistant auth google` takes effect
    without restarting the server.
    """

    def __init__(self, settings: GoogleSettings, scopes: tuple[str, ...], http: "HttpFactory") -> None:
        self._settings = settings
        self._scopes = scopes
        self._http = http
        self._store = TokenStore(settings.state_dir, settings.token_credential)
        self._lock = threading.Lock()
        self._credentials: Credentials | None = None
        self._loaded: tuple[int, int] | None = None

    def _version(self) -> tuple[int, int]:
        # TokenStore.save replaces the file, so a new save is a new inode even within one mtime tick.
        status = self._store.source().stat()
        return status.st_ino, status.st_mtime_ns

    def _changed_on_disk(self) -> bool:
        try:
            return self._version() != self._loaded
        except FileNotFoundError:
            return True

    def __call__(self) -> Credentials:
        with self._lock:
            if self._credentials is None or self._changed_on_disk():
                self._credentials = None
                credentials = self._store.load(ClientConfig.load(self._settings))
                missing = sorted(set(self._scopes) - set(credentials.scopes or ()))
                if missing:
                    names = ", ".join(scope.removeprefix(_AUTH) for scope in missing)
                    raise GoogleAuthRequired(f"the Google token lacks the scope {names}; {FIX}")
                self._credentials = credentials
                self._loaded = self._version()
            if not self._credentials.valid:
                request = google_auth_httplib2.Request(self._http())
                try:
                    self._credentials.refresh(request)  # type: ignore[no-untyped-call]
                except RefreshError as exc:
                    raise GoogleAuthRequired(f"the Google token is expired or revoked; {FIX}") from exc
                except TransportError as exc:
                    raise UpstreamUnavailable(f"cannot reach Google to refresh the token: {exc}") from exc
                self._store.save(self._credentials)
                self._loaded = self._version()
            return self._credentials


CredentialSource = Callable[[], Credentials]
HttpFactory = Callable[[], httplib2.Http]


def _error_reasons(error: dict[str, Any]) -> set[str]:
    reasons = {str(item.get("reason")) for item in error.get("errors", []) if isinstance(item, dict)}
    reasons |= {str(item.get("reason")) for item in error.get("details", []) if isinstance(item, dict)}
    return reasons


def translate(exc: HttpError, what: str) -> Exception:
    """Google's error envelope as one of our errors, naming what was being done and the fix."""
    status = int(exc.resp.status)
    try:
        error = json.loads(exc.content)["error"]
        message, reasons = str(error.get("message", "")), _error_reasons(error)
    except (ValueError, KeyError, TypeError, AttributeError):
        message, reasons = "", set()
    if status == 401:
        return GoogleAuthRequired(f"Google rejected the token while {what}; {FIX}")
    if reasons & _SCOPE_MISSING:
        return GoogleAuthRequired(f"the Google token lacks the scope for {what}; {FIX}")
    if status == 429 or reasons & _RATE_LIMITED:
        return UpstreamUnavailable(f"Google's rate limit was hit while {what}; try again in a minute")
    if status in {404, 410}:
        return NotFound(f"not found while {what}: check the id (Google: {message or 'Not Found'})")
    if status >= 500:
        return UpstreamUnavailable(f"Google failed (HTTP {status}) while {what}; try again later")
    return ToolInputInvalid(f"Google refused {what} (HTTP {status}): {message or 'no reason given'}")


class GoogleApi:
    """One discovery-built API (calendar v3, gmail v1) whose requests run off the event loop."""

    def __init__(self, name: str, version: str, credentials: CredentialSource, http: HttpFactory) -> None:
        self._credentials = credentials
        self._http = http
        # static_discovery: the discovery document bundled with the library; no network at build time.
        self.service: Resource = build(
            name, version, http=http(), static_discovery=True, cache_discovery=False
        )

    async def call(self, request: Callable[[Resource], HttpRequest], what: str) -> dict[str, Any]:
        """Run `request(service).execute()` in a thread; `what` ("listing events") goes into errors."""
        return await asyncio.to_thread(self._execute, request, what)

    def _execute(self, request: Callable[[Resource], HttpRequest], what: str) -> dict[str, Any]:
        http = google_auth_httplib2.AuthorizedHttp(self._credentials(), http=self._http())
        try:
            result = request(self.service).execute(http=http)
        except HttpError as exc:
            raise translate(exc, what) from exc
        except RefreshError as exc:
            raise GoogleAuthRequired(f"the Google token is expired or revoked; {FIX}") from exc
        except (GoogleAuthError, httplib2.HttpLib2Error, OSError) as exc:
            raise UpstreamUnavailable(f"cannot reach Google while {what}: {type(exc).__name__}") from exc
        return result if isinstance(result, dict) else {}


def real_http(settings: GoogleSettings) -> HttpFactory:
    """A fresh `httplib2.Http` per call, with the configured timeout."""
    return lambda: httplib2.Http(timeout=settings.timeout_s)
