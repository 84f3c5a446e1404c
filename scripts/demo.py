"""`make demo`: swapd with three tiers on the tiny CPU model, then `assistant chat` in the foreground.

swapd's output goes to .venv/swapd-demo/swapd.log; it is stopped (and reaped) when the chat ends.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SWAPD_CONFIG = ROOT / "examples" / "swapd-demo.toml"
CHAT_CONFIG = ROOT / "examples" / "assistant-demo.toml"
STATE = ROOT / ".venv" / "swapd-demo"
URL = "http://127.0.0.1:18080"
SOCKET = STATE / "control.sock"
READY_TIMEOUT_S = 120


def swapd_state() -> str | None:
    """The active tier's state from the control socket, or None while swapd is not answering."""
    try:
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(SOCKET)), timeout=2) as control:
            status = control.get("http://swapd/swapd/status").json()
    except (httpx.TransportError, ValueError):
        return None
    return f"{status.get('tier')} {status.get('state')}"


def wait_ready(proc: subprocess.Popen[bytes]) -> bool:
    """Poll swapd (an outside process) until a tier is ready, showing its state; False if it died."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    shown = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        state = swapd_state()
        if state != shown:
            print(f"demo: swapd {state or 'starting'}", flush=True)
            shown = state
        if state is not None and state.endswith(" ready"):
            return True
        time.sleep(0.25)
    return False


def main() -> int:
    STATE.mkdir(parents=True, exist_ok=True)
    log_path = STATE / "swapd.log"
    with log_path.open("ab") as log:
        swapd = subprocess.Popen(
            [sys.executable, "-m", "swapd", "serve", "--config", str(SWAPD_CONFIG)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        if not wait_ready(swapd):
            print(f"demo: swapd did not become ready; see {log_path}", file=sys.stderr)
            return 1
        print(f"demo: swapd serves {URL}; try /tier deep, /status, /tools, /quit", flush=True)
        print(
            "demo: only fast uses the tiny model's own chat template; balanced and deep run it behind"
            " the production templates (Qwen 3.5, Gemma 4), so expect odd answers there",
            flush=True,
        )
        chat = subprocess.run(
            [sys.executable, "-m", "assistant", "chat", "--config", str(CHAT_CONFIG)], check=False
        )
        return chat.returncode
    except KeyboardInterrupt:
        return 130
    finally:
        if swapd.poll() is None:
            os.killpg(swapd.pid, signal.SIGTERM)
            try:
                swapd.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(swapd.pid, signal.SIGKILL)
                swapd.wait()


if __name__ == "__main__":
    sys.exit(main())
