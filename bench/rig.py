"""What swapd's benchmarks share: a real `swapd serve` process on a temporary config, and tier tables."""

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from swapd.supervisor import free_loopback_port


def wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.01)


def tier_table(name: str, ctx: int, parallel: int, model: str, threads: int = 1) -> str:
    return (
        f'[[tiers]]\nname = "{name}"\nmodel = "{model}"\nctx_size = {ctx}\nparallel = {parallel}\n'
        f'args = ["--threads", "{threads}", "--no-webui"]\n'
    )


class Swapd:
    """`swapd serve` on loopback; `api_key` set means clients must send it, as on the LAN."""

    def __init__(
        self, tmp: Path, name: str, llama_server: str, tiers: str, api_key: str | None = None
    ) -> None:
        self.port = free_loopback_port()
        self.socket = tmp / f"{name}.sock"
        self.path = tmp / f"{name}.toml"
        keys = ""
        if api_key is not None:
            key_file = tmp / f"{name}.key"
            key_file.write_text(api_key)
            key_file.chmod(0o600)
            keys = f'api_key_files = ["{key_file}"]\n'
        self.path.write_text(
            f'listen = "127.0.0.1"\nport = {self.port}\ncontrol_socket = "{self.socket}"\n'
            f'state_dir = "{tmp / name}"\nllama_server = "{llama_server}"\nmax_queue = 256\n{keys}'
            f'[gpu]\nbackend = "none"\n{tiers}'
        )
        self.url = f"http://127.0.0.1:{self.port}"
        log = open(tmp / f"{name}.log", "wb")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            [sys.executable, "-m", "swapd", "serve", "--config", str(self.path)], stdout=log, stderr=log
        )
        log.close()
        wait(self.socket.exists, 30, "swapd's socket")
        self.control = httpx.Client(transport=httpx.HTTPTransport(uds=str(self.socket)), base_url="http://s")
        wait(lambda: self.control.get("/swapd/status").json()["state"] == "ready", 60, "the first tier")

    def upstream(self) -> str:
        """The URL of the llama-server serving now, from its start line in swapd's ring buffer."""
        lines = self.control.get("/swapd/logs", params={"tail": 2000}).json()["lines"]
        ports = [
            m.group(1) for text in lines if (m := re.search(r"^--- swapd: started .* --port (\d+)", text))
        ]
        return f"http://127.0.0.1:{ports[-1]}"

    def peak_rss_mib(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]

    def close(self) -> None:
        self.control.close()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?")
    return f"{os.cpu_count()} CPUs, {cpu}, Python {sys.version.split()[0]}"


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())
