"""The `assistant.toml` sections the tool servers own: `[searxng]`, `[google]`, `[calendar]`, `[gmail]`.

Each model has defaults for every field, so a section may be left out. `config.py` composes these into
the whole file; a server started alone reads only its own section with `load_section`.
Secrets are never values here: the Google client secret is a file path or a systemd credential name.
"""

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Annotated, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, ValidationError, model_validator

from assistant.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SearxngSettings(_Section):
    """Where SearXNG is, and the limits on searching and on fetching pages."""

    url: HttpUrl = HttpUrl("http://127.0.0.1:8888")
    search_timeout_s: float = Field(default=10.0, gt=0, le=120)
    max_query_chars: int = Field(default=400, ge=1, le=2000)
    max_results: int = Field(default=10, ge=1, le=50)
    fetch_timeout_s: float = Field(default=15.0, gt=0, le=120)
    fetch_max_bytes: int = Field(default=2_000_000, ge=1024, le=50_000_000)
    fetch_max_chars: int = Field(default=20_000, ge=100, le=1_000_000)
    fetch_max_redirects: int = Field(default=5, ge=0, le=20)
    # Addresses fetch_url may reach although they are loopback, private, link-local or reserved
    # (e.g. "192.168.1.0/24" for a LAN wiki). Empty: every non-public address is refused.
    fetch_allow_networks: tuple[Network, ...] = ()

    @model_validator(mode="after")
    def _no_credentials_in_url(self) -> "SearxngSettings":
        if self.url.username or self.url.password:
            raise ValueError("searxng.url must not hold a user name or password; secrets never go in config")
        return self


def _state_dir_default() -> Path:
    """systemd's StateDirectory when run as a service, else the XDG state directory."""
    if state := os.environ.get("STATE_DIRECTORY"):
        return Path(state.split(":")[0])
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "variet"


CredentialName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]


class GoogleSettings(_Section):
    """The OAuth client and where the user's token lives."""

    # The OAuth "Desktop app" client JSON downloaded from Google Cloud: a systemd credential of this
    # name wins; otherwise the owner-only (0600) file at client_secret_file.
    client_secret_credential: CredentialName = "google-client-secret"  # noqa: S105 (a name)
    client_secret_file: Path | None = None
    # Holds google-token.json (0600), written by `assistant auth google` and after each refresh;
    # created 0700.
    state_dir: Path = Field(default_factory=_state_dir_default)
    # A service whose state directory the user cannot write to (systemd DynamicUser) may get the token
    # file made by `assistant auth google` elsewhere as the systemd credential of this name; it wins
    # over the file in state_dir.
    token_credential: CredentialName = "google-token"  # noqa: S105 (a name)
    timeout_s: float = Field(default=30.0, gt=0, le=300)


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA timezone {name!r} (e.g. 'Europe/Berlin', 'UTC')") from exc
    return name


Timezone = Annotated[str, AfterValidator(_zone)]


def _address(value: str) -> str:
    """An allow-list entry: `user@example.com` or `@example.com` (a whole domain), ASCII only."""
    entry = value.strip().lower()
    if not entry.isascii() or " " in entry or entry.count("@") != 1 or entry.endswith("@"):
        raise ValueError(f"{value!r} is not an address like 'me@example.com' or '@example.com'")
    return entry


Address = Annotated[str, AfterValidator(_address)]


class CalendarSettings(_Section):
    """Google Calendar tools: on or off, and whether they may write."""

    enabled: bool = True
    read_only: bool = False
    # Times the model gives without an offset are read in this zone; results carry explicit offsets.
    timezone: Timezone = "UTC"
    max_results: int = Field(default=50, ge=1, le=250)
    # Attendees an event may be given (invitations leave the house); empty: no attendees at all.
    allowed_attendees: tuple[Address, ...] = ()


class GmailSettings(_Section):
    """Gmail tools: read-only unless the user opts into drafting, sending and labelling."""

    enabled: bool = True
    read_only: bool = True
    # With read_only = false: create_draft is on; send_draft and modify_labels need these too.
    send: bool = False
    labels: bool = False
    # Who a draft may address (To, Cc, Bcc); empty: nobody, so drafts cannot be created.
    allowed_recipients: tuple[Address, ...] = ()
    max_results: int = Field(default=25, ge=1, le=100)
    max_body_chars: int = Field(default=20_000, ge=500, le=500_000)

    @model_validator(mode="after")
    def _writes_need_read_write(self) -> "GmailSettings":
        if self.read_only and (self.send or self.labels):
            raise ValueError("gmail.send and gmail.labels need gmail.read_only = false")
        return self


SectionT = TypeVar("SectionT", bound=_Section)


def load_section(path: Path | None, name: str, model: type[SectionT]) -> SectionT:
    """Section `name` of the TOML file at `path` (defaults when there is no file or no section).

    As in config.py, relative paths in the file are relative to the file's directory.
    """
    if path is None:
        return model()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    section = data.get(name, {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    try:
        settings = model.model_validate(section)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in (name, *error["loc"]))
        raise ConfigError(f"{path}: {where}: {error['msg'].removeprefix('Value error, ')}") from exc
    near = {key: path.parent / value.expanduser() for key, value in settings if isinstance(value, Path)}
    return settings.model_copy(update=near)
