"""Streaming client for swapd's OpenAI-compatible API: tool-call deltas, swaps, an idle watchdog.

Wire format: OpenAI chat.completions streaming chunks (`data: {...}` lines, then `data: [DONE]`), as
llama-server emits them, plus llama-server's `prompt_progress` chunks (`return_progress`), `/props`
and `/tokenize`. httpx errors stop here and leave as `AssistantError`s.
"""

import asyncio
import email.utils
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal

import httpx

from assistant.errors import StreamCut, StreamStalled, UpstreamError, UpstreamUnreachable

log = logging.getLogger(__name__)

Role = Literal["system", "user", "assistant", "tool"]
# A JSON object as the OpenAI API takes it (tool schemas, request bodies).
JsonObject = dict[str, object]


@dataclass(frozen=True)
class ToolCall:
    """One call the model asked for; `arguments` is the raw JSON text the model wrote."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Message:
    """One chat message as the OpenAI API carries it."""

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    def to_wire(self) -> JsonObject:
        wire: JsonObject = {"role": self.role, "content": self.content}
        if self.tool_calls:
            wire["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.tool_calls
            ]
        if self.tool_call_id is not None:
            wire["tool_call_id"] = self.tool_call_id
        return wire


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer."""

    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """A piece of the model's thinking (`reasoning_content` or `<think>`), kept apart from the answer."""

    text: str


@dataclass(frozen=True)
class SwapWait:
    """swapd is swapping tiers (503); the request is retried after `retry_after_s`."""

    tier: str
    message: str
    retry_after_s: float


@dataclass(frozen=True)
class PromptProgress:
    """llama-server is reading the prompt: `processed` of `total` tokens."""

    processed: int
    total: int


@dataclass(frozen=True)
class Completion:
    """The whole reply, once the stream has finished."""

    content: str
    reasoning: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str | None
    usage: Usage | None
    tier: str | None


StreamEvent = TextDelta | ReasoningDelta | SwapWait | PromptProgress | Completion

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


class ThinkSplitter:
    """Routes inline `<think>…</think>` text to reasoning, whatever the chunking of the stream."""

    def __init__(self) -> None:
        self._inside = False
        self._pending = ""

    def feed(self, text: str) -> tuple[str, str]:
        """(answer, reasoning) that are certain so far; a possible tag prefix is held back."""
        answer: list[str] = []
        reasoning: list[str] = []
        buffer = self._pending + text
        while buffer:
            tag = THINK_CLOSE if self._inside else THINK_OPEN
            out = reasoning if self._inside else answer
            at = buffer.find(tag)
            if at >= 0:
                out.append(buffer[:at])
                buffer = buffer[at + len(tag) :]
                self._inside = not self._inside
                continue
            keep = _tag_prefix_len(buffer, tag)
            out.append(buffer[: len(buffer) - keep])
            buffer = buffer[len(buffer) - keep :]
            break
        self._pending = buffer
        return "".join(answer), "".join(reasoning)

    def flush(self) -> tuple[str, str]:
        """Whatever is held back, once the stream has ended."""
        rest, self._pending = self._pending, ""
        return ("", rest) if self._inside else (rest, "")


def _tag_prefix_len(text: str, tag: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `tag`."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


@dataclass
class _CallBuilder:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ToolCallAssembler:
    """Joins streamed tool-call deltas: keyed by `index`; id and name come once, arguments in pieces."""

    def __init__(self) -> None:
        self._calls: dict[int, _CallBuilder] = {}

    def add(self, delta: Mapping[str, object]) -> None:
        index = delta.get("index")
        if not isinstance(index, int):
            index = max(self._calls, default=-1) + (1 if delta.get("id") else 0)
            index = max(index, 0)
        call = self._calls.setdefault(index, _CallBuilder())
        if isinstance(call_id := delta.get("id"), str) and call_id and not call.id:
            call.id = call_id
        function = delta.get("function")
        if isinstance(function, Mapping):
            if isinstance(name := function.get("name"), str) and name and not call.name:
                call.name = name
            if isinstance(arguments := function.get("arguments"), str):
                call.arguments.append(arguments)

    def calls(self) -> tuple[ToolCall, ...]:
        return tuple(
            ToolCall(id=c.id or f"call_{i}", name=c.name, arguments="".join(c.arguments))
            for i, c in sorted(self._calls.items())
        )


def retry_after_seconds(value: str | None, default: float = 2.0) -> float:
    """`Retry-After` as seconds: a number or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, when.timestamp() - time.time())


def _error_message(response: httpx.Response) -> str:
    """The message from an OpenAI error envelope, or the status line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(error := body.get("error"), dict):
        message = error.get("message")
        if isinstance(message, str) and message:
            return message
    return f"HTTP {response.status_code}"


class LlmClient:
    """One swapd endpoint: streamed chat with tools, the context size and token counts."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        api_key: str | None,
        *,
        idle_timeout_s: float,
        connect_timeout_s: float = 10.0,
        swap_wait_s: float = 900.0,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # httpx's read timeout applies to each read, so it is an idle watchdog, not a deadline.
        self._timeout = httpx.Timeout(idle_timeout_s, connect=connect_timeout_s)
        self._idle_timeout_s = idle_timeout_s
        self._swap_wait_s = swap_wait_s
        self._max_tokens = max_tokens
        self._temperature = temperature

    async def stream_chat(
        self, messages: Sequence[Message], tools: Sequence[JsonObject], tier: str
    ) -> AsyncIterator[StreamEvent]:
        """Stream one reply; the last event is the `Completion`. Waits out swaps (503) while allowed."""
        body: JsonObject = {
            "model": tier,
            "messages": [m.to_wire() for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            "return_progress": True,
        }
        if tools:
            body["tools"] = list(tools)
            body["parallel_tool_calls"] = True
        if self._max_tokens is not None:
            body["max_tokens"] = self._max_tokens
        if self._temperature is not None:
            body["temperature"] = self._temperature
        deadline = time.monotonic() + self._swap_wait_s
        while True:
            async with self._open("POST", "/v1/chat/completions", body) as response:
                if response.status_code == 503:
                    await response.aread()
                    wait = retry_after_seconds(response.headers.get("Retry-After"))
                    if time.monotonic() + wait > deadline:
                        raise UpstreamError(
                            f"swapd is still busy after {self._swap_wait_s:.0f}s: {_error_message(response)}"
                        )
                    yield SwapWait(tier=tier, message=_error_message(response), retry_after_s=wait)
                    log.info("llm.swap_wait tier=%s retry_after_s=%.1f", tier, wait)
                    await asyncio.sleep(wait)  # the server's own back-off, not synchronisation
                    continue
                await self._raise_for_status(response)
                async for event in self._read_stream(response):
                    yield event
                return

    @asynccontextmanager
    async def _open(self, method: str, path: str, body: JsonObject | None) -> AsyncIterator[httpx.Response]:
        """An open streamed response; connection failures leave as UpstreamUnreachable."""
        request = self._http.build_request(
            method, self._base + path, json=body, headers=self._headers, timeout=self._timeout
        )
        try:
            response = await self._http.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise UpstreamUnreachable(f"swapd at {self._base} did not answer: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise UpstreamUnreachable(
                f"cannot reach swapd at {self._base}: {exc or type(exc).__name__}"
            ) from exc
        try:
            yield response
        finally:
            await response.aclose()

    async def _raise_for_status(self, response: httpx.Response) -> None:
        if response.is_success:
            return
        await response.aread()
        if response.status_code == 401:
            raise UpstreamError("swapd rejected the API key (401): check llm.api_key_file or its credential")
        raise UpstreamError(f"swapd answered {response.status_code}: {_error_message(response)}")

    async def _read_stream(self, response: httpx.Response) -> AsyncIterator[StreamEvent]:
        splitter = ThinkSplitter()
        calls = ToolCallAssembler()
        content: list[str] = []
        reasoning: list[str] = []
        finish_reason: str | None = None
        usage: Usage | None = None
        done = False
        try:
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    done = True
                    break
                chunk = _parse_chunk(data)
                if isinstance(progress := chunk.get("prompt_progress"), dict):
                    processed, total = progress.get("processed"), progress.get("total")
                    if isinstance(processed, int) and isinstance(total, int):
                        yield PromptProgress(processed=processed, total=total)
                if isinstance(raw_usage := chunk.get("usage"), dict):
                    usage = _usage(raw_usage)
                choices = chunk.get("choices")
                if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
                    continue
                choice = choices[0]
                if isinstance(reason := choice.get("finish_reason"), str):
                    finish_reason = reason
                delta = choice.get("delta")
                if not isinstance(delta, dict):
                    continue
                if isinstance(think := delta.get("reasoning_content"), str) and think:
                    reasoning.append(think)
                    yield ReasoningDelta(think)
                if isinstance(text := delta.get("content"), str) and text:
                    answer, thought = splitter.feed(text)
                    if thought:
                        reasoning.append(thought)
                        yield ReasoningDelta(thought)
                    if answer:
                        content.append(answer)
                        yield TextDelta(answer)
                for call in delta.get("tool_calls") or ():
                    if isinstance(call, dict):
                        calls.add(call)
        except httpx.ReadTimeout as exc:
            raise StreamStalled(
                f"the model sent nothing for {self._idle_timeout_s:.0f}s; raise llm.idle_timeout_s "
                "if the tier is just slow"
            ) from exc
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise StreamCut("the reply stream was cut off mid-way") from exc
        if not done and finish_reason is None:
            raise StreamCut("the reply stream ended before the model finished")
        answer, thought = splitter.flush()
        if thought:
            reasoning.append(thought)
            yield ReasoningDelta(thought)
        if answer:
            content.append(answer)
            yield TextDelta(answer)
        yield Completion(
            content="".join(content),
            reasoning="".join(reasoning),
            tool_calls=calls.calls(),
            finish_reason=finish_reason,
            usage=usage,
            tier=response.headers.get("X-Swapd-Tier"),
        )

    async def context_size(self, tier: str) -> int | None:
        """The tier's context size in tokens from llama-server's `/props`, or None if it does not say."""
        async with self._open("GET", f"/props?model={tier}", None) as response:
            await self._raise_for_status(response)
            await response.aread()
        try:
            props = response.json()
        except ValueError:
            return None
        settings = props.get("default_generation_settings") if isinstance(props, dict) else None
        n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
        return n_ctx if isinstance(n_ctx, int) and n_ctx > 0 else None

    async def count_tokens(self, text: str, tier: str) -> int:
        """Tokens in `text` by the serving model's own tokenizer (`/tokenize`)."""
        async with self._open("POST", "/tokenize", {"content": text, "model": tier}) as response:
            await self._raise_for_status(response)
            await response.aread()
        try:
            tokens = response.json().get("tokens")
        except (ValueError, AttributeError) as exc:
            raise UpstreamError("/tokenize answered something that is not a token list") from exc
        if not isinstance(tokens, list):
            raise UpstreamError("/tokenize answered something that is not a token list")
        return len(tokens)


def _parse_chunk(data: str) -> dict[str, object]:
    try:
        chunk = json.loads(data)
    except ValueError as exc:
        raise StreamCut("the reply stream carried a line that is not JSON") from exc
    if not isinstance(chunk, dict):
        raise StreamCut("the reply stream carried a line that is not a JSON object")
    if isinstance(error := chunk.get("error"), dict):
        raise UpstreamError(f"llama-server failed mid-reply: {error.get('message', 'unknown error')}")
    return chunk


def _usage(raw: Mapping[str, object]) -> Usage | None:
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    if isinstance(prompt, int) and isinstance(completion, int):
        return Usage(prompt_tokens=prompt, completion_tokens=completion)
    return None
