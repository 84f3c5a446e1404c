"""`assistant chat`: the terminal front end of the agent loop.

Streams the answer, prints one line per tool call, asks y/N for confirmations, and takes `/tier`,
`/status`, `/reset`, `/tools`, `/help` and `/quit`. On a terminal a spinner shows what is being waited
for (a tier loading, the prompt being read); without one (pipes, tests) the same facts are plain lines.
"""

import asyncio
import json
import logging
import signal
import threading
from typing import TextIO

from assistant.agent import (
    Agent,
    AgentEvent,
    ConfirmationNeeded,
    Final,
    Notice,
    ToolCallFinished,
    ToolCallStarted,
    TurnFailed,
)
from assistant.config import TIERS, AssistantConfig
from assistant.errors import AssistantError
from assistant.llm import LlmClient, PromptProgress, ReasoningDelta, SwapWait, TextDelta
from assistant.mcp_client import ToolServers
from assistant.policy import ConfirmationRequest, Policy
from assistant.session import open_session
from assistant.swapd_control import SwapdControl, SwapDone, TierState

log = logging.getLogger(__name__)

HELP = (
    "commands: /tier fast|balanced|deep|auto  /status  /tools  /reset  /help  /quit\n"
    "anything else is a message to the assistant"
)
SPINNER_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
SPINNER_INTERVAL_S = 0.1
# Tool output shown on a tool's line; the model always gets all of it.
SHOWN_OUTPUT_CHARS = 100


class Lines:
    """Lines typed by the user, read off the event loop; None once input ends.

    stdin blocks, and a blocked read cannot be cancelled, so one daemon thread reads it for the whole
    session and hands lines over; a confirmation that times out therefore never swallows the next line.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._pump, name="stdin", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        for line in iter(self._stream.readline, ""):
            self._loop.call_soon_threadsafe(self._queue.put_nowait, line.rstrip("\n"))
        self._loop.call_soon_threadsafe(self._queue.put_nowait, None)

    def close(self) -> None:
        """End the input as if it had run out."""
        self._queue.put_nowait(None)

    async def read(self) -> str | None:
        line = await self._queue.get()
        if line is None:
            self._queue.put_nowait(None)  # every later read sees the end too
        return line


class Spinner:
    """One status line redrawn in place on a terminal; plain lines, once per change, elsewhere."""

    def __init__(self, out: TextIO, tty: bool) -> None:
        self._out = out
        self._tty = tty
        self._status: str | None = None
        self._frame = 0

    def show(self, status: str) -> None:
        if status == self._status:
            return
        self._status = status
        if self._tty:
            self._draw()
        else:
            self._out.write(f"  … {status}\n")
            self._out.flush()

    def clear(self) -> None:
        if self._status is not None and self._tty:
            self._out.write("\r\033[2K")
            self._out.flush()
        self._status = None

    async def spin(self) -> None:
        """Animate while a status is shown (terminal only); cancelled by its owner."""
        while self._tty:
            await asyncio.sleep(SPINNER_INTERVAL_S)  # animation cadence, not synchronisation
            if self._status is not None:
                self._frame += 1
                self._draw()

    def _draw(self) -> None:
        frame = SPINNER_FRAMES[self._frame % len(SPINNER_FRAMES)]
        self._out.write(f"\r\033[2K{frame} {self._status}")
        self._out.flush()


def describe_state(event: TierState) -> str:
    """A `state` event as "loading deep: load 40%"."""
    tier = event.tier or "no tier"
    if event.message:
        text = event.message
    elif event.state in ("ready", "stopped", "failed"):
        text = f"{tier} is {event.state}"
    else:
        text = f"{'loading' if event.state == 'starting' else event.state} {tier}"
    if event.phase:
        text += f": {event.phase}"
    if event.progress is not None:
        text += f" {event.progress:.0%}"
    return text


def _one_line(text: str, limit: int = SHOWN_OUTPUT_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class Terminal:
    """The REPL: reads lines, runs turns, renders every agent event."""

    def __init__(
        self,
        config: AssistantConfig,
        llm: LlmClient,
        tools: ToolServers,
        control: SwapdControl | None,
        lines: Lines,
        out: TextIO,
        *,
        tty: bool,
    ) -> None:
        self._policy = Policy(config.policy)
        self._agent = Agent(llm, tools, self._policy, self.confirm, config.chat, tier=config.llm.tier)
        self._tools = tools
        self._control = control
        self._lines = lines
        self._out = out
        self._tty = tty
        self._show_reasoning = config.chat.show_reasoning
        self._spinner = Spinner(out, tty)
        self._at_line_start = True
        self._in_reply = False
        self._thought = False
        self._running: asyncio.Task[None] | None = None

    @property
    def agent(self) -> Agent:
        return self._agent

    async def confirm(self, request: ConfirmationRequest) -> bool:
        """The `Confirm` callback: y or yes is a yes; anything else, or the end of input, is a no."""
        arguments = json.dumps(dict(request.arguments), ensure_ascii=False)
        self._write(f"  ? run {request.tool} {arguments}\n    ({request.reason}) [y/N] ")
        answer = await self._read()
        return answer is not None and answer.strip().lower() in ("y", "yes")

    async def run(self) -> int:
        self._write(
            f"Variet chat: tier {self._agent.tier}, {len(self._tools.specs())} tools. /help for commands\n"
        )
        async with asyncio.TaskGroup() as group:
            spinner = group.create_task(self._spinner.spin())
            try:
                while True:
                    self._write("you> ")
                    line = await self._read()
                    if line is None:
                        return 0
                    text = line.strip()
                    if not text:
                        continue
                    if text.startswith("/"):
                        if not await self._command(text):
                            return 0
                        continue
                    self._running = group.create_task(self._turn(text))
                    try:
                        await self._running
                    except asyncio.CancelledError:
                        current = asyncio.current_task()
                        if current is not None and current.cancelling():
                            raise  # the chat itself is being cancelled, not just this turn
                        self._line("  [interrupted]")
                    finally:
                        self._running = None
            finally:
                spinner.cancel()
        return 0  # pragma: no cover - the loop returns from inside the task group

    def interrupt(self) -> None:
        """Ctrl-C: stop the turn in progress (the conversation stays as before it); at the prompt, quit."""
        if self._running is not None:
            self._running.cancel()
        else:
            self._lines.close()

    async def _turn(self, text: str) -> None:
        self._in_reply = False
        self._thought = False
        async for event in self._agent.run(text):
            self._render(event)
        self._end_line()

    def _render(self, event: AgentEvent) -> None:
        """Draw one event: answer text after an `assistant>` prefix, everything else on its own line."""
        match event:
            case TextDelta(text=text):
                self._reply(text)
            case ReasoningDelta(text=text):
                self._thought = True
                if self._show_reasoning:
                    self._reply(f"\033[2m{text}\033[0m" if self._tty else text)
                elif self._tty:
                    self._spinner.show("thinking")
            case SwapWait(message=message, retry_after_s=wait):
                self._line(f"  … swapd is swapping tiers ({message}); retrying in {wait:.0f}s")
            case PromptProgress(processed=processed, total=total):
                if self._tty and total:
                    self._spinner.show(f"reading the prompt {processed / total:.0%}")
            case ToolCallStarted(tool=tool, arguments=arguments, raw_arguments=raw):
                shown = json.dumps(arguments, ensure_ascii=False) if arguments is not None else raw
                self._line(f"  → {tool} {_one_line(shown)}")
            case ConfirmationNeeded():
                self._end_line()
            case ToolCallFinished(tool=tool, ok=ok, output=output, untrusted=untrusted):
                label = " [untrusted]" if untrusted else ""
                self._line(f"  {'✓' if ok else '✗'} {tool}{label}: {_one_line(output)}")
            case Notice(message=message):
                self._line(f"  [note] {message}")
            case Final(text=text):
                if not text.strip() and self._thought and not self._show_reasoning:
                    self._line(
                        "  [note] the model answered only in its reasoning, which is hidden: "
                        "set chat.show_reasoning = true to see it"
                    )
                self._end_line()
            case TurnFailed(message=message):
                self._line(f"  [error] {message}")

    def _reply(self, text: str) -> None:
        self._spinner.clear()
        if not self._in_reply:
            self._end_line()
            self._write("assistant> ")
            self._in_reply = True
        self._write(text)

    def _line(self, text: str) -> None:
        """A status line of its own; the answer, if it goes on, gets a fresh prefix."""
        self._end_line()
        self._write(text + "\n")
        self._in_reply = False

    def _end_line(self) -> None:
        self._spinner.clear()
        if not self._at_line_start:
            self._write("\n")

    async def _command(self, text: str) -> bool:
        """Run a slash command; False means quit."""
        name, _, argument = text.partition(" ")
        argument = argument.strip()
        try:
            if name in ("/quit", "/exit"):
                return False
            if name == "/help":
                self._write(HELP + "\n")
            elif name == "/reset":
                self._agent.reset()
                self._write("conversation cleared\n")
            elif name == "/tools":
                self._show_tools()
            elif name == "/status":
                await self._show_status()
            elif name == "/tier":
                await self._swap(argument)
            else:
                self._write(f"unknown command {name}; {HELP}\n")
        except AssistantError as exc:
            self._spinner.clear()
            self._write(f"[error] {exc}\n")
        return True

    def _show_tools(self) -> None:
        for spec in self._tools.specs():
            verdict = self._policy.decide(spec.name, spec.hints, tainted=self._agent.tainted)
            self._write(f"  {spec.name:32} {verdict.decision:8} {_one_line(spec.description, 60)}\n")
        for state in self._tools.states():
            if not state.running:
                self._write(f"  server {state.name} is down: {state.error or 'stopped'}\n")
        if not self._tools.specs():
            self._write("  no tools (add [mcp.servers.<name>] to the config)\n")

    async def _show_status(self) -> None:
        taint = "; untrusted content is in this conversation" if self._agent.tainted else ""
        self._write(f"asking for tier {self._agent.tier}{taint}\n")
        if self._control is None:
            self._write(
                "swapd's control API is not configured (llm.control_socket or llm.admin_token_file)\n"
            )
            return
        status = await self._control.status()
        self._write(f"swapd: tier {status.tier or '-'} is {status.state}, {status.queued} queued\n")
        for gpu in status.gpus:
            self._write(f"  gpu {gpu.index} {gpu.name}: {gpu.used_mib}/{gpu.total_mib} MiB\n")

    async def _swap(self, tier: str) -> None:
        if tier not in (*TIERS, "auto"):
            self._write(f"usage: /tier {'|'.join(TIERS)}|auto\n")
            return
        self._agent.tier = tier
        if tier == "auto" or self._control is None:
            self._write(f"requests now ask for tier {tier}; swapd swaps on the next message if needed\n")
            return
        async for event in self._control.follow_swap(tier):
            if isinstance(event, TierState):
                self._spinner.show(describe_state(event))
            elif isinstance(event, SwapDone):
                self._spinner.clear()
                if not event.ok:
                    self._write(f"[error] swap to {tier} failed: {event.error or 'unknown error'}\n")
                    return
        self._spinner.clear()
        self._write(f"tier {tier} is ready\n")

    async def _read(self) -> str | None:
        line = await self._lines.read()
        if line is None:
            self._end_line()
        elif self._tty:
            self._at_line_start = True  # the terminal echoed the line and its Enter
        else:
            self._write(line + "\n")  # a pipe echoes nothing; keep the transcript readable
        return line

    def _write(self, text: str) -> None:
        if text:
            self._out.write(text)
            self._out.flush()
            self._at_line_start = text.endswith("\n")


async def chat(config: AssistantConfig, stdin: TextIO, stdout: TextIO, *, tty: bool) -> int:
    """Run the REPL until /quit or the end of input; the exit code."""
    lines = Lines(stdin)
    async with open_session(config) as session:
        llm, tools, control = session.llm, session.tools, session.control
        for state in tools.states():
            if not state.running:
                stdout.write(f"[warning] tool server {state.name} did not start: {state.error}\n")
        terminal = Terminal(config, llm, tools, control, lines, stdout, tty=tty)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, terminal.interrupt)
        try:
            return await terminal.run()
        finally:
            loop.remove_signal_handler(signal.SIGINT)
