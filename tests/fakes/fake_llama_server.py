#!/usr/bin/env python3
"""A stand-in for llama.cpp's llama-server, for tests that need many fast, controllable children.

Speaks the wire format of ggml-org/llama.cpp tools/server/README.md: `GET /health` answers 503
`{"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}` while loading
and 200 `{"status": "ok"}` after; `/v1/chat/completions` and `/v1/completions` stream
`data: {chunk}` SSE events ending in `data: [DONE]` (chunked transfer encoding, as llama-server
sends them); `/v1/embeddings`, `/tokenize`, `/detokenize`, `/props`, `/slots` and (with
`--metrics`) `/metrics` answer in their shapes. It accepts llama-server's command line and
ignores flags it does not model.

Faults on command, for swapd's tests and the Nix VM tests (standard library only, so any
python3 runs it):
  --fake-load-s S          seconds of 503 before healthy (default 0.1)
  --fake-exit-on-load N    exit with code N instead of becoming healthy
  --fake-oom               with --fake-exit-on-load: log a CUDA out-of-memory line first
  --fake-hang-load         never become healthy
  --fake-save-fails        answer slot saves with 500, as a full disk does
  Slots (with --slot-save-path): a chat fills slot 0; `POST /slots/{id}?action=save|restore` write
  and read `FAKESLOT <tokens>` files, and a restore of any other content is refused with 400.
  "fake_token_s": S        (a request field) delay per token, streamed or not
  POST /fake/crash         exit(3) at once
  POST /fake/hang          stop answering anything
  GET  /fake/stats         {"started", "finished", "aborted", "active"} streamed requests
"""

import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LOADING = {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}
NOT_FOUND = {"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}}
EMBEDDING = {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1]}]}


class Fake:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.model = Path(args.model).name
        self.ready_at = time.monotonic() + args.fake_load_s
        self.hang = threading.Event()
        self.lock = threading.Lock()
        self.stats = {"started": 0, "finished": 0, "aborted": 0, "active": 0}
        self.slot_tokens = [0, 0]

    def count(self, key: str, delta: int = 1) -> None:
        with self.lock:
            self.stats[key] += delta


def handler_for(fake: Fake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            print(f"srv  log_server_r: {self.command} {self.path}", flush=True)

        def _json(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> dict[str, object]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            data = json.loads(raw or b"{}")
            return data if isinstance(data, dict) else {}

        def _gate(self) -> bool:
            """Hang if told to; answer 503 while loading. True when the request may go on."""
            if fake.hang.is_set():
                threading.Event().wait()
            if time.monotonic() < fake.ready_at or fake.args.fake_hang_load:
                self._json(503, LOADING)
                return False
            return True

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if not self._gate():
                return
            if path == "/health":
                self._json(200, {"status": "ok"})
            elif path == "/props":
                args = fake.args
                props = {"model_path": args.model, "total_slots": args.parallel, "n_ctx": args.ctx_size}
                self._json(200, props)
            elif path == "/slots":
                slots: list[dict[str, object]] = []
                for i, tokens in enumerate(fake.slot_tokens):
                    slot: dict[str, object] = {"id": i, "n_ctx": fake.args.ctx_size, "is_processing": False}
                    slots.append({**slot, "n_prompt_tokens": tokens} if tokens else slot)
                self._json(200, slots)
            elif path == "/metrics" and fake.args.metrics:
                text = (
                    b"# TYPE llamacpp:prompt_tokens_seconds gauge\n"
                    b"llamacpp:prompt_tokens_seconds 812.5\n"
                    b"# TYPE llamacpp:predicted_tokens_seconds gauge\n"
                    b"llamacpp:predicted_tokens_seconds 71.25\n"
                )
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)
            elif path == "/fake/stats":
                with fake.lock:
                    self._json(200, dict(fake.stats))
            elif path == "/v1/models":
                self._json(200, {"object": "list", "data": [{"id": fake.model, "object": "model"}]})
            else:
                self._json(404, NOT_FOUND)

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/fake/crash":
                print("fake: crashing on command", flush=True)
                os._exit(3)
            if path == "/fake/hang":
                fake.hang.set()
                self._json(200, {"hanging": True})
                return
            body = self._body()
            if not self._gate():
                return
            if path.startswith("/slots/"):
                self._slot_action(int(path.removeprefix("/slots/")), self.path.split("action=", 1)[-1], body)
            elif path in ("/v1/chat/completions", "/v1/completions"):
                self._complete(body, chat=path == "/v1/chat/completions")
            elif path == "/v1/embeddings":
                self._json(200, EMBEDDING)
            elif path == "/tokenize":
                self._json(200, {"tokens": [ord(c) for c in str(body.get("content", ""))]})
            elif path == "/detokenize":
                tokens = body.get("tokens", [])
                text = "".join(chr(t) for t in tokens) if isinstance(tokens, list) else ""
                self._json(200, {"content": text})
            elif path == "/infill":
                self._json(200, {"content": "pass", "model": fake.model})
            else:
                self._json(404, NOT_FOUND)

        def _slot_action(self, slot: int, action: str, body: dict[str, object]) -> None:
            if not fake.args.slot_save_path or slot >= len(fake.slot_tokens):
                self._json(
                    400, {"error": {"code": 400, "message": "bad slot", "type": "invalid_request_error"}}
                )
                return
            path = Path(fake.args.slot_save_path) / str(body.get("filename"))
            if action == "save":
                if fake.args.fake_save_fails:
                    self._json(
                        500,
                        {
                            "error": {
                                "code": 500,
                                "message": "No space left on device",
                                "type": "server_error",
                            }
                        },
                    )
                    return
                path.write_text(f"FAKESLOT {fake.slot_tokens[slot]}")
                timings = {"save_ms": 0.1}
                self._json(200, {"id_slot": slot, "n_saved": fake.slot_tokens[slot], "timings": timings})
                return
            text = path.read_text(errors="replace") if path.is_file() else ""
            if not text.startswith("FAKESLOT "):
                message = "Unable to restore slot: No available space in KV cache or invalid slot save file"
                self._json(400, {"error": {"code": 400, "message": message, "type": "invalid_request_error"}})
                return
            fake.slot_tokens[slot] = int(text.split()[1])
            self._json(
                200, {"id_slot": slot, "n_restored": fake.slot_tokens[slot], "timings": {"restore_ms": 0.1}}
            )

        def _complete(self, body: dict[str, object], chat: bool) -> None:
            fake.slot_tokens[0] = 5 + len(json.dumps(body.get("messages", [])))
            n = int(str(body.get("max_tokens", 8)))
            delay = float(str(body.get("fake_token_s", 0)))
            words = [f"tok{i} " for i in range(n)]
            if not body.get("stream"):
                time.sleep(delay * n)  # the whole answer is generated before it is sent
                text = "".join(words)
                choice = {"index": 0, "finish_reason": "length"}
                choice.update({"message": {"role": "assistant", "content": text}} if chat else {"text": text})
                usage = {"prompt_tokens": 5, "completion_tokens": n, "total_tokens": 5 + n}
                reply = {"object": "chat.completion", "model": fake.model, "choices": [choice]}
                self._json(200, {**reply, "usage": usage})
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            fake.count("started")
            fake.count("active")
            try:
                for i, word in enumerate([*words, None]):
                    if delay and i:
                        time.sleep(delay)
                    delta = {"content": word} if word is not None else {}
                    finish = None if word is not None else "length"
                    choice = {"index": 0, "finish_reason": finish}
                    choice.update({"delta": delta} if chat else {"text": word or ""})
                    chunk = {"object": "chat.completion.chunk", "model": fake.model, "choices": [choice]}
                    self._chunk(f"data: {json.dumps(chunk)}\n\n".encode())
                self._chunk(b"data: [DONE]\n\n")
                self._chunk(b"")
                fake.count("finished")
            except (BrokenPipeError, ConnectionResetError):
                fake.count("aborted")
                self.close_connection = True
            finally:
                fake.count("active", -1)

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("-m", "--model", default="fake.gguf")
    parser.add_argument("-c", "--ctx-size", type=int, default=4096)
    parser.add_argument("-np", "--parallel", type=int, default=1)
    parser.add_argument("--metrics", action="store_true")
    parser.add_argument("--slot-save-path", default=None)
    parser.add_argument("--fake-save-fails", action="store_true")
    parser.add_argument("--fake-load-s", type=float, default=0.1)
    parser.add_argument("--fake-exit-on-load", type=int, default=None)
    parser.add_argument("--fake-oom", action="store_true")
    parser.add_argument("--fake-hang-load", action="store_true")
    args, _ = parser.parse_known_args()
    print(f"main: loading model '{args.model}' ctx {args.ctx_size} slots {args.parallel}", flush=True)
    if args.fake_exit_on_load is not None:
        time.sleep(args.fake_load_s)
        if args.fake_oom:
            print("ggml_backend_cuda_buffer_type_alloc_buffer: cudaMalloc failed: out of memory", flush=True)
        sys.exit(args.fake_exit_on_load)
    server = ThreadingHTTPServer((args.host, args.port), handler_for(Fake(args)))
    server.daemon_threads = True
    print(f"main: server is listening on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
