"""The MCP client manager on real servers: our searxng over stdio and HTTP, crashes, restarts, timeouts."""

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from agent_rig import ScriptedConfirm, agent_for, collect
from fakes import openai_server as oa
from fakes.openai_server import FakeOpenAI, serving
from fakes.searxng import FakeSearxng, serve
from localhost import free_port, wait_until

from assistant.agent import Final, ToolCallFinished
from assistant.config import McpServerSettings, McpSettings
from assistant.errors import ToolFailed
from assistant.mcp_client import ToolServers

pytestmark = pytest.mark.integration

PROBE = Path(__file__).parents[1] / "mcp_stdio_server.py"


def settings(tmp_path: Path, **server: object) -> McpSettings:
    probe = McpServerSettings(
        command=(sys.executable, str(PROBE)),
        env={"PROBE_GREETING": "hi"},
        call_timeout_s=2,
        **server,  # type: ignore[arg-type]
    )
    return McpSettings(servers={"probe": probe}, log_dir=tmp_path)


def test_a_stdio_server_dying_mid_call_is_reported_and_restarted(tmp_path: Path) -> None:
    async def go() -> tuple[str, str, str, str]:
        async with ToolServers.started(settings(tmp_path)) as tools:
            names = [spec.name for spec in tools.specs()]
            assert names == ["probe__die", "probe__echo", "probe__hang"]
            before = (await tools.call("probe__echo", {"text": "one"})).text
            with pytest.raises(ToolFailed) as died:
                await tools.call("probe__die", {})
            after = (await tools.call("probe__echo", {"text": "two"})).text
            (state,) = tools.states()
            return before, str(died.value), after, f"{state.running} {state.restarts}"

    before, died, after, state = asyncio.run(go())
    assert before.startswith("one from ") and before.endswith("env=hi")
    assert died == "tool server 'probe' stopped during the call; it is being restarted"
    assert after.startswith("two from ")
    assert before.split()[2] != after.split()[2], "the restarted server is a new process"
    assert state == "True 1"


def test_a_call_that_never_answers_times_out_and_the_server_stays_up(tmp_path: Path) -> None:
    async def go() -> tuple[str, str]:
        async with ToolServers.started(settings(tmp_path)) as tools:
            with pytest.raises(ToolFailed) as slow:
                await tools.call("probe__hang", {})
            return str(slow.value), (await tools.call("probe__echo", {"text": "still"})).text

    slow, still = asyncio.run(go())
    assert slow == "probe__hang did not answer within 2s"
    assert still.startswith("still from ")


def test_a_server_that_cannot_start_is_reported_not_raised(tmp_path: Path) -> None:
    missing = McpSettings(servers={"gone": McpServerSettings(command=(str(tmp_path / "no-such-binary"),))})

    async def go() -> tuple[list[str], str | None]:
        async with ToolServers.started(missing) as tools:
            with pytest.raises(ToolFailed, match="no tool named 'gone__x'"):
                await tools.call("gone__x", {})
            (state,) = tools.states()
            return [s.name for s in tools.specs()], state.error

    specs, error = asyncio.run(go())
    assert specs == []
    assert error is not None and "No such file" in error


ASSISTANT = str(Path(sys.executable).with_name("assistant"))


def test_the_loop_round_trips_through_the_projects_searxng_server_over_stdio(tmp_path: Path) -> None:
    """`assistant mcp searxng` (real, over stdio) on the fake SearXNG; the model is the scripted fake."""
    with serve(FakeSearxng().app()) as searxng, serving(FakeOpenAI()) as llm:
        config = tmp_path / "assistant.toml"
        config.write_text(f'[searxng]\nurl = "{searxng}"\n')
        servers = McpSettings(
            servers={
                "searxng": McpServerSettings(command=(ASSISTANT, "mcp", "searxng", "--config", str(config)))
            }
        )
        llm.script(
            oa.tool_calls(("searxng__web_search", json.dumps({"query": "variet"}))),
            oa.tool_calls(("searxng__fetch_url", json.dumps({"url": "https://example.org/0?q=variet"}))),
            oa.text("Here is what I found."),
        )
        confirm = ScriptedConfirm(answers=[False])

        async def go() -> list[object]:
            async with agent_for(llm.url, confirm, servers=servers) as agent:
                return list(await collect(agent, "search the web for variet"))

        events = asyncio.run(go())
    search, fetch = [e for e in events if isinstance(e, ToolCallFinished)]
    assert search.ok and search.untrusted
    assert "Result 0 for variet" in search.output
    assert search.output.startswith('<untrusted-content source="web via tool searxng__web_search">')
    # Web content is now in the conversation: fetching a URL is outbound and must be confirmed.
    assert [r.tool for r in confirm.asked] == ["searxng__fetch_url"]
    assert "untrusted content" in confirm.asked[0].reason
    assert not fetch.ok and "did not approve" in fetch.output
    assert isinstance(events[-1], Final)


def listening(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
    except httpx.TransportError:
        return False
    return True


def test_a_streamable_http_server_is_reached_by_url(tmp_path: Path) -> None:
    with serve(FakeSearxng().app()) as searxng:
        config = tmp_path / "assistant.toml"
        config.write_text(f'[searxng]\nurl = "{searxng}"\n')
        port = free_port()
        command = [
            ASSISTANT,
            "mcp",
            "searxng",
            "--config",
            str(config),
            "--transport",
            "http",
            "--port",
            str(port),
        ]
        process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: listening(port), timeout=30, what="the searxng server's HTTP port")
            web = McpServerSettings(url=f"http://127.0.0.1:{port}/mcp")  # type: ignore[arg-type]

            async def go() -> tuple[list[str], str]:
                async with ToolServers.started(McpSettings(servers={"web": web})) as tools:
                    found = await tools.call("web__web_search", {"query": "over http"})
                    return [s.name for s in tools.specs()], found.text

            names, found = asyncio.run(go())
        finally:
            process.terminate()
            process.wait(timeout=30)
    assert names == ["web__fetch_url", "web__web_search"]
    assert "Result 0 for over http" in found
