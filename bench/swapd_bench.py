"""swapd's swap and relay costs, each baseline and candidate interleaved in one run; medians and ratios.

  1. swap time (from the control API's POST, as `swapctl swap` sends it, to the first token of a
     request queued behind it) vs. a cold start of the same llama-server command;
  2. a swap to a tier whose model file was evicted from the page cache vs. one prewarmed first;
  3. SSE events/s relayed from an instant upstream, through swapd vs. direct;
  4. swapd's peak RSS.

The proxy's overhead on a streamed chat (time to first token, tokens/s) is bench/swapd_overhead.py.

Run:  .venv/bin/python bench/swapd_bench.py        (needs `make setup`; about 2 minutes on 2 cores)
"""

import argparse
import functools
import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from rig import Swapd, load_average, machine, tier_table, wait

from swapd import bundled
from swapd import config as configuration
from swapd.prewarm import evict
from swapd.supervisor import free_loopback_port

HERE = Path(__file__).resolve().parent
INSTANT = HERE / "instant_upstream.py"
PROMPT = [{"role": "user", "content": "Write a short poem about the sea."}]


def stream(client: httpx.Client, url: str, body: dict[str, object]) -> tuple[float, float, int]:
    """(seconds to the first content token, tokens/s after it, content events) for one streamed chat."""
    start = time.perf_counter()
    first = last = 0.0
    count = 0
    with client.stream("POST", f"{url}/v1/chat/completions", json=body) as reply:
        for line in reply.iter_lines():
            # A substring test, not json.loads: the client's own CPU use must not shape the rates.
            if '"content":"' in line and '"content":""' not in line:
                last = time.perf_counter()
                first = first or last
                count += 1
    rate = (count - 1) / (last - first) if count > 1 and last > first else 0.0
    return first - start, rate, count


def median(values: list[float]) -> float:
    return statistics.median(values)


@contextmanager
def spawned(argv: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def first_token(client: httpx.Client, url: str) -> None:
    body = {"messages": PROMPT, "max_tokens": 2, "temperature": 0, "stream": True}
    stream(client, url, body)


def bench_swap(swapd: Swapd, rounds: int) -> dict[str, float]:
    config = configuration.load(swapd.path)
    swap_s: list[float] = []
    cold_s: list[float] = []
    with httpx.Client(timeout=120) as client:
        for i in range(rounds):
            tier = ("deep", "fast")[i % 2]
            start = time.perf_counter()
            assert swapd.control.post("/swapd/swap", json={"tier": tier}).status_code == 202
            first_token(client, swapd.url)
            swap_s.append(time.perf_counter() - start)
            port = free_loopback_port()
            argv = configuration.command(config, config.tier(tier), port)
            start = time.perf_counter()
            with spawned(argv):
                url = f"http://127.0.0.1:{port}"
                wait(functools.partial(_healthy, client, url), 60, "a cold llama-server")
                first_token(client, url)
                cold_s.append(time.perf_counter() - start)
    return {
        "swap_s": median(swap_s),
        "cold_start_s": median(cold_s),
        "swap_minus_cold_s": median(swap_s) - median(cold_s),
    }


def _healthy(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def timed_swap(swapd: Swapd, client: httpx.Client, tier: str) -> float:
    start = time.perf_counter()
    assert swapd.control.post("/swapd/swap", json={"tier": tier}).status_code == 202
    first_token(client, swapd.url)
    return time.perf_counter() - start


def bench_prewarm(swapd: Swapd, deep_model: Path, rounds: int) -> dict[str, float]:
    """Swap to deep with its model file evicted from the page cache, then after `swapctl prewarm`."""
    cold: list[float] = []
    warm: list[float] = []
    with httpx.Client(timeout=120) as client:
        for _ in range(rounds):
            timed_swap(swapd, client, "fast")
            evict(deep_model)
            cold.append(timed_swap(swapd, client, "deep"))
            timed_swap(swapd, client, "fast")
            evict(deep_model)
            assert swapd.control.post("/swapd/prewarm", json={"tier": "deep"}).status_code == 200
            warm.append(timed_swap(swapd, client, "deep"))
    return {
        "swap_cold_file_s": median(cold),
        "swap_prewarmed_s": median(warm),
        "prewarm_ratio": median(warm) / median(cold),
    }


def bench_relay(swapd: Swapd, rounds: int, events: int) -> dict[str, float]:
    body: dict[str, object] = {"max_tokens": events, "stream": True}
    direct_url = swapd.upstream()
    rates: dict[str, list[float]] = {"direct": [], "swapd": []}
    with httpx.Client(timeout=120) as client:
        for _ in range(rounds):
            for name, url in (("direct", direct_url), ("swapd", swapd.url)):
                start = time.perf_counter()
                _, _, count = stream(client, url, body)
                rates[name].append(count / (time.perf_counter() - start))
                assert count == events, count
    return {
        "events_per_s_direct": median(rates["direct"]),
        "events_per_s_swapd": median(rates["swapd"]),
        "relay_ratio": median(rates["swapd"]) / median(rates["direct"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--swaps", type=int, default=4, help="swaps (and as many cold starts)")
    parser.add_argument("--events", type=int, default=20000, help="SSE events per relay request")
    parser.add_argument("--prewarms", type=int, default=3, help="cold and prewarmed swaps each")
    args = parser.parse_args()
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        # deep loads its own copy of the model, so its pages can leave the cache while fast runs.
        deep_model = tmp / "deep.gguf"
        shutil.copyfile(bundled.tiny_model(), deep_model)
        os.sync()
        real = Swapd(
            tmp,
            "real",
            "bundled",
            tier_table("fast", 2048, 1, "bundled:tiny") + tier_table("deep", 4096, 1, str(deep_model)),
        )
        instant = Swapd(tmp, "instant", str(INSTANT), tier_table("fast", 64, 1, "/dev/null"))
        try:
            results |= bench_swap(real, args.swaps)
            results |= bench_prewarm(real, deep_model, args.prewarms)
            results |= bench_relay(instant, 3, args.events)
            results["peak_rss_mib_real"] = real.peak_rss_mib()
            results["peak_rss_mib_instant"] = instant.peak_rss_mib()
        finally:
            real.close()
            instant.close()
    print(f"# machine: {machine()}; load average after: {load_average()}")
    print(json.dumps({k: round(v, 4) for k, v in results.items()}, indent=2))


if __name__ == "__main__":
    main()
