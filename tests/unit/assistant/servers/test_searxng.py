"""The searxng server through a real in-memory MCP client: search, fetch, limits and failures."""

import ipaddress
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fakes.searxng import FakeSearxng
from localhost import free_port
from mcp import Client
from mcp.types import CallToolResult, TextContent

from assistant.servers.results import SOURCE, UNTRUSTED
from assistant.servers.searxng import build_server
from assistant.servers.settings import SearxngSettings
from assistant.servers.ssrf import IPAddress

pytestmark = pytest.mark.anyio

LOOPBACK = [ipaddress.ip_network("127.0.0.1/32")]


def text(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


async def public_resolver(host: str, port: int) -> list[IPAddress]:
    """Names used in these tests: public.test is public, anything.internal is on a private LAN."""
    table = {"public.test": "93.184.216.34", "db.internal": "10.1.2.3", "meta.internal": "169.254.169.254"}
    return [ipaddress.ip_address(table.get(host, "127.0.0.1"))]


@pytest.fixture
async def client(searxng: tuple[FakeSearxng, str], site: str) -> AsyncIterator[Client]:
    settings = SearxngSettings.model_validate(
        {"url": searxng[1], "fetch_allow_networks": ["127.0.0.1/32"], "fetch_max_bytes": 4096}
    )
    async with Client(build_server(settings), raise_exceptions=True) as c:
        yield c


async def call(client: Client, tool: str, **arguments: Any) -> CallToolResult:
    return await client.call_tool(tool, arguments)


async def test_tools_are_annotated_read_only_open_world_and_untrusted(client: Client) -> None:
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {"web_search", "fetch_url"}
    for tool in tools.values():
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is True
        assert tool.annotations.destructive_hint is False
        assert tool.annotations.open_world_hint is True
        assert tool.meta == {UNTRUSTED: True, SOURCE: "web"}
        assert tool.input_schema["additionalProperties"] is False


async def test_unknown_arguments_are_an_error_not_ignored(client: Client) -> None:
    result = await call(client, "web_search", query="x", engines=["google"])
    assert result.is_error and "engines" in text(result) and "Extra inputs are not permitted" in text(result)


async def test_web_search_returns_title_url_snippet_engine(
    client: Client, searxng: tuple[FakeSearxng, str]
) -> None:
    result = await call(client, "web_search", query="tide tables", categories=["news"], page=2)
    assert not result.is_error
    assert result.meta is not None and result.meta[UNTRUSTED] is True
    assert result.structured_content is not None
    first = result.structured_content["results"][0]
    assert first == {
        "title": "Result 0 for tide tables",
        "url": "https://example.org/0?q=tide+tables",
        "snippet": "Snippet 0 about tide tables.",
        "engine": "duckduckgo",
    }
    assert result.structured_content["unresponsive_engines"] == ["wikipedia"]
    assert text(result).startswith('<untrusted-content source="web">')
    asked = searxng[0].queries[-1]
    assert asked["format"] == "json" and asked["categories"] == "news" and asked["pageno"] == "2"


async def test_json_format_disabled_names_the_setting(searxng_json_off: str) -> None:
    settings = SearxngSettings.model_validate({"url": searxng_json_off})
    async with Client(build_server(settings)) as c:
        result = await call(c, "web_search", query="anything")
    assert result.is_error
    assert "HTTP 403" in text(result) and "search.formats" in text(result)


async def test_searxng_down_is_a_clear_error_and_the_server_keeps_running(client: Client) -> None:
    settings = SearxngSettings.model_validate({"url": f"http://127.0.0.1:{free_port()}"})
    async with Client(build_server(settings)) as c:
        first = await call(c, "web_search", query="anything")
        assert first.is_error and "not reachable" in text(first) and "is it running" in text(first)
        second = await call(c, "web_search", query="again")
        assert second.is_error and "not reachable" in text(second)


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        ({"query": ""}, "at least 1 character"),
        ({"query": "x" * 401}, "at most 400 characters"),
        ({"query": "x", "page": 0}, "greater than or equal to 1"),
        ({"query": "x", "time_range": "decade"}, "time_range"),
        ({"query": "x", "categories": ["weapons"]}, "categories"),
        ({"query": "x", "language": "english; drop"}, "language"),
        ({}, "query"),
    ],
)
async def test_bad_search_arguments_are_rejected_clearly(
    client: Client, arguments: dict[str, Any], complaint: str
) -> None:
    result = await client.call_tool("web_search", arguments)
    assert result.is_error
    assert complaint in text(result)


async def test_fetch_turns_html_into_visible_text(client: Client, site: str) -> None:
    result = await call(client, "fetch_url", url=f"{site}/page")
    assert not result.is_error, text(result)
    assert result.meta is not None and result.meta[SOURCE] == "web"
    page = result.structured_content
    assert page is not None
    assert page["title"] == "Tide tables"
    assert "High water at 06:12." in page["text"]
    assert "- one\n- two" in page["text"]
    for hidden in ("alert", "color:red", "ignore previous instructions"):
        assert hidden not in page["text"]


async def test_fetch_caps_size_and_characters(client: Client, site: str) -> None:
    big = (await call(client, "fetch_url", url=f"{site}/big")).structured_content
    assert big is not None and big["truncated"] is True and len(big["text"]) <= 4096
    short = (await call(client, "fetch_url", url=f"{site}/plain", max_chars=100)).structured_content
    assert short is not None and short["text"].startswith("just text")


async def test_fetch_refuses_non_text(client: Client, site: str) -> None:
    result = await call(client, "fetch_url", url=f"{site}/image")
    assert result.is_error and "image/png" in text(result) and "only text" in text(result)


async def test_fetch_reports_http_errors(client: Client, site: str) -> None:
    result = await call(client, "fetch_url", url=f"{site}/missing")
    assert result.is_error and "HTTP 404" in text(result)


async def test_fetch_follows_a_redirect_to_an_allowed_address(client: Client, site: str) -> None:
    result = await call(client, "fetch_url", url=f"{site}/redirect?to={site}/plain")
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    assert result.structured_content["url"] == f"{site}/plain"


async def test_fetch_stops_redirect_loops(client: Client, site: str) -> None:
    result = await call(client, "fetch_url", url=f"{site}/loop")
    assert result.is_error and "more than 5 redirects" in text(result)


@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.1/admin",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/",
        "http://0x7f000002/",
    ],
)
async def test_fetch_refuses_a_redirect_to_a_private_address(client: Client, site: str, target: str) -> None:
    result = await call(client, "fetch_url", url=f"{site}/redirect?to={target}")
    assert result.is_error
    assert "refusing" in text(result) and "address" in text(result)


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://example.org/", "not a url", "http://user:pw@example.org/", "//example.org"],
)
async def test_fetch_rejects_urls_it_cannot_use(client: Client, url: str) -> None:
    result = await call(client, "fetch_url", url=url)
    assert result.is_error
    assert "fetch_url" in text(result) or "valid URL" in text(result)


async def test_default_settings_refuse_loopback(site: str) -> None:
    async with Client(build_server(SearxngSettings())) as c:
        result = await call(c, "fetch_url", url=f"{site}/page")
    assert result.is_error and "loopback" in text(result)


async def test_names_resolving_to_private_addresses_are_refused(site: str) -> None:
    server = build_server(SearxngSettings(), resolver=public_resolver)
    async with Client(server) as c:
        for url, kind in (
            ("http://db.internal/", "private"),
            ("http://meta.internal/latest/meta-data/", "link-local or metadata"),
        ):
            result = await call(c, "fetch_url", url=url)
            assert result.is_error and kind in text(result)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


async def test_fetch_gives_up_at_the_time_cap(silent_port: int) -> None:
    settings = SearxngSettings.model_validate(
        {"fetch_allow_networks": ["127.0.0.1/32"], "fetch_timeout_s": 0.2}
    )
    async with Client(build_server(settings)) as c:
        result = await call(c, "fetch_url", url=f"http://127.0.0.1:{silent_port}/")
        assert result.is_error and "longer than 0.2s" in text(result)


def answering(response: httpx.Response) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: response)


async def test_nulls_and_url_less_entries_from_engines_are_tolerated() -> None:
    body = {
        "query": "q",
        "results": [
            {"url": None, "title": "an answer box", "content": "x", "engine": "wikidata"},
            {"url": "https://example.org/", "title": None, "content": None, "engine": "brave"},
        ],
        "unresponsive_engines": [["bing", "timeout"], "qwant"],
    }
    server = build_server(SearxngSettings(), transport=answering(httpx.Response(200, json=body)))
    async with Client(server) as c:
        result = await call(c, "web_search", query="q")
    assert result.structured_content == {
        "query": "q",
        "results": [{"title": "", "url": "https://example.org/", "snippet": "", "engine": "brave"}],
        "unresponsive_engines": ["bing", "qwant"],
    }


async def test_a_non_json_answer_is_named() -> None:
    page = httpx.Response(200, html="<html>SearXNG</html>")
    async with Client(build_server(SearxngSettings(), transport=answering(page))) as c:
        result = await call(c, "web_search", query="q")
    assert result.is_error and "not its JSON API" in text(result)
