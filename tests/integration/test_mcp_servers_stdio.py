"""Each tool server as its console script (`assistant mcp ...`) behind a real MCP client over stdio, and
the searxng server once over streamable HTTP on loopback."""

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fakes.searxng import FakeSearxng, serve
from localhost import free_port, wait_until
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, TextContent

from assistant.config import McpServerSettings, McpSettings
from assistant.mcp_client import ToolServers

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

ASSISTANT = str(Path(sys.executable).with_name("assistant"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def searxng_url() -> Iterator[str]:
    with serve(FakeSearxng().app()) as url:
        yield url


def text(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


@asynccontextmanager
async def stdio(name: str, config: Path) -> AsyncIterator[Client]:
    params = StdioServerParameters(command=ASSISTANT, args=["mcp", name, "--config", str(config)])
    async with Client(params, read_timeout_seconds=30) as client:
        yield client


async def test_searxng_over_stdio(tmp_path: Path, searxng_url: str) -> None:
    config = tmp_path / "assistant.toml"
    config.write_text(f'[searxng]\nurl = "{searxng_url}"\n')
    async with stdio("searxng", config) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        found = await client.call_tool("web_search", {"query": "stdio"})
        refused = await client.call_tool("fetch_url", {"url": f"{searxng_url}/search"})
        again = await client.call_tool("web_search", {"query": "still up"})
    assert names == {"web_search", "fetch_url"}
    assert not found.is_error and found.structured_content is not None
    assert found.structured_content["results"][0]["title"] == "Result 0 for stdio"
    assert found.meta is not None and found.meta["variet/untrusted"] is True
    assert refused.is_error and "loopback" in text(refused)
    assert not again.is_error


@pytest.mark.parametrize(("name", "tool"), [("calendar", "list_calendars"), ("gmail", "list_labels")])
async def test_google_servers_over_stdio_name_the_fix_without_a_token(
    tmp_path: Path, name: str, tool: str
) -> None:
    secret = tmp_path / "client.json"
    secret.write_text('{"installed": {"client_id": "id.apps.googleusercontent.com", "client_secret": "x"}}')
    secret.chmod(0o600)
    config = tmp_path / "assistant.toml"
    config.write_text(f'[google]\nclient_secret_file = "{secret}"\nstate_dir = "{tmp_path / "state"}"\n')
    async with stdio(name, config) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        result = await client.call_tool(tool, {})
        bad = await client.call_tool(
            tool.replace("list_calendars", "get_event").replace("list_labels", "get_message"), {}
        )
    assert tool in names
    assert result.is_error and "no Google token" in text(result) and "`assistant auth google`" in text(result)
    assert bad.is_error  # a missing id is refused by the schema; the server is still answering


async def test_issue_13_tool_errors_reach_the_server_log_without_urls_or_addresses(
    tmp_path: Path, searxng_url: str
) -> None:
    sentinel = "variet-sentinel-4821"
    config = tmp_path / "assistant.toml"
    config.write_text(
        f'[searxng]\nurl = "{searxng_url}"\n'
        f'[google]\nstate_dir = "{tmp_path / "state"}"\n'
        '[gmail]\nread_only = false\nallowed_recipients = ["ann@example.com"]\n'
    )
    servers = {
        name: McpServerSettings(command=(ASSISTANT, "mcp", name, "--config", str(config)))
        for name in ("searxng", "gmail")
    }
    logs = tmp_path / "logs"
    async with ToolServers.started(McpSettings(servers=servers, log_dir=logs)) as tools:
        fetched = await tools.call("searxng__fetch_url", {"url": f"ftp://{sentinel}.example/q?{sentinel}"})
        drafted = await tools.call(
            "gmail__create_draft", {"to": [f"{sentinel}@evil.example"], "subject": "Hi", "body": "b"}
        )
    assert fetched.is_error and sentinel in fetched.text  # the model is told what was wrong
    assert drafted.is_error and sentinel in drafted.text
    searxng_log = (logs / "mcp-searxng.log").read_text()
    gmail_log = (logs / "mcp-gmail.log").read_text()
    assert "tool.failed tool=fetch_url error=ToolInputInvalid" in searxng_log
    assert "tool.failed tool=create_draft error=RecipientNotAllowed" in gmail_log
    assert sentinel not in searxng_log + gmail_log


def test_a_bad_config_fails_fast_with_the_field(tmp_path: Path) -> None:
    config = tmp_path / "assistant.toml"
    config.write_text("[gmail]\nsend = true\n")
    done = subprocess.run(
        [ASSISTANT, "mcp", "gmail", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "gmail.send and gmail.labels need gmail.read_only = false" in done.stderr


@pytest.fixture
def http_port(tmp_path: Path, searxng_url: str) -> Iterator[int]:
    """`assistant mcp searxng --transport http` running on a free loopback port."""
    config = tmp_path / "assistant.toml"
    config.write_text(f'[searxng]\nurl = "{searxng_url}"\n')
    port = free_port()
    process = subprocess.Popen(
        [ASSISTANT, "mcp", "searxng", "--config", str(config), "--transport", "http", "--port", str(port)],
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _listening(port), timeout=30, what="the searxng server's HTTP port")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


async def test_searxng_over_http_on_loopback_only(http_port: int) -> None:
    async with Client(f"http://127.0.0.1:{http_port}/mcp") as client:
        found = await client.call_tool("web_search", {"query": "http"})
    assert not found.is_error
    async with httpx.AsyncClient() as http:
        rebinding = await http.post(
            f"http://127.0.0.1:{http_port}/mcp", headers={"Host": "evil.example"}, json={}
        )
    assert rebinding.status_code in {403, 421}


def _listening(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
    except httpx.TransportError:
        return False
    return True
