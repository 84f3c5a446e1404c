"""The CLI around the servers: refusals before starting, and logs that carry no query or mail text."""

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes import google_api as g
from fakes.searxng import FakeSearxng
from google.oauth2.credentials import Credentials
from mcp import Client

from assistant.__main__ import main
from assistant.servers.cli import configure_logging
from assistant.servers.gmail import build_server
from assistant.servers.searxng import build_server as searxng_server
from assistant.servers.settings import GmailSettings, GoogleSettings, SearxngSettings

SENTINEL = "SENTINEL-7f3a"


@pytest.fixture
def quiet_levels() -> Iterator[None]:
    names = ("httpx", "googleapiclient.discovery", "mcp")
    before = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in before.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize("name", ["calendar", "gmail"])
def test_a_disabled_server_refuses_to_start(tmp_path: Path, name: str) -> None:
    config = tmp_path / "assistant.toml"
    config.write_text(f"[{name}]\nenabled = false\n")
    result = CliRunner().invoke(main, ["mcp", name, "--config", str(config)])
    assert result.exit_code == 1
    assert f"[{name}] enabled = false" in result.output


def test_auth_with_nothing_enabled_says_so(tmp_path: Path) -> None:
    config = tmp_path / "assistant.toml"
    config.write_text("[calendar]\nenabled = false\n[gmail]\nenabled = false\n")
    result = CliRunner().invoke(main, ["auth", "google", "--config", str(config)])
    assert result.exit_code == 1
    assert "nothing to authorize" in result.output


@pytest.mark.anyio
async def test_no_query_or_mail_text_reaches_the_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, quiet_levels: None
) -> None:
    configure_logging()
    caplog.set_level(logging.INFO)
    http = g.mock(
        g.message_list(("m1", "t1")),
        g.ok(g.message("m1", "t1", f"Subject {SENTINEL}", plain=f"Body {SENTINEL}")),
        g.ok(g.message("m1", "t1", f"Subject {SENTINEL}", plain=f"Body {SENTINEL}")),
        g.not_found(),
    )
    server = build_server(
        GmailSettings(),
        GoogleSettings(state_dir=tmp_path),
        credentials=lambda: Credentials(token="ya29.test"),  # type: ignore[no-untyped-call]
        http=lambda: http,
    )
    async with Client(server) as client:
        found = await client.call_tool("search_messages", {"q": f"from:{SENTINEL}"})
        read = await client.call_tool("get_message", {"message_id": "m1"})
        missing = await client.call_tool("get_message", {"message_id": "m2"})
    assert SENTINEL in str(found.structured_content) and SENTINEL in str(read.structured_content)
    assert missing.is_error
    assert caplog.records, "the server logged nothing at all, so this test proves nothing"
    assert SENTINEL not in caplog.text


@pytest.mark.anyio
async def test_no_search_query_reaches_the_logs(
    searxng: tuple[FakeSearxng, str], caplog: pytest.LogCaptureFixture, quiet_levels: None
) -> None:
    configure_logging()
    caplog.set_level(logging.INFO)
    settings = SearxngSettings.model_validate({"url": searxng[1]})
    async with Client(searxng_server(settings)) as client:
        found = await client.call_tool("web_search", {"query": f"where is {SENTINEL}"})
        bad = await client.call_tool("web_search", {"query": SENTINEL * 100})
        # Issue 13: the MCP SDK logged a tool error's text (here the URL) at INFO.
        refused = await client.call_tool("fetch_url", {"url": f"ftp://{SENTINEL}.example/"})
    assert not found.is_error and bad.is_error and refused.is_error
    assert searxng[0].queries[-1]["q"] == f"where is {SENTINEL}"
    assert "tool.failed tool=fetch_url error=ToolInputInvalid" in caplog.messages
    assert SENTINEL not in caplog.text
