"""`assistant mcp searxng|calendar|gmail` and `assistant auth google`, added to the main CLI group.

A server reads only its own sections of `--config` (defaults without it), speaks MCP on stdio, or on
streamable HTTP bound to 127.0.0.1 (the SDK then also checks Host and Origin against DNS rebinding).
Logs go to stderr, never stdout (the stdio protocol), and never carry queries, URLs or mail text.
"""

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn

import click

from assistant.errors import AssistantError
from assistant.servers.settings import (
    CalendarSettings,
    GmailSettings,
    GoogleSettings,
    SearxngSettings,
    load_section,
)

if TYPE_CHECKING:
    from mcp.server import MCPServer

Transport = Literal["stdio", "http"]
LOOPBACK = "127.0.0.1"

_config = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="assistant.toml; only this server's sections are read (default: built-in defaults).",
)
_transport = click.option(
    "--transport",
    type=click.Choice(["stdio", "http"]),
    default="stdio",
    show_default=True,
    help="stdio for a client that starts the server; http for streamable HTTP on 127.0.0.1.",
)


def _port(default: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--port", type=click.IntRange(1, 65535), default=default, show_default=True, help="HTTP port."
    )


def _fail(exc: AssistantError) -> NoReturn:
    click.echo(f"assistant: {exc}", err=True)
    sys.exit(1)


def _enabled(enabled: bool, name: str) -> None:
    if not enabled:
        raise AssistantError(f"[{name}] enabled = false; not starting the {name} server")


def configure_logging() -> None:
    """INFO to stderr, except from libraries that log what the user asked for at INFO.

    httpx and googleapiclient log request URLs (a URL can hold a search query); the MCP SDK's server
    logs each tool error's text (URLs, mail addresses). `tool.failed` in `tools.py` says which tool
    failed and how, without the text.
    """
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    for noisy in ("httpx", "googleapiclient.discovery", "mcp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _serve(build: Callable[[], "MCPServer[Any]"], transport: Transport, port: int) -> None:
    configure_logging()
    try:
        server = build()
    except AssistantError as exc:
        _fail(exc)
    if transport == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host=LOOPBACK, port=port)


@click.group()
def mcp() -> None:
    """Run one MCP tool server (stdio by default).

    Example: assistant mcp gmail --config /etc/variet/assistant.toml
    """


@mcp.command()
@_config
@_transport
@_port(8701)
def searxng(config_path: Path | None, transport: Transport, port: int) -> None:
    """Web search through SearXNG, and fetch_url for public pages.

    Example: assistant mcp searxng --config assistant.toml --transport http --port 8701
    """
    from assistant.servers import searxng as server

    def build() -> "MCPServer[Any]":
        return server.build_server(load_section(config_path, "searxng", SearxngSettings))

    _serve(build, transport, port)


@mcp.command()
@_config
@_transport
@_port(8702)
def calendar(config_path: Path | None, transport: Transport, port: int) -> None:
    """Google Calendar: events, free time and (unless read_only) event changes.

    Example: assistant mcp calendar --config assistant.toml
    """
    from assistant.servers import calendar as server

    def build() -> "MCPServer[Any]":
        settings = load_section(config_path, "calendar", CalendarSettings)
        _enabled(settings.enabled, "calendar")
        return server.build_server(settings, load_section(config_path, "google", GoogleSettings))

    _serve(build, transport, port)


@mcp.command()
@_config
@_transport
@_port(8703)
def gmail(config_path: Path | None, transport: Transport, port: int) -> None:
    """Gmail: read-only unless [gmail] opts into drafts, sending or labels.

    Example: assistant mcp gmail --config assistant.toml
    """
    from assistant.servers import gmail as server

    def build() -> "MCPServer[Any]":
        settings = load_section(config_path, "gmail", GmailSettings)
        _enabled(settings.enabled, "gmail")
        return server.build_server(settings, load_section(config_path, "google", GoogleSettings))

    _serve(build, transport, port)


@click.group()
def auth() -> None:
    """Authorize access to outside accounts.

    Example: assistant auth google --config /etc/variet/assistant.toml
    """


@auth.command()
@_config
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8765,
    show_default=True,
    help="Loopback port for Google's redirect (forward it over SSH on a headless machine).",
)
def google(config_path: Path | None, port: int) -> None:
    """Sign in to Google for the enabled calendar and gmail tools, and save the token.

    Asks only for the scopes that [calendar] and [gmail] need; run it again after changing them.

    Example: assistant auth google --config ~/.config/variet/assistant.toml
    """
    from assistant.servers.google_auth import authorize, requested_scopes

    try:
        google_settings = load_section(config_path, "google", GoogleSettings)
        calendar_settings = load_section(config_path, "calendar", CalendarSettings)
        gmail_settings = load_section(config_path, "gmail", GmailSettings)
        scopes = requested_scopes(calendar_settings, gmail_settings)
        click.echo("Requesting: " + ", ".join(s.rsplit("/", 1)[1] for s in scopes), err=True)
        path = authorize(google_settings, calendar_settings, gmail_settings, port=port)
    except AssistantError as exc:
        _fail(exc)
    click.echo(f"saved the Google token to {path}")
