"""A real llama-server on the tiny model, started for a test and always stopped and reaped."""

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from localhost import free_port, wait_until

from swapd import bundled


@dataclass(frozen=True)
class RunningLlama:
    url: str
    process: subprocess.Popen[bytes]


def command(port: int, *extra: str, model: Path | None = None) -> list[str]:
    return [
        str(bundled.llama_server()),
        "--model", str(model or bundled.tiny_model()),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--ctx-size", "2048",
        "--threads", "2",
        "--no-webui",
        *extra,
    ]  # fmt: skip


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def running_llama(*extra: str, log: Path | None = None) -> Iterator[RunningLlama]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        command(port, *extra), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_until(lambda: healthy(url) or proc.poll() is not None, timeout=60, what="llama-server /health")
        if proc.poll() is not None:
            raise RuntimeError(f"llama-server exited with {proc.returncode} before becoming healthy")
        yield RunningLlama(url, proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if log:
            out.close()  # type: ignore[union-attr]
