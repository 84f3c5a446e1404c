"""`assistant auth google`: the installed-app OAuth flow, asking only for the enabled tools' scopes.

The redirect listener binds 127.0.0.1 only, and the browser is never opened: the URL is printed, so a
headless machine works through an SSH tunnel to the printed port. The token is then saved by TokenStore
(0600 in a 0700 state directory), without the client secret.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from google_auth_oauthlib.flow import InstalledAppFlow
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from assistant.errors import ConfigError, GoogleAuthRequired
from assistant.servers.google import ClientConfig, TokenStore, calendar_scopes, gmail_scopes
from assistant.servers.settings import CalendarSettings, GmailSettings, GoogleSettings

FlowFactory = Callable[[dict[str, Any], list[str]], Any]

PROMPT = (
    "Open this URL in a browser and allow access:\n\n    {url}\n\n"
    "On a headless machine, first forward the port from the machine with the browser:\n"
    "    ssh -N -L {port}:127.0.0.1:{port} <this machine>\n"
)


def requested_scopes(calendar: CalendarSettings, gmail: GmailSettings) -> list[str]:
    """The union of the enabled servers' scopes, in a stable order."""
    return sorted({*calendar_scopes(calendar), *gmail_scopes(gmail)})


def _installed_app_flow(client: dict[str, Any], scopes: list[str]) -> Any:
    return InstalledAppFlow.from_client_config(client, scopes=scopes)


def authorize(
    google: GoogleSettings,
    calendar: CalendarSettings,
    gmail: GmailSettings,
    *,
    port: int,
    flow_factory: FlowFactory = _installed_app_flow,
) -> Path:
    """Run the consent flow and save the token; returns the token's path."""
    scopes = requested_scopes(calendar, gmail)
    if not scopes:
        raise ConfigError("[calendar] and [gmail] are both disabled: there is nothing to authorize")
    client = ClientConfig.load(google)
    flow = flow_factory(client.as_flow_config(), scopes)
    try:
        credentials = flow.run_local_server(
            host="localhost",
            bind_addr="127.0.0.1",
            port=port,
            open_browser=False,
            authorization_prompt_message=PROMPT.replace("{port}", str(port or "<port in the URL>")),
            success_message="Variet is authorized. You can close this tab.",
            access_type="offline",
            prompt="consent",
        )
    except (OSError, ValueError, AttributeError, Warning, OAuth2Error) as exc:
        # OSError: the port is taken; AttributeError: WSGITimeoutError; Warning: oauthlib's "scope has
        # changed"; OAuth2Error: Google refused (denied consent, state mismatch, bad client).
        raise GoogleAuthRequired(f"Google authorization failed: {type(exc).__name__}: {exc}") from exc
    granted = set(credentials.scopes or scopes)
    missing = sorted(set(scopes) - granted)
    if missing:
        raise GoogleAuthRequired(
            f"consent was given without {', '.join(missing)}; run `assistant auth google` again and "
            "tick every box"
        )
    store = TokenStore(google.state_dir)
    store.save(credentials)
    return store.path
