"""Completion latency to a companion through swapd vs. straight to the same llama-server, while swapd keeps
swapping tiers; requests interleaved in one run; median and p95 of each, and their ratio.

swapd runs two tiers on the tiny model (fast, and deep on its own copy of the file) and the companion
`fim` on a copy of it with FIM token ids (tests/fim_model.py), all on the real llama-server. A thread
swaps fast <-> deep back to back for the whole measurement; each `/infill` (the extension's request:
`cache_prompt`, a few tokens) goes alternately to swapd (`model: fim`) and to the companion's own
loopback port. Also reported: how many swaps ran and which share of the requests started while one
was in progress, so the numbers show a companion request does not wait on a swap.

Run:  .venv/bin/python bench/swapd_companion.py        (needs `make setup`; about a minute on 2 cores)
"""

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from rig import wait

from swapd import bundled
from swapd.supervisor import free_loopback_port

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from fim_model import make_fim_copy  # noqa: E402 - a test helper, found through the path above

SOURCE = (ROOT / "src" / "swapd" / "companions.py").read_text()
CURSOR = SOURCE.index("        attempt = 0")
INFILL = {"input_prefix": SOURCE[:CURSOR][-1500:], "input_suffix": SOURCE[CURSOR:][:500], "n_predict": 8}
ARGS = 'args = ["--threads", "1", "--no-webui"]\nload_timeout_s = 60\n'


def start(tmp: Path, fim: Path) -> tuple[subprocess.Popen[bytes], str, httpx.Client]:
    deep_model = tmp / "deep.gguf"
    shutil.copyfile(bundled.tiny_model(), deep_model)
    port, sock = free_loopback_port(), tmp / "control.sock"
    (tmp / "swapd.toml").write_text(
        f'listen = "127.0.0.1"\nport = {port}\ncontrol_socket = "{sock}"\nstate_dir = "{tmp / "state"}"\n'
        'llama_server = "bundled"\ndefault_tier = "fast"\nprompt_cache_max_mib = 0\n[gpu]\nbackend = "none"\n'
        f'[[tiers]]\nname = "fast"\nmodel = "bundled:tiny"\nctx_size = 1024\n{ARGS}'
        f'[[tiers]]\nname = "deep"\nmodel = "{deep_model}"\nctx_size = 1024\n{ARGS}'
        f'[[companions]]\nname = "fim"\nmodel = "{fim}"\nctx_size = 2048\n{ARGS}'
    )
    with open(tmp / "swapd.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "swapd", "serve", "--config", str(tmp / "swapd.toml")],
            stdout=log,
            stderr=log,
        )
    wait(sock.exists, 30, "swapd's socket")
    control = httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), base_url="http://s", timeout=120)

    def ready() -> bool:
        try:
            s = control.get("/swapd/status").json()
        except httpx.TransportError:
            return False
        return bool(s["state"] == "ready" and s["companions"][0]["state"] == "ready")

    wait(ready, 90, "the tier and the companion")
    return process, f"http://127.0.0.1:{port}", control


def companion_url(control: httpx.Client) -> str:
    lines = control.get("/swapd/logs", params={"tail": 2000, "companion": "fim"}).json()["lines"]
    ports = [m.group(1) for text in lines if (m := re.search(r"^--- swapd: started .* --port (\d+)", text))]
    return f"http://127.0.0.1:{ports[-1]}"


class Swapper(threading.Thread):
    """Swaps fast <-> deep back to back; `busy` is set from each POST until the swap's event says it ended."""

    def __init__(self, control: httpx.Client) -> None:
        super().__init__(daemon=True)
        self.control = control
        self.stop = threading.Event()
        self.busy = threading.Event()
        self.swaps = 0
        self.swap_s: list[float] = []

    def run(self) -> None:
        tier = "deep"
        with self.control.stream("GET", "/swapd/events", timeout=None) as events:
            lines = events.iter_lines()
            while not self.stop.is_set():
                self.busy.set()
                started = time.monotonic()
                assert self.control.post("/swapd/swap", json={"tier": tier}).status_code == 202
                for line in lines:
                    if line.startswith("data: ") and '"took_s"' in line and f'"to": "{tier}"' in line:
                        break
                self.swap_s.append(time.monotonic() - started)
                self.busy.clear()
                self.swaps += 1
                tier = "fast" if tier == "deep" else "deep"


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=40, help="requests per path")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="swapd-companion-bench-"))
    fim = make_fim_copy(tmp / "tiny-fim.gguf")
    process, url, control = start(tmp, fim)
    try:
        direct_url = companion_url(control)
        client = httpx.Client(timeout=120)
        for target in (f"{url}/infill", f"{direct_url}/infill"):  # warm both paths and the prompt cache
            assert client.post(target, json={**INFILL, "model": "fim"}).status_code == 200
        swapper = Swapper(control)
        swapper.start()
        wait(lambda: swapper.swaps >= 1, 60, "the first swap")
        times: dict[str, list[float]] = {"direct": [], "swapd": []}
        during = 0
        for _ in range(args.rounds):
            for path, target in (("direct", direct_url), ("swapd", url)):
                during += swapper.busy.is_set()
                started = time.perf_counter()
                reply = client.post(f"{target}/infill", json={**INFILL, "model": "fim"})
                times[path].append(time.perf_counter() - started)
                assert reply.status_code == 200, reply.text
        swapper.stop.set()
        swapper.join(timeout=120)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    direct, through = times["direct"], times["swapd"]
    print(f"load average (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"requests per path: {args.rounds}; swaps completed meanwhile: {swapper.swaps - 1}")
    print(f"median swap (POST to its `swap` event): {statistics.median(swapper.swap_s):.2f} s")
    print(f"requests started while a swap was in progress: {during} of {2 * args.rounds}")
    for name, values in (("direct", direct), ("through swapd", through)):
        print(
            f"{name:>14}: median {statistics.median(values) * 1000:.1f} ms, p95 {p95(values) * 1000:.1f} ms"
        )
    print(
        f"ratio swapd/direct: median {statistics.median(through) / statistics.median(direct):.2f}, "
        f"p95 {p95(through) / p95(direct):.2f}; median overhead "
        f"{(statistics.median(through) - statistics.median(direct)) * 1000:.1f} ms"
    )
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
