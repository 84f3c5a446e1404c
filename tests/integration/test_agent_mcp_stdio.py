"""The MCP client manager over real stdio: per-server env, routing, a server dying mid-call, timeouts."""

import asyncio
import sys
from pathlib import Path

import pytest

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
