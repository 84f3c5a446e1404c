"""`swapd serve` as a real process with fake tiers, driven by `swapctl` over the control socket.

One daemon serves the module; each test that depends on its state first settles it (`Daemon.settle`),
and the test that stops a daemon gets one of its own, so any order works.
"""

import json
import re
import select
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from conftest import ADMIN_TOKEN, API_KEY, FAKE_LLAMA
from localhost import free_port, wait_until

from swapd.cli import main as swapctl


@dataclass
class Daemon:
    socket: Path
    url: str
    token_file: Path
    process: subprocess.Popen[bytes]
    log: Path

    def ctl(self, *args: str) -> "Result":
        result = CliRunner().invoke(swapctl, ["--socket", str(self.socket), *args])
        return Result(result.exit_code, result.stdout, result.stderr)

    def state(self) -> str | None:
        """The tier's state from `swapctl status --json` (None while swapd does not answer yet)."""
        out = self.ctl("status", "--json").out
        return json.loads(out)["state"] if out else None

    def settle(self, tier: str) -> None:
        """A test's starting point: nothing pinned and `tier` ready, swapped to if need be."""
        assert self.ctl("unpin").code == 0
        result = self.ctl("swap", tier)
        assert result.code == 0, result.err


@dataclass
class Result:
    code: int
    out: str
    err: str


def secret(path: Path, value: str) -> Path:
    path.write_text(value)
    path.chmod(0o600)
    return path


@contextmanager
def running(tmp: Path) -> Iterator[Daemon]:
    """`swapd serve` in `tmp` with fast, deep and a broken tier, until its first tier is ready."""
    port = free_port()
    secret(tmp / "api-key", API_KEY)
    token = secret(tmp / "admin-token", ADMIN_TOKEN)
    (tmp / "swapd.toml").write_text(
        f'listen = "127.0.0.1"\nport = {port}\napi_key_files = ["./api-key"]\n'
        'admin_token_file = "./admin-token"\n'
        f'control_socket = "run/control.sock"\nstate_dir = "state"\nllama_server = "{FAKE_LLAMA}"\n'
        'stop_timeout_s = 2\n[gpu]\nbackend = "none"\n'
        '[[tiers]]\nname = "fast"\nmodel = "/m/fast.gguf"\nctx_size = 1024\nparallel = 2\n'
        '[[tiers]]\nname = "deep"\nmodel = "/m/deep.gguf"\nctx_size = 4096\n'
        '[[tiers]]\nname = "broken"\nmodel = "/m/b.gguf"\nctx_size = 64\n'
        'args = ["--fake-exit-on-load", "2"]\n'
        '[[companions]]\nname = "fim"\nmodel = "./fim.gguf"\nctx_size = 256\n'
    )
    (tmp / "fim.gguf").write_bytes(b"GGUF")
    log = tmp / "swapd.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "swapd", "serve", "--config", str(tmp / "swapd.toml")],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp,
        )
    d = Daemon(tmp / "run" / "control.sock", f"http://127.0.0.1:{port}", token, process, log)
    try:
        wait_until(
            lambda: d.socket.exists() or process.poll() is not None, timeout=20, what="the control socket"
        )
        wait_until(lambda: d.state() == "ready", timeout=20, what="the first tier")
        yield d
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running(tmp_path_factory.mktemp("swapd")) as d:
        yield d


def test_status_json_follows_the_contract(daemon: Daemon) -> None:
    daemon.settle("fast")
    result = daemon.ctl("status", "--json")
    assert result.code == 0
    status = json.loads(result.out)
    assert set(status) == {
        *("tier", "state", "pinned", "uptime_s", "gpus", "in_flight", "queued", "last_swap", "companions")
    }
    assert status["tier"] in ("fast", "deep") and status["state"] == "ready"


def test_status_and_logs_show_the_companion(daemon: Daemon) -> None:
    wait_until(lambda: "companion  fim (ready" in daemon.ctl("status").out, timeout=20, what="the companion")
    line = next(text for text in daemon.ctl("status").out.splitlines() if text.startswith("companion"))
    assert line == "companion  fim (ready, 0 in flight)"
    logs = daemon.ctl("logs", "--companion", "fim", "-n", "50")
    assert logs.code == 0 and "fim.gguf" in logs.out and "fast.gguf" not in logs.out
    unknown = daemon.ctl("logs", "--companion", "nope")
    assert unknown.code == 1
    assert unknown.err == "swapctl: unknown companion 'nope' (known: fim) (HTTP 404)\n"


def test_control_socket_is_group_only(daemon: Daemon) -> None:
    assert stat.S_IMODE(daemon.socket.stat().st_mode) == 0o660


def test_swap_shows_progress_until_ready_and_tiers_follow(daemon: Daemon) -> None:
    daemon.settle("fast")
    result = daemon.ctl("deep")
    assert result.code == 0, result.err
    assert "deep ready in" in result.out
    assert "loading deep" in result.err
    again = daemon.ctl("swap", "deep")
    assert (again.code, again.out) == (0, "deep is ready\n")
    tiers = json.loads(daemon.ctl("tiers", "--json").out)
    assert [(t["name"], t["state"]) for t in tiers] == [
        ("fast", "stopped"),
        ("deep", "ready"),
        ("broken", "stopped"),
    ]
    assert "deep       ready" in daemon.ctl("tiers").out


def test_failed_swap_exits_1_with_the_reason_and_rolls_back(daemon: Daemon) -> None:
    daemon.settle("fast")
    result = daemon.ctl("swap", "broken", "--json")
    assert result.code == 1
    assert result.err.startswith("swapctl: swap to broken failed: llama-server exited with 2 while loading")
    assert json.loads(result.out)["ok"] is False
    wait_until(lambda: daemon.state() == "ready", timeout=20, what="the rollback")


def test_pin_refuses_other_swaps_until_unpin(daemon: Daemon) -> None:
    daemon.settle("fast")
    try:
        assert daemon.ctl("pin", "fast").code == 0
        refused = daemon.ctl("deep")
        assert refused.code == 1
        assert refused.err == "swapctl: tier 'fast' is pinned; run `swapctl unpin` first (HTTP 409)\n"
        assert "pinned to fast" in daemon.ctl("status").out
    finally:
        assert daemon.ctl("unpin").out == "unpinned\n"


def test_logs_show_llama_server_output(daemon: Daemon) -> None:
    daemon.settle("fast")
    result = daemon.ctl("logs", "-n", "500")
    assert result.code == 0
    assert "server is listening on" in result.out
    assert len(json.loads(daemon.ctl("logs", "-n", "3", "--json").out)["lines"]) == 3


def test_errors_are_one_line_on_stderr_with_exit_1(daemon: Daemon, tmp_path: Path) -> None:
    unknown = daemon.ctl("nosuch")
    assert (unknown.code, unknown.err) == (
        1,
        "swapctl: unknown tier 'nosuch' (known: fast, deep, broken) (HTTP 404)\n",
    )
    gone = CliRunner().invoke(swapctl, ["--socket", str(tmp_path / "none.sock"), "status"])
    assert gone.exit_code == 1 and gone.stderr.startswith("swapctl: cannot reach swapd at")


def test_remote_use_needs_the_admin_token(daemon: Daemon) -> None:
    daemon.settle("fast")
    remote = ["--url", daemon.url, "--token-file", str(daemon.token_file), "status", "--json"]
    result = CliRunner().invoke(swapctl, remote)
    assert result.exit_code == 0 and json.loads(result.stdout)["state"]
    wrong = CliRunner().invoke(swapctl, ["--url", daemon.url, "--token", "nope", "tiers"])
    assert wrong.exit_code == 1 and "(HTTP 401)" in wrong.stderr


def test_proxy_answers_on_the_lan_port(daemon: Daemon) -> None:
    daemon.settle("fast")
    reply = httpx.post(
        f"{daemon.url}/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=20,
    )
    assert reply.status_code == 200 and reply.headers["x-swapd-tier"] in ("fast", "deep")


def test_history_lists_the_swaps_with_their_phases(daemon: Daemon) -> None:
    daemon.settle("deep")
    daemon.settle("fast")
    swaps = json.loads(daemon.ctl("history", "--json", "-n", "50").out)
    assert {"at", "from", "to", "took_s", "phases", "ok", "error"} <= set(swaps[-1])
    assert (swaps[-1]["from"], swaps[-1]["to"], swaps[-1]["ok"]) == ("deep", "fast", True)
    assert {"stop", "load", "health"} <= set(swaps[-1]["phases"])
    text = daemon.ctl("history", "-n", "1").out
    assert text.count("\n") == 1 and " -> " in text


@pytest.mark.parametrize("command", ["status", "swap", "tiers", "pin", "unpin", "unload", "logs", "history"])
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = CliRunner().invoke(swapctl, [command, "--help"])
    assert result.exit_code == 0 and "Example" in result.stdout


def test_status_watch_prints_state_changes_and_swaps_as_they_happen(daemon: Daemon) -> None:
    daemon.settle("fast")
    watcher = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from swapd.cli import main; main()",
            "--socket",
            str(daemon.socket),
            "status",
            "--watch",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert watcher.stdout is not None
    seen: list[str] = []
    try:
        # The watcher subscribes right after printing the status; swap until it reports one.
        for tier in ("deep", "fast", "deep", "fast", "deep", "fast"):
            assert daemon.ctl("swap", tier).code == 0
            ready, _, _ = select.select([watcher.stdout], [], [], 5)
            while ready and not any(line.startswith("swap ") for line in seen):
                seen.append(watcher.stdout.readline())
                ready, _, _ = select.select([watcher.stdout], [], [], 0.5)
            if any(line.startswith("swap ") for line in seen):
                break
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)
    assert seen[0].startswith("tier ")
    assert any(line.startswith("starting  loading ") for line in seen)
    assert any(re.match(r"swap +\w+ -> \w+ in [\d.]+ s", line) for line in seen)


def test_unload_then_sigterm_stops_everything_and_leaks_no_secret(tmp_path: Path) -> None:
    with running(tmp_path) as daemon:  # its own: this test ends the daemon
        assert daemon.ctl("unload").code == 0
        wait_until(lambda: daemon.state() == "stopped", timeout=20, what="the unload")
        wait_until(
            lambda: "listening on" in daemon.ctl("logs", "--companion", "fim").out, 20, "the companion"
        )
        logs = daemon.ctl("logs", "--companion", "fim").out
        companion = re.findall(r"listening on (http://[\d.:]+)", logs)[-1]
        assert httpx.get(f"{companion}/health").status_code == 200, "the companion outlived the unload"
        daemon.process.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal it caught
        assert daemon.process.wait(timeout=20) in (0, -signal.SIGTERM)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{companion}/health")
    assert not daemon.socket.exists()
    log = daemon.log.read_text()
    assert "swap.done" in log and "swapd.stopped" in log
    assert API_KEY not in log and ADMIN_TOKEN not in log
    assert not [line for line in log.splitlines() if "server is listening" in line], (
        "child output stays in the ring"
    )
