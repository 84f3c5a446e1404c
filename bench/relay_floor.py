"""The floor under swapd's cost on this machine: the same streamed chats straight to llama-server,
through a bare byte relay, and through swapd, request by request in one run.

The relay is what any proxy must do at the least: asyncio protocols on uvloop that copy bytes
between the client's connection and a new one to llama-server, with no HTTP parsing, no key check
and no admission. What it costs per token (a wake-up, a read and a write, mostly in the kernel)
is a floor that swapd can approach but not go under. The setup is that of bench/swapd_overhead.py:
the demo's fast tier with `--threads 2`, the official SDK, an API key and a named model.

Per side against direct: the paired median TTFT overhead and tokens/s ratio, each with a bootstrap
95% confidence interval, and the CPU that the relay and swapd spent per request.

Run:  .venv/bin/python bench/relay_floor.py             (about 5 minutes on 2 cores)
"""

import argparse
import asyncio
import contextlib
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import uvloop
from rig import Swapd, load_average, machine, wait
from swapd_overhead import API_KEY, TIER, cpu_seconds, interval, sdk_clients, sdk_stream

from swapd.supervisor import free_loopback_port


class Upstream(asyncio.Protocol):
    def __init__(self, client: "Client") -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        assert self.client.transport is not None
        self.client.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client.transport is not None:
            self.client.transport.close()


class Client(asyncio.Protocol):
    """One client connection: connects to llama-server at once and copies bytes both ways."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.transport: asyncio.Transport | None = None
        self.upstream: Upstream | None = None
        self.early: list[bytes] = []
        self.connecting: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.connecting = asyncio.get_running_loop().create_task(self.connect())

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        _, self.upstream = await loop.create_connection(lambda: Upstream(self), "127.0.0.1", self.port)
        assert self.upstream.transport is not None
        for data in self.early:
            self.upstream.transport.write(data)

    def data_received(self, data: bytes) -> None:
        if self.upstream is None or self.upstream.transport is None:
            self.early.append(data)
        else:
            self.upstream.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.close()
        elif self.connecting is not None:
            self.connecting.cancel()


def listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


async def relay(listen: int, upstream: int) -> None:
    server = await asyncio.get_running_loop().create_server(lambda: Client(upstream), "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=100, help="requests per side")
    parser.add_argument("--relay", nargs=2, type=int, metavar=("LISTEN", "UPSTREAM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.relay:
        uvloop.run(relay(*args.relay))
        return
    print(f"# machine: {machine()}; load average before: {load_average()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp_dir:
        swapd = Swapd(Path(tmp_dir), "floor", "bundled", TIER, api_key=API_KEY)
        direct = swapd.upstream()
        port = free_loopback_port()
        argv = [sys.executable, __file__, "--relay", str(port), direct.rsplit(":", 1)[1]]
        bare = subprocess.Popen(argv)
        try:
            wait(lambda: listening(port), 10, "the relay's port")
            sides = {"direct": direct, "relay": f"http://127.0.0.1:{port}", "swapd": swapd.url}
            clients = sdk_clients(sides)
            run = sdk_stream(clients)
            for base in sides.values():
                run(base)
                run(base)
            pids = {"relay": bare.pid, "swapd": swapd.process.pid}
            cpu = dict.fromkeys(pids, 0.0)
            ttft: dict[str, list[float]] = {side: [] for side in sides}
            tps: dict[str, list[float]] = {side: [] for side in sides}
            names = list(sides)
            for i in range(args.rounds):
                for side in names[i % 3 :] + names[: i % 3]:
                    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                    first, rate = run(sides[side])
                    if side in pids:
                        cpu[side] += cpu_seconds(pids[side]) - before[side]
                    ttft[side].append(first * 1000)
                    tps[side].append(rate)
            for client in clients.values():
                client.close()
        finally:
            bare.terminate()
            bare.wait(timeout=10)
            swapd.close()
    print(f"# load average after: {load_average()}")
    for side in ("relay", "swapd"):
        overheads = [b - a for a, b in zip(ttft["direct"], ttft[side], strict=True)]
        ratios = [b / a for a, b in zip(tps["direct"], tps[side], strict=True)]
        (t_low, t_high), (r_low, r_high) = interval(overheads), interval(ratios)
        print(
            f"{side}: TTFT overhead {statistics.median(overheads):.2f} ms"
            f" (95% CI {t_low:.2f} to {t_high:.2f});"
            f" tokens/s ratio {statistics.median(ratios):.3f} (95% CI {r_low:.3f} to {r_high:.3f});"
            f" CPU {cpu[side] / args.rounds * 1000:.2f} ms per request"
        )
    print(
        f"direct: TTFT {statistics.median(ttft['direct']):.1f} ms,"
        f" {statistics.median(tps['direct']):.1f} tok/s"
    )


if __name__ == "__main__":
    main()
