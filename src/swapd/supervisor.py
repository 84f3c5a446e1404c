"""One llama-server child: spawn in its own process group, poll /health, stop, and keep its output.

Only this module knows the child's PID and process state. The swap driver asks it to `start` and
`stop`; it never branches on a state it has read.
"""

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from enum import Enum

import httpx

from swapd.errors import IllegalTransition, LoadFailed
from swapd.logs import line

log = logging.getLogger(__name__)
RING_LINES = 2000
# Substrings of llama-server's log that mean the load ran out of memory (CUDA or host).
OOM_MARKERS = ("out of memory", "failed to allocate", "cudaMalloc failed", "unable to allocate")


class Proc(Enum):
    IDLE = "idle"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"


TRANSITIONS: dict[Proc, frozenset[Proc]] = {
    Proc.IDLE: frozenset({Proc.STARTING}),
    Proc.STARTING: frozenset({Proc.RUNNING, Proc.STOPPING}),
    Proc.RUNNING: frozenset({Proc.STOPPING}),
    Proc.STOPPING: frozenset({Proc.IDLE}),
}


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OutputRing:
    """The last lines of llama-server's output, with a counter so followers can wait for new ones."""

    def __init__(self, size: int = RING_LINES) -> None:
        self._lines: deque[str] = deque(maxlen=size)
        self._count = 0
        self._changed = asyncio.Condition()

    async def append(self, text: str) -> None:
        async with self._changed:
            self._lines.append(text)
            self._count += 1
            self._changed.notify_all()

    def _newer_than(self, seen: int) -> bool:
        return self._count > seen

    def tail(self, n: int) -> list[str]:
        return list(self._lines)[-n:] if n > 0 else []

    async def follow(self, n: int) -> AsyncIterator[str]:
        """The last n lines, then every new line as it arrives."""
        seen = self._count - min(n, len(self._lines))
        while True:
            async with self._changed:
                await self._changed.wait_for(functools.partial(self._newer_than, seen))
                fresh = min(self._count - seen, len(self._lines))
                batch = list(self._lines)[-fresh:]
                seen = self._count
            for text in batch:
                yield text


class Supervisor:
    """Owns at most one llama-server process at a time."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        health_interval_s: float,
        stop_timeout_s: float,
        logs_command: str = "swapctl logs",
    ) -> None:
        self._client = client
        self._logs_command = logs_command  # where the operator reads this child's output, for messages
        self._health_interval_s = health_interval_s
        self._stop_timeout_s = stop_timeout_s
        self.ring = OutputRing()
        self.state = Proc.IDLE
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self.url = ""

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _move(self, to: Proc) -> None:
        if to not in TRANSITIONS[self.state]:
            raise IllegalTransition(f"supervisor: {self.state.value} -> {to.value} is not allowed")
        self.state = to

    async def start(
        self,
        argv_for: Callable[[int], list[str]],
        *,
        timeout_s: float,
        on_phase: Callable[[str], None],
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Spawn llama-server (with `env` added to ours) and wait for /health 200; LoadFailed (after
        cleanup) on exit or timeout."""
        self._move(Proc.STARTING)
        port = free_loopback_port()
        argv = argv_for(port)
        self.url = f"http://127.0.0.1:{port}"
        on_phase("load")
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                limit=1 << 20,
                env={**os.environ, **env} if env else None,
            )
        except OSError as exc:
            self._move(Proc.STOPPING)
            self._move(Proc.IDLE)
            raise LoadFailed(f"cannot start {argv[0]}: {exc.strerror}") from exc
        await self.ring.append(f"--- swapd: started pid {self._proc.pid}: {' '.join(argv)}")
        self._reader = asyncio.create_task(self._read_output(self._proc))
        try:
            async with asyncio.timeout(timeout_s):
                await self._wait_healthy(on_phase)
        except TimeoutError:
            await self.stop()
            raise LoadFailed(f"llama-server did not become healthy within {timeout_s:g}s") from None
        except BaseException:
            await self.stop()
            raise
        self._move(Proc.RUNNING)

    async def _wait_healthy(self, on_phase: Callable[[str], None]) -> None:
        assert self._proc is not None
        answered = False
        while True:
            if self._proc.returncode is not None or (self._reader is not None and self._reader.done()):
                await self._proc.wait()
                raise LoadFailed(self._exit_reason(self._proc.returncode))
            try:
                reply = await self._client.get(f"{self.url}/health", timeout=1.0)
                if not answered:
                    answered = True
                    on_phase("health")
                if reply.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(self._health_interval_s)

    def _exit_reason(self, code: int | None) -> str:
        recent = " ".join(self.ring.tail(40)).lower()
        if any(marker.lower() in recent for marker in OOM_MARKERS):
            return f"llama-server ran out of memory while loading (exit {code}); see `{self._logs_command}`"
        return f"llama-server exited with {code} while loading; see `{self._logs_command}`"

    async def _read_output(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while raw := await proc.stdout.readline():
            await self.ring.append(raw.decode("utf-8", "replace").rstrip("\n"))
        await proc.wait()

    async def wait_exit(self) -> str:
        """Wait until the running child exits on its own; returns why, for the crash report."""
        assert self._reader is not None and self._proc is not None
        await asyncio.shield(self._reader)
        return f"llama-server exited with {self._proc.returncode}"

    async def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after the stop timeout, and always reap."""
        if self.state is Proc.IDLE:
            return
        self._move(Proc.STOPPING)
        proc, reader = self._proc, self._reader
        try:
            if proc is not None:
                started = time.monotonic()
                self._signal(proc.pid, signal.SIGTERM)
                try:
                    async with asyncio.timeout(self._stop_timeout_s):
                        await proc.wait()
                except TimeoutError:
                    log.warning(line("llama.kill", pid=proc.pid, after_s=self._stop_timeout_s))
                    self._signal(proc.pid, signal.SIGKILL)
                    await proc.wait()
                self._signal(proc.pid, signal.SIGKILL)  # stragglers left in the group
                log.info(
                    line(
                        "llama.stopped", pid=proc.pid, code=proc.returncode, took_s=time.monotonic() - started
                    )
                )
            if reader is not None:
                reader.cancel()
                await asyncio.wait([reader])
        finally:
            self._proc = None
            self._reader = None
            self._move(Proc.IDLE)

    @staticmethod
    def _signal(pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
