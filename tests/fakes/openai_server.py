"""A scripted OpenAI-compatible chat server on a real loopback port, standing in for swapd + llama-server.

Speaks the wire formats of:
- OpenAI API reference, "Create chat completion" with `stream: true` and "The chat completion chunk
  object" (https://platform.openai.com/docs/api-reference/chat/streaming): `data: {chunk}` lines, tool
  calls as `delta.tool_calls[]` keyed by `index` with `id`, `type` and `function.name` on the first
  fragment only and `function.arguments` in pieces, a final `usage` chunk with empty `choices`
  (`stream_options.include_usage`), then `data: [DONE]`;
- llama.cpp `tools/server/README.md`: `delta.reasoning_content`, `prompt_progress` chunks
  (`return_progress`), `GET /props` (`default_generation_settings.n_ctx`), `POST /tokenize`
  (`{"tokens": [...]}`);
- swapd's contract (`docs/architecture.md`): `503` with `Retry-After` and the OpenAI error envelope plus
  `"source": "swapd"` during a swap, and the `X-Swapd-Tier` response header.
Each request to `/v1/chat/completions` takes the next scripted `Reply`; every request body is recorded.
"""

import asyncio
import json
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from localhost import free_port, wait_until
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

Chunk = dict[str, object]


@dataclass(frozen=True)
class Reply:
    """One scripted answer: streamed deltas, or an error status; `cut_after` drops the connection."""

    deltas: tuple[Chunk, ...] = ()
    finish_reason: str = "stop"
    status: int = 200
    retry_after: str | None = None
    message: str = ""
    cut_after: int | None = None
    stall_after: int | None = None
    tier: str = "balanced"
    progress: bool = False


def text(content: str, *, pieces: int = 3, reasoning: str = "", tier: str = "balanced") -> Reply:
    """An answer streamed in `pieces` content deltas, after optional `reasoning_content` deltas."""
    deltas: list[Chunk] = [{"role": "assistant", "content": None}]
    if reasoning:
        deltas += [{"reasoning_content": part} for part in _split(reasoning, pieces)]
    deltas += [{"content": part} for part in _split(content, pieces)]
    return Reply(tuple(deltas), tier=tier, progress=True)


def tool_calls(*calls: tuple[str, str], piece: int = 4, content: str = "") -> Reply:
    """Parallel calls `(name, arguments JSON)`, each one's arguments streamed `piece` chars at a time."""
    deltas: list[Chunk] = [{"role": "assistant", "content": content or None}]
    for index, (name, arguments) in enumerate(calls):
        deltas.append(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": f"call_{index}_{name}",
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }
                ]
            }
        )
        for start in range(0, len(arguments), piece):
            fragment = arguments[start : start + piece]
            deltas.append({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
    return Reply(tuple(deltas), finish_reason="tool_calls")


def busy(message: str = "swapping to deep: loading", retry_after: str = "0") -> Reply:
    """swapd's answer while a swap is in progress and its queue is full."""
    return Reply(status=503, retry_after=retry_after, message=message)


def cut(content: str, after: int = 2) -> Reply:
    """An answer whose connection drops after `after` deltas, mid-body."""
    reply = text(content, pieces=4)
    return Reply(reply.deltas, cut_after=after)


def stall(content: str, after: int = 2) -> Reply:
    """An answer that goes silent after `after` deltas, with the connection left open."""
    return Reply(text(content, pieces=4).deltas, stall_after=after)


def _split(text: str, pieces: int) -> list[str]:
    size = max(1, -(-len(text) // pieces))
    return [text[i : i + size] for i in range(0, len(text), size)]


@dataclass
class FakeOpenAI:
    """The script, the recorded requests, and the server's context size."""

    n_ctx: int = 8192
    replies: deque[Reply] = field(default_factory=deque)
    requests: list[dict[str, object]] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)
    url: str = ""
    # Set on shutdown, so a stalled reply ends and the server can stop.
    release: threading.Event = field(default_factory=threading.Event)

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/props", self._props, methods=["GET"]),
                Route("/tokenize", self._tokenize, methods=["POST"]),
                Route("/health", self._health, methods=["GET"]),
            ]
        )

    async def _health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def _props(self, request: Request) -> Response:
        return JSONResponse({"default_generation_settings": {"n_ctx": self.n_ctx}, "total_slots": 1})

    async def _tokenize(self, request: Request) -> Response:
        # One token per whitespace-separated word: a stand-in tokenizer, same shape as llama-server's.
        content = (await request.json()).get("content", "")
        return JSONResponse({"tokens": list(range(len(content.split())))})

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.authorizations.append(request.headers.get("authorization"))
        if not self.replies:
            return _error(500, "the fake's script is exhausted")
        reply = self.replies.popleft()
        if reply.status != 200:
            headers = {"Retry-After": reply.retry_after} if reply.retry_after is not None else {}
            return _error(reply.status, reply.message, headers)
        return StreamingResponse(
            self._stream(reply, str(body.get("model"))),
            media_type="text/event-stream",
            headers={"X-Swapd-Tier": reply.tier},
        )

    async def _stream(self, reply: Reply, model: str) -> AsyncIterator[str]:
        def chunk(delta: Chunk | None, finish: str | None = None, **extra: object) -> str:
            choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
            body = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": choices,
                **extra,
            }
            return f"data: {json.dumps(body)}\n\n"

        if reply.progress:
            progress = {"total": 10, "cache": 0, "processed": 10, "time_ms": 1.0}
            yield chunk({}, prompt_progress=progress)
        for i, delta in enumerate(reply.deltas):
            if reply.cut_after is not None and i == reply.cut_after:
                raise ConnectionAbortedError("scripted cut: the connection drops mid-body")
            if reply.stall_after is not None and i == reply.stall_after:
                await asyncio.to_thread(self.release.wait)  # silent until the test ends
            yield chunk(delta)
        yield chunk({}, reply.finish_reason)
        yield chunk(None, usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15})
        yield "data: [DONE]\n\n"


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    envelope = {"error": {"message": message, "type": "unavailable_error", "code": status, "source": "swapd"}}
    return JSONResponse(envelope, status_code=status, headers=headers)


@contextmanager
def serving(fake: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """Run the fake on a free loopback port in a thread (uvicorn), and stop it on exit."""
    port = free_port()
    config = uvicorn.Config(fake.app(), host="127.0.0.1", port=port, log_level="critical", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="fake-openai", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), timeout=10, what="the fake OpenAI server")
        fake.url = f"http://127.0.0.1:{port}"
        yield fake
    finally:
        fake.release.set()
        server.should_exit = True
        thread.join(timeout=10)
