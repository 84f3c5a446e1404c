"""`make demo` until swapd lands: the real llama-server on the tiny model, one streamed chat round trip."""

import json
import os
import signal
import subprocess
import sys
import time

import httpx

from swapd import bundled
from swapd.errors import SwapdError

PORT = 18080
URL = f"http://127.0.0.1:{PORT}"


def main() -> int:
    try:
        cmd = [
            str(bundled.llama_server()),
            "-m",
            str(bundled.tiny_model()),
            "--port",
            str(PORT),
            "--no-webui",
        ]
    except SwapdError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{URL}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                print("demo: llama-server did not become healthy", file=sys.stderr)
                return 1
            time.sleep(0.1)
        question = "In one sentence, what is a GPU?"
        print(f"you> {question}\nassistant> ", end="", flush=True)
        body = {"messages": [{"role": "user", "content": question}], "max_tokens": 64, "stream": True}
        with httpx.stream("POST", f"{URL}/v1/chat/completions", json=body, timeout=60) as reply:
            for line in reply.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    delta = json.loads(line[6:])["choices"][0]["delta"]
                    print(delta.get("content") or "", end="", flush=True)
        print()
        return 0
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
