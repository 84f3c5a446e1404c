"""The supervisor against real fake-llama-server processes: health, load failures, stop and its output."""

import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from conftest import FAKE_LLAMA

from swapd.errors import LoadFailed
from swapd.supervisor import Proc, Supervisor

pytestmark = pytest.mark.anyio


def argv(*extra: str) -> Callable[[int], list[str]]:
    return lambda port: [str(FAKE_LLAMA), "--model", "/m/x.gguf", "--port", str(port), *extra]


async def test_start_waits_for_health_then_stop_reaps_and_keeps_output(tmp_path: Path) -> None:
    phases: list[str] = []
    async with httpx.AsyncClient() as client:
        sup = Supervisor(client, health_interval_s=0.02, stop_timeout_s=2)
        await sup.start(argv("--fake-load-s", "0.3"), timeout_s=10, on_phase=phases.append)
        assert sup.state is Proc.RUNNING and phases == ["load", "health"]
        assert (await client.get(f"{sup.url}/health")).status_code == 200
        pid = sup.pid
        assert pid is not None and os.getpgid(pid) == pid, "llama-server leads its own process group"
        await sup.stop()
    assert sup.state is Proc.IDLE and sup.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert any("server is listening" in text for text in sup.ring.tail(10))


async def test_exit_during_load_is_a_load_failure_naming_out_of_memory() -> None:
    async with httpx.AsyncClient() as client:
        sup = Supervisor(client, health_interval_s=0.02, stop_timeout_s=2)
        with pytest.raises(LoadFailed, match=r"ran out of memory while loading \(exit 1\)"):
            await sup.start(argv("--fake-exit-on-load", "1", "--fake-oom"), timeout_s=10, on_phase=print)
        assert sup.state is Proc.IDLE


async def test_hang_during_load_times_out_and_the_child_is_killed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with httpx.AsyncClient() as client:
        sup = Supervisor(client, health_interval_s=0.02, stop_timeout_s=0.5)
        # An ignored signal stays ignored across exec: the child ignores SIGTERM from its first
        # instruction, however slowly it starts, so the supervisor has to escalate to SIGKILL.
        previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            with pytest.raises(LoadFailed, match=r"did not become healthy within 1s"):
                await sup.start(argv("--fake-hang-load"), timeout_s=1, on_phase=lambda phase: None)
        finally:
            signal.signal(signal.SIGTERM, previous)
        assert sup.state is Proc.IDLE and sup.pid is None
        assert "llama.kill" in caplog.text, "SIGTERM was ignored, so the group got SIGKILL"


async def test_missing_binary_is_a_clear_load_failure() -> None:
    async with httpx.AsyncClient() as client:
        sup = Supervisor(client, health_interval_s=0.02, stop_timeout_s=1)
        with pytest.raises(LoadFailed, match="cannot start /nonexistent/llama-server"):
            await sup.start(lambda port: ["/nonexistent/llama-server"], timeout_s=1, on_phase=lambda p: None)
        assert sup.state is Proc.IDLE
