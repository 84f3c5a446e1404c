"""swapd on the real llama-server and the tiny model: swaps under load, rollback, crashes, restarts.

Each tier passes `--alias <tier>`, so the `model` field of every streamed chunk names the
llama-server that really produced it, not just the header swapd adds. One daemon serves the whole
module; each test first puts it in the state it starts from (`Daemon.settle`), so any order works.
"""

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from localhost import free_port, wait_until

from swapd import bundled

pytestmark = pytest.mark.integration
CLIENTS = 16


@dataclass
class Daemon:
    config: Path
    url: str
    socket: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.config.parent / "swapd.log", "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            [sys.executable, "-m", "swapd", "serve", "--config", str(self.config)], stdout=log, stderr=log
        )
        log.close()
        process = self.process
        wait_until(lambda: self.socket.exists() or process.poll() is not None, 20, "the control socket")
        assert process.poll() is None, (self.config.parent / "swapd.log").read_text()[-2000:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)

    def control(self) -> httpx.Client:
        return httpx.Client(
            transport=httpx.HTTPTransport(uds=str(self.socket)), base_url="http://swapd", timeout=60
        )

    def status(self) -> dict[str, Any]:
        with self.control() as client:
            data: dict[str, Any] = client.get("/swapd/status").json()
            return data

    def settle(self, tier: str) -> dict[str, Any]:
        """A test's starting point: swapd running, nothing pinned, `tier` ready (swapped to if need be)."""
        if self.process is None or self.process.poll() is not None:
            self.start()
        with self.control() as client:
            assert client.post("/swapd/unpin", json={}).status_code == 200
        wait_until(lambda: self.status()["state"] in ("ready", "failed"), 60, "a settled tier")
        if self.status()["tier"] != tier:
            assert self.swap(tier)["ok"] is True
        return self.wait_ready(tier)

    def wait_ready(self, tier: str) -> dict[str, Any]:
        wait_until(
            lambda: (s := self.status())["tier"] == tier and s["state"] == "ready", 60, f"{tier} ready"
        )
        return self.status()

    def swap(self, tier: str, **body: object) -> dict[str, Any]:
        """POST a swap and follow the event stream until it ends; returns the `swap` event."""
        with self.control() as client, client.stream("GET", "/swapd/events") as events:
            lines = events.iter_lines()
            next(lines)
            assert client.post("/swapd/swap", json={"tier": tier, **body}).status_code == 202
            kind = ""
            for line in lines:
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "swap":
                    event: dict[str, Any] = json.loads(line[6:])
                    if event["to"] == tier:
                        return event
        raise AssertionError("the event stream ended before the swap did")

    def llama_pid(self) -> int:
        with self.control() as client:
            lines = client.get("/swapd/logs", params={"tail": 2000}).json()["lines"]
        return int(
            [m.group(1) for text in lines if (m := re.match(r"--- swapd: started pid (\d+)", text))][-1]
        )


def tier(name: str, ctx: int, parallel: int, model: str = "bundled:tiny") -> str:
    return (
        f'[[tiers]]\nname = "{name}"\nmodel = "{model}"\nctx_size = {ctx}\nparallel = {parallel}\n'
        f'args = ["--alias", "{name}", "--threads", "1", "--no-webui"]\nload_timeout_s = 60\n'
    )


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    bundled.llama_server()  # a clear "run make setup" when it is missing
    tmp = tmp_path_factory.mktemp("swapd-real")
    port = free_port()
    config = tmp / "swapd.toml"
    config.write_text(
        f'listen = "127.0.0.1"\nport = {port}\ncontrol_socket = "control.sock"\nstate_dir = "state"\n'
        'llama_server = "bundled"\nmax_queue = 64\n[gpu]\nbackend = "none"\n'
        + tier("fast", 4096, 4)
        + tier("deep", 2048, 4)
        + tier("broken", 1024, 1, model=str(tmp / "missing.gguf"))
    )
    d = Daemon(config, f"http://127.0.0.1:{port}", tmp / "control.sock")
    d.start()
    try:
        d.wait_ready("fast")
        yield d
    finally:
        d.stop()


def stream_chat(url: str, model: str | None) -> tuple[str, list[str], str]:
    """One streamed chat; returns the X-Swapd-Tier header, the chunk `model` fields and the last line."""
    body: dict[str, object] = {
        "messages": [{"role": "user", "content": "Count from one to twenty."}],
        "max_tokens": 8,
        "stream": True,
    }
    if model:
        body["model"] = model
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=120) as reply:
        assert reply.status_code == 200, reply.read()
        lines = [line for line in reply.iter_lines() if line.startswith("data: ")]
        models = [json.loads(line[6:])["model"] for line in lines[:-1]]
        return reply.headers["x-swapd-tier"], models, lines[-1]


def test_swap_while_16_clients_stream_loses_nothing(daemon: Daemon) -> None:
    daemon.settle("fast")
    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(stream_chat, daemon.url, None) for _ in range(CLIENTS)]
        wait_until(lambda: daemon.status()["in_flight"].get("fast", 0) > 0, 30, "streams in flight")
        swapped = daemon.swap("deep")
        results = [f.result() for f in futures]
    assert swapped["ok"] is True and set(swapped["phases"]) >= {"drain", "stop", "load", "health"}
    assert len(results) == CLIENTS
    for header, models, last in results:
        assert last == "data: [DONE]"
        assert header in ("fast", "deep")
        assert set(models) == {header}, "every chunk came from the tier named in the header"
    served = [header for header, _, _ in results]
    assert "fast" in served, "requests in flight when the swap began finished on the old tier"
    assert daemon.status()["tier"] == "deep"


def test_policy_on_demand_and_pin(daemon: Daemon) -> None:
    daemon.settle("deep")
    header, models, _ = stream_chat(daemon.url, "fast")
    assert (header, set(models)) == ("fast", {"fast"})
    try:
        with daemon.control() as client:
            assert client.post("/swapd/pin", json={"tier": "fast"}).status_code == 202
        header, models, _ = stream_chat(daemon.url, "deep")
        assert (header, set(models)) == ("fast", {"fast"}), "pinned: a request naming deep is served by fast"
    finally:
        with daemon.control() as client:
            client.post("/swapd/unpin", json={})


def test_failed_load_rolls_back_to_the_previous_tier(daemon: Daemon) -> None:
    before = daemon.settle("fast")
    failed = daemon.swap("broken")
    assert failed["ok"] is False and "exited with" in failed["error"]
    daemon.wait_ready("fast")
    header, _, last = stream_chat(daemon.url, None)
    assert (header, last) == ("fast", "data: [DONE]")
    assert before["tier"] == daemon.status()["tier"]


def test_sigkilled_llama_server_is_restarted(daemon: Daemon) -> None:
    daemon.settle("fast")
    victim = daemon.llama_pid()
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: daemon.llama_pid() != victim, 30, "a new llama-server")
    daemon.wait_ready("fast")
    header, _, last = stream_chat(daemon.url, None)
    assert (header, last) == ("fast", "data: [DONE]")


def test_restarted_swapd_comes_back_on_the_persisted_tier(daemon: Daemon) -> None:
    daemon.settle("fast")
    assert daemon.swap("deep")["ok"] is True
    daemon.stop()
    daemon.start()
    status = daemon.wait_ready("deep")
    assert status["last_swap"]["from"] is None, "it booted straight into deep"
    header, _, _ = stream_chat(daemon.url, None)
    assert header == "deep"


def test_issue_13_a_swap_waits_for_a_stream_that_is_still_producing(daemon: Daemon) -> None:
    daemon.settle("fast")
    body = {
        "messages": [{"role": "user", "content": "Write a long story about a lighthouse."}],
        "max_tokens": 900,
        "ignore_eos": True,  # llama-server's own option: produce all 900 tokens
        "stream": True,
    }
    with httpx.stream("POST", f"{daemon.url}/v1/chat/completions", json=body, timeout=300) as reply:
        data = (line for line in reply.iter_lines() if line.startswith("data: "))
        next(data)  # it is producing tokens
        with daemon.control() as client:
            accepted = client.post("/swapd/swap", json={"tier": "deep"})
        assert accepted.json()["state"] == "draining"
        rest = list(data)
    chunks = [json.loads(line[6:]) for line in rest[:-1]]
    assert rest[-1] == "data: [DONE]"
    assert not any("error" in chunk for chunk in chunks), "the stream was cancelled"
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "length"
    assert {c["model"] for c in chunks} == {"fast"}
    daemon.wait_ready("deep")
    with daemon.control() as client:
        last = client.get("/swapd/history").json()["swaps"][-1]
    assert (last["from"], last["to"], last["ok"]) == ("fast", "deep", True)
    assert "requests.cancelled" not in (daemon.config.parent / "swapd.log").read_text()
