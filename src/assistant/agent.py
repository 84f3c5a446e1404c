"""The agent loop: ask the model, run its tool calls under the policy, feed results back, stop.

Every front end renders the same loop through the events `Agent.run` yields; the loop has no UI code.
Bad input never ends the conversation: an unknown tool, arguments that are not JSON or break the schema,
a server that dies mid-call or a refused confirmation become a tool result the model reads; a stream cut
half-way is asked again once, then the turn ends with `TurnFailed` and the next turn starts clean.
"""

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

from assistant.config import ChatSettings
from assistant.errors import StreamCut, StreamStalled, ToolFailed, UpstreamError, UpstreamUnreachable
from assistant.leaked_calls import find_leaked_calls
from assistant.llm import (
    Completion,
    JsonObject,
    LlmClient,
    Message,
    PromptProgress,
    ReasoningDelta,
    SwapWait,
    TextDelta,
    ToolCall,
    Usage,
)
from assistant.mcp_client import ToolServers
from assistant.policy import Confirm, ConfirmationRequest, Policy

log = logging.getLogger(__name__)

# Per-message framing the chat template adds around each message (role markers), in tokens.
MESSAGE_OVERHEAD_TOKENS = 8


@dataclass(frozen=True)
class ToolCallStarted:
    """The model asked for a tool; `arguments` is None when its JSON did not parse."""

    call_id: str
    tool: str
    arguments: Mapping[str, object] | None
    raw_arguments: str


@dataclass(frozen=True)
class ConfirmationNeeded:
    """The policy wants a human yes; the front end's `Confirm` callback is asked next."""

    request: ConfirmationRequest


@dataclass(frozen=True)
class ToolCallFinished:
    """A call ended; `output` is exactly what the model reads (labelled when untrusted)."""

    call_id: str
    tool: str
    ok: bool
    output: str
    untrusted: bool


@dataclass(frozen=True)
class Notice:
    """Something the user should know that is not an error: history trimmed, a call recovered."""

    message: str


@dataclass(frozen=True)
class Final:
    """The answer of this turn; `tier` is the tier that served it (X-Swapd-Tier), if known."""

    text: str
    tier: str | None
    steps: int
    usage: Usage | None


@dataclass(frozen=True)
class TurnFailed:
    """This turn ended without an answer; the conversation goes on."""

    message: str


AgentEvent = (
    TextDelta
    | ReasoningDelta
    | SwapWait
    | PromptProgress
    | ToolCallStarted
    | ConfirmationNeeded
    | ToolCallFinished
    | Notice
    | Final
    | TurnFailed
)


def parse_arguments(raw: str) -> JsonObject:
    """A call's arguments as an object; ToolFailed with a message the model can act on."""
    try:
        value = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        raise ToolFailed(
            f"the arguments are not valid JSON ({exc.msg} at character {exc.pos}); "
            "call the tool again with one JSON object that matches its schema"
        ) from exc
    if not isinstance(value, dict):
        raise ToolFailed("the arguments must be a JSON object; call the tool again with one")
    try:
        # A lone \ud800-\udfff escape decodes to text no UTF-8 transport can carry: sent to a stdio
        # tool server, it breaks the connection and the server restarts.
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError as exc:
        raise ToolFailed(
            "the arguments hold half of a character (a lone \\ud800-\\udfff escape); "
            "call the tool again with whole characters"
        ) from exc
    return value


def split_turns(history: Sequence[Message]) -> list[list[Message]]:
    """Turns start at user messages, so dropping whole turns never parts a call from its result."""
    turns: list[list[Message]] = []
    for message in history:
        if message.role == "user" or not turns:
            turns.append([])
        turns[-1].append(message)
    return turns


class Agent:
    """One conversation: its history, the tier it asks for, and whether untrusted content is in it."""

    def __init__(
        self,
        llm: LlmClient,
        tools: ToolServers,
        policy: Policy,
        confirm: Confirm,
        settings: ChatSettings,
        tier: str = "auto",
    ) -> None:
        self._llm = llm
        self._tools = tools
        self._policy = policy
        self._confirm = confirm
        self._settings = settings
        self._tier = tier
        self._served: str | None = None
        self._history: list[Message] = []
        self._tainted = False
        self._token_cache: dict[Message, int] = {}
        self._context_size: dict[str, int | None] = {}
        # Template tokens the server counted beyond our estimate on the last request.
        self._overhead = 0

    @property
    def tier(self) -> str:
        """The tier asked for on each request: a tier name, an alias, or `auto` for the active one."""
        return self._tier

    @tier.setter
    def tier(self, tier: str) -> None:
        self._tier = tier
        self._token_cache.clear()

    @property
    def tainted(self) -> bool:
        """Untrusted content has entered this conversation; outbound tools need a yes until /reset."""
        return self._tainted

    @property
    def history(self) -> tuple[Message, ...]:
        return tuple(self._history)

    def resume(self, history: Sequence[Message], *, tainted: bool) -> None:
        """Continue a conversation kept elsewhere (the Discord bot's reply chains) instead of this one."""
        self._history = list(history)
        self._tainted = tainted
        self._token_cache.clear()

    def reset(self) -> None:
        """Forget the conversation (the system prompt and tools stay, so the prompt cache still hits)."""
        self._history.clear()
        self._tainted = False
        self._token_cache.clear()

    async def run(self, user_text: str) -> AsyncIterator[AgentEvent]:
        """One turn: stream events until `Final` or `TurnFailed`.

        A turn abandoned midway (its task cancelled, or this iterator closed early) leaves the history as
        it was, so no tool call is ever left without its result.
        """
        before = list(self._history)
        ended = False
        try:
            async for event in self._turn(user_text):
                ended = isinstance(event, Final | TurnFailed)
                yield event
        except (asyncio.CancelledError, GeneratorExit):
            if not ended:
                self._history = before
            raise

    async def _turn(self, user_text: str) -> AsyncIterator[AgentEvent]:
        self._history.append(Message("user", user_text))
        specs = self._tools.specs()
        tools = [spec.to_openai() for spec in specs]
        schemas = {spec.name: spec.input_schema for spec in specs}
        for step in range(1, self._settings.max_steps + 1):
            try:
                messages, estimate, dropped = await self._fit(tools)
            except UpstreamUnreachable as exc:
                yield TurnFailed(str(exc))
                return
            if dropped:
                yield Notice(f"dropped the {dropped} oldest turn(s) to fit the context size")
            completion: Completion | None = None
            for attempt in (1, 2):
                try:
                    async for streamed in self._llm.stream_chat(messages, tools, self.tier):
                        if isinstance(streamed, Completion):
                            completion = streamed
                        else:
                            yield streamed
                    break
                except StreamCut as exc:
                    if attempt == 1:
                        yield Notice(f"{exc}; asking again")
                        continue
                    yield TurnFailed(f"{exc}, twice; try again")
                    return
                except (StreamStalled, UpstreamError) as exc:
                    yield TurnFailed(str(exc))
                    return
            assert completion is not None
            if completion.tier != self._served:
                # Another tier answered (a swap under `auto`): its context size and tokenizer may differ.
                self._served = completion.tier
                self._context_size.clear()
                self._token_cache.clear()
            if completion.usage is not None and estimate is not None:
                self._overhead = max(0, completion.usage.prompt_tokens - estimate)
            calls, content = completion.tool_calls, completion.content
            if not calls and tools:
                leaked, cleaned = find_leaked_calls(content, schemas)
                if not leaked:
                    leaked, _ = find_leaked_calls(completion.reasoning, schemas)
                else:
                    content = cleaned
                calls = tuple(
                    ToolCall(f"text_call_{step}_{i}", call.name, json.dumps(call.arguments))
                    for i, call in enumerate(leaked)
                )
                if calls:
                    yield Notice(f"recovered {len(calls)} tool call(s) the model wrote as text")
            if not calls:
                self._history.append(Message("assistant", content))
                yield Final(text=content, tier=completion.tier, steps=step, usage=completion.usage)
                return
            parsed: list[tuple[ToolCall, JsonObject | ToolFailed]] = []
            for call in calls:
                try:
                    parsed.append((call, parse_arguments(call.arguments)))
                except ToolFailed as exc:
                    parsed.append((call, exc))
            # Arguments that are not JSON would break the chat template on the next request.
            kept = tuple(
                ToolCall(c.id, c.name, c.arguments if isinstance(a, dict) else "{}") for c, a in parsed
            )
            self._history.append(Message("assistant", content, tool_calls=kept))
            for call, arguments in parsed:
                async for event in self._call(call, arguments):
                    yield event
        yield TurnFailed(
            f"stopped after {self._settings.max_steps} steps without an answer; "
            "ask again, or raise chat.max_steps"
        )

    async def _call(self, call: ToolCall, arguments: JsonObject | ToolFailed) -> AsyncIterator[AgentEvent]:
        """Run one call under the policy; its outcome always lands in the history as a tool message."""
        yield ToolCallStarted(
            call.id, call.name, arguments if isinstance(arguments, dict) else None, call.arguments
        )
        untrusted = False
        try:
            if isinstance(arguments, ToolFailed):
                raise arguments
            spec = self._tools.spec(call.name)
            if spec is None:
                known = ", ".join(s.name for s in self._tools.specs()) or "none"
                raise ToolFailed(f"there is no tool named {call.name!r} (available: {known})")
            self._tools.validate(call.name, arguments)
            verdict = self._policy.decide(call.name, spec.hints, tainted=self._tainted)
            if verdict.decision == "deny":
                raise ToolFailed(f"{call.name} is not allowed here ({verdict.reason}); do not call it again")
            if verdict.decision == "confirm":
                request = ConfirmationRequest(call.id, call.name, arguments, verdict.reason)
                yield ConfirmationNeeded(request)
                if not await self._policy.ask(self._confirm, request):
                    raise ToolFailed(f"the user did not approve {call.name}; do not call it again unasked")
            output = await self._tools.call(call.name, arguments)
        except ToolFailed as exc:
            text, ok = f"error: {exc}", False
            log.info("agent.tool_failed tool=%s", call.name)
        else:
            text, ok, untrusted = output.text, not output.is_error, output.untrusted
            self._tainted = self._tainted or untrusted
        self._history.append(Message("tool", text, tool_call_id=call.id))
        yield ToolCallFinished(call.id, call.name, ok, text, untrusted)

    async def _fit(self, tools: Sequence[JsonObject]) -> tuple[list[Message], int | None, int]:
        """The messages to send, our token estimate of them, and how many old turns were dropped."""
        system = Message("system", self._settings.system_prompt)
        try:
            n_ctx = await self._n_ctx()
            if n_ctx is None:
                return [system, *self._history], None, 0
            fixed = await self._tokens(system) + await self._tools_tokens(tools)
            turns = split_turns(self._history)
            sizes = [sum([await self._tokens(m) for m in turn]) for turn in turns]
        except UpstreamUnreachable:
            raise  # the turn fails with this one line; there is nothing to budget for
        except UpstreamError as exc:
            log.warning("agent.budget_unknown error=%s", exc)
            return [system, *self._history], None, 0
        budget = n_ctx - self._settings.reply_reserve_tokens
        dropped = 0
        while len(turns) - dropped > 1 and fixed + self._overhead + sum(sizes[dropped:]) > budget:
            dropped += 1
        if dropped:
            self._history = [m for turn in turns[dropped:] for m in turn]
            log.info("agent.trimmed turns=%d", dropped)
        return [system, *self._history], fixed + sum(sizes[dropped:]), dropped

    async def _n_ctx(self) -> int | None:
        if self.tier not in self._context_size:
            self._context_size[self.tier] = await self._llm.context_size(self.tier)
        return self._context_size[self.tier]

    async def _tokens(self, message: Message) -> int:
        if message not in self._token_cache:
            text = message.content + "".join(c.name + c.arguments for c in message.tool_calls)
            count = await self._llm.count_tokens(text, self.tier) if text else 0
            self._token_cache[message] = count + MESSAGE_OVERHEAD_TOKENS
        return self._token_cache[message]

    async def _tools_tokens(self, tools: Sequence[JsonObject]) -> int:
        if not tools:
            return 0
        return await self._tokens(Message("system", json.dumps(list(tools), sort_keys=True)))
