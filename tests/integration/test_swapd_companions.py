"""A companion on the real llama-server: `/infill` through swapd while a tier swap is in progress.

The companion runs a copy of the tiny model whose metadata declares FIM tokens (`fim_model.py`); the
tier runs the tiny model itself, which llama-server refuses `/infill` for (501). The swap that stays in
progress is a real one: its tier's model file is a FIFO, so its llama-server waits in its model load
until swapd stops it.
"""

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fim_model import make_fim_copy
from localhost import free_port, wait_until

from swapd import bundled

pytestmark = pytest.mark.integration
INFILL = {
    "input_prefix": "def add(a, b):\n    return ",
    "input_suffix": "\n\nprint(add(1, 2))\n",
    "n_predict": 4,
}


@pytest.fixture(scope="session")
def fim_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fim_copy(tmp_path_factory.mktemp("fim") / "tiny-fim.gguf")


@dataclass
class Swapd:
    url: str
    socket: Path
    process: subprocess.Popen[bytes]

    def control(self) -> httpx.Client:
        return httpx.Client(
            transport=httpx.HTTPTransport(uds=str(self.socket)), base_url="http://swapd", timeout=60
        )

    def status(self) -> dict[str, Any]:
        with self.control() as client:
            data: dict[str, Any] = client.get("/swapd/status").json()
            return data

    def ready(self) -> bool:
        """Tier and companion ready; False while swapd is not listening yet (the socket file comes first)."""
        try:
            status = self.status()
        except httpx.TransportError:
            return False
        return status["state"] == "ready" and status["companions"][0]["state"] == "ready"

    def companion(self) -> dict[str, Any]:
        entry: dict[str, Any] = self.status()["companions"][0]
        return entry

    def pids(self, companion: str | None = None) -> list[int]:
        params = {"tail": 2000, **({"companion": companion} if companion else {})}
        with self.control() as client:
            lines = client.get("/swapd/logs", params=params).json()["lines"]
        return [int(m.group(1)) for text in lines if (m := re.match(r"--- swapd: started pid (\d+)", text))]


@pytest.fixture
def swapd(tmp_path: Path, fim_gguf: Path) -> Iterator[Swapd]:
    bundled.llama_server()  # a clear "run make setup" when it is missing
    os.mkfifo(tmp_path / "stuck.gguf")
    port = free_port()
    args = 'args = ["--threads", "1", "--no-webui"]\n'
    (tmp_path / "swapd.toml").write_text(
        f'listen = "127.0.0.1"\nport = {port}\ncontrol_socket = "control.sock"\nstate_dir = "state"\n'
        'llama_server = "bundled"\ndefault_tier = "fast"\n[gpu]\nbackend = "none"\n'
        f'[[tiers]]\nname = "fast"\nmodel = "bundled:tiny"\nctx_size = 1024\n{args}load_timeout_s = 60\n'
        f'[[tiers]]\nname = "stuck"\nmodel = "./stuck.gguf"\nctx_size = 1024\n{args}load_timeout_s = 600\n'
        f'[[companions]]\nname = "fim"\naliases = ["coder"]\nmodel = "{fim_gguf}"\nctx_size = 1024\n'
        f"{args}load_timeout_s = 60\n"
    )
    with open(tmp_path / "swapd.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "swapd", "serve", "--config", str(tmp_path / "swapd.toml")],
            stdout=log,
            stderr=log,
        )
    d = Swapd(f"http://127.0.0.1:{port}", tmp_path / "control.sock", process)
    try:
        wait_until(lambda: d.ready() or process.poll() is not None, 90, "the tier and the companion")
        assert process.poll() is None, (tmp_path / "swapd.log").read_text()
        yield d
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def test_infill_goes_to_the_companion_while_a_swap_is_in_progress(swapd: Swapd, fim_gguf: Path) -> None:
    with swapd.control() as client:
        assert client.post("/swapd/swap", json={"tier": "stuck"}).status_code == 202
    wait_until(lambda: swapd.status()["tier"] == "stuck", 30, "the swap to begin loading")
    for model in ("fim", "coder"):
        reply = httpx.post(f"{swapd.url}/infill", json={**INFILL, "model": model}, timeout=120)
        assert reply.status_code == 200, reply.text
        assert reply.headers["x-swapd-companion"] == "fim"
        body = reply.json()
        assert isinstance(body["content"], str) and body["model"] == str(fim_gguf)
    status = swapd.status()
    assert (status["tier"], status["state"]) == ("stuck", "starting"), "the swap was in progress throughout"


def test_the_tiers_model_refuses_infill_and_the_companion_does_not(swapd: Swapd) -> None:
    tier = httpx.post(f"{swapd.url}/infill", json={**INFILL, "model": "fast"}, timeout=120)
    assert tier.status_code == 501 and "Infill is not supported" in tier.json()["error"]["message"]
    companion = httpx.post(f"{swapd.url}/infill", json={**INFILL, "model": "fim"}, timeout=120)
    assert companion.status_code == 200
    history = swapd.status()["last_swap"]
    assert (history["from"], history["to"]) == (None, "fast"), "neither request swapped"


def test_a_killed_companion_is_restarted_and_the_tier_is_left_alone(swapd: Swapd) -> None:
    (tier_pid,) = swapd.pids()
    (victim,) = swapd.pids("fim")
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: len(swapd.pids("fim")) == 2 and swapd.companion()["state"] == "ready", 60, "a restart")
    assert swapd.companion()["restarts"] == 1
    reply = httpx.post(f"{swapd.url}/infill", json={**INFILL, "model": "fim"}, timeout=120)
    assert reply.status_code == 200
    assert swapd.pids() == [tier_pid]
