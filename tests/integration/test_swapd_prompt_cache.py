"""Issue 4: the prompt cache survives a swap away and back, on the real llama-server and tiny model.

The same ~1,500-token prompt is sent before and after `fast -> deep -> fast`; llama-server's own
`timings.prompt_n` says how many prompt tokens it evaluated. With the cache kept, the second time is
at most 1% of the first. (The case without the cache, all of them again, is measured by
bench/swapd_prompt_cache.py, which imports this module's `Swapd`.)
"""

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from localhost import free_port, wait_until

pytestmark = pytest.mark.integration
PROMPT = " ".join(
    f"Item {i}: the {['red', 'green', 'blue'][i % 3]} box holds {i * 7} marbles." for i in range(110)
)


class Swapd:
    def __init__(self, tmp: Path, cache_mib: int) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.socket = tmp / "control.sock"
        tiers = "".join(
            f'[[tiers]]\nname = "{name}"\nmodel = "bundled:tiny"\nctx_size = 4096\n'
            'args = ["--threads", "1", "--no-webui"]\n'
            for name in ("fast", "deep")
        )
        (tmp / "swapd.toml").write_text(
            f'listen = "127.0.0.1"\nport = {port}\ncontrol_socket = "control.sock"\nstate_dir = "state"\n'
            f'llama_server = "bundled"\nprompt_cache_max_mib = {cache_mib}\n[gpu]\nbackend = "none"\n{tiers}'
        )
        self.log = tmp / "swapd.log"
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "swapd", "serve", "--config", str(tmp / "swapd.toml")],
                stdout=out,
                stderr=out,
            )
        wait_until(lambda: self.socket.exists() or self.process.poll() is not None, 20, "the control socket")
        assert self.process.poll() is None, self.log.read_text()[-2000:]
        self.control = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(self.socket)), base_url="http://s", timeout=60
        )

    def ready(self, tier: str) -> None:
        def check() -> bool:
            status: dict[str, Any] = self.control.get("/swapd/status").json()
            return bool(status["tier"] == tier and status["state"] == "ready")

        wait_until(check, timeout=60, what=f"{tier} ready")

    def swap(self, tier: str) -> None:
        assert self.control.post("/swapd/swap", json={"tier": tier}).status_code == 202
        self.ready(tier)

    def prompt_n(self) -> int:
        body = {"messages": [{"role": "user", "content": PROMPT}], "max_tokens": 1, "temperature": 0}
        reply = httpx.post(f"{self.url}/v1/chat/completions", json=body, timeout=120)
        assert reply.status_code == 200, reply.text
        n: int = reply.json()["timings"]["prompt_n"]
        return n

    def close(self) -> None:
        self.control.close()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


@pytest.fixture
def swapd_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[Swapd] = []

    def make(cache_mib: int) -> Swapd:
        (tmp_path / str(cache_mib)).mkdir()
        started.append(Swapd(tmp_path / str(cache_mib), cache_mib))
        return started[-1]

    yield make
    for s in started:
        s.close()


def round_trip(swapd: Swapd) -> tuple[int, int]:
    swapd.ready("fast")
    first = swapd.prompt_n()
    swapd.swap("deep")
    swapd.swap("fast")
    return first, swapd.prompt_n()


def test_prompt_cache_is_kept_across_a_swap_away_and_back(swapd_factory: Any) -> None:
    kept = swapd_factory(512)
    first, again = round_trip(kept)
    assert first > 1000
    assert again <= first // 100, f"evaluated {again} of {first} prompt tokens again"
    log = kept.log.read_text()
    assert "cache.saved tier=fast" in log and "cache.restored tier=fast" in log
    assert json.loads(kept.control.get("/swapd/history").text)["swaps"][-1]["phases"]["cache_restore"] >= 0
