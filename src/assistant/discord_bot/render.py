"""What an answer looks like while the agent works: its text, a status line, warnings; no Discord calls.

The status line says what is happening between text (a tier loading, a tool running, an approval
awaited); reasoning is collected apart and never shown inline. Only the final step's text is the
answer, so text the model wrote before calling a tool is shown while it streams and then replaced.
"""

from dataclasses import dataclass, field

from assistant.agent import (
    AgentEvent,
    ConfirmationNeeded,
    Final,
    Notice,
    ToolCallFinished,
    ToolCallStarted,
    TurnFailed,
)
from assistant.discord_bot.split import open_fence
from assistant.llm import PromptProgress, ReasoningDelta, SwapWait, TextDelta
from assistant.swapd_control import SwapDone, TierState

_PHASES = {
    "drain": "finishing requests before loading",
    "stop": "stopping the old tier for",
    "vram_release": "freeing VRAM for",
    "load": "loading",
    "health": "starting",
    "cache_restore": "restoring the prompt cache of",
}


def swap_line(event: TierState | SwapDone) -> str:
    """A swap's progress in a few words, e.g. `loading deep… 40%`."""
    if isinstance(event, SwapDone):
        if event.ok:
            took = f" in {event.took_s:.1f} s" if event.took_s is not None else ""
            return f"{event.to} is ready{took}"
        return f"the swap to {event.to} failed: {event.error or 'no reason given'}"
    tier = event.tier or "the next tier"
    if event.state == "ready":
        return f"{tier} is ready"
    if event.state == "failed":
        return f"{tier} failed to load: {event.message or 'see swapctl logs'}"
    verb = _PHASES.get(event.phase or "", event.state)
    progress = f" {event.progress:.0%}" if event.progress is not None else ""
    return f"{verb} {tier}…{progress}"


@dataclass
class Rendering:
    """The state of one answer on screen, updated by agent events."""

    warnings: list[str] = field(default_factory=list)
    text: str = ""
    reasoning: str = ""
    status: str | None = None
    failure: str | None = None
    final: bool = False
    # Something worth posting a message for: text, a swap, a tool, a failure (not prefill or thinking).
    visible: bool = False
    # Calls that had a confirmation prompt: their outcome is edited into the prompt instead.
    prompted: set[str] = field(default_factory=set)

    def apply(self, event: AgentEvent) -> None:
        match event:
            case TextDelta(text=text):
                self.text += text
                self.status = None
                self.visible = self.visible or bool(self.text.strip())
            case ReasoningDelta(text=text):
                self.reasoning += text
                if not self.text:
                    self.status = "thinking…"
            case PromptProgress(processed=done, total=total) if total > 0:
                self.status = f"reading the conversation… {done / total:.0%}"
            case SwapWait(message=message, tier=tier):
                self.swap(message or f"waiting for {tier}")
            case ToolCallStarted(tool=tool):
                self.text = ""
                self.status = f"🔧 running `{tool}`…"
                self.visible = True
            case ConfirmationNeeded(request=request):
                self.prompted.add(request.call_id)
                self.status = f"🔐 waiting for your approval to run `{request.tool}`…"
            case ToolCallFinished(call_id=call_id, tool=tool, ok=False, output=output) if (
                call_id not in self.prompted
            ):
                first_line = output.strip().splitlines()[0] if output.strip() else "no detail"
                self.warn(f"`{tool}` failed: {first_line[:200]}")
                self.status = "thinking…"
            case ToolCallFinished():
                self.status = "thinking…"
            case Notice(message=message):
                self.warn(message)
            case Final(text=text):
                self.text, self.status, self.final, self.visible = text, None, True, True
            case TurnFailed(message=message):
                self.failure, self.status, self.final, self.visible = message, None, True, True

    def swap(self, line: str) -> None:
        """A tier swap is holding the answer up."""
        if not self.text:
            self.status = f"⏳ {line}"
            self.visible = True

    def interrupt(self, reason: str) -> None:
        """The answer stops here, unfinished."""
        self.failure, self.status, self.final = reason, None, True

    def warn(self, warning: str) -> None:
        if warning not in self.warnings:
            self.warnings.append(warning)

    def show(self) -> str:
        """The whole message text: answer, failure, status line while working, then warnings."""
        body = self.text
        fence = open_fence(body)
        if fence is not None:
            # Close a code block still streaming, so the status line below is not inside it.
            body += "\n" + fence.marker
        lines = [body.strip()] if body.strip() else []
        if self.failure is not None:
            lines.append(f"⚠️ {self.failure}")
        elif self.final and not lines:
            lines.append("(the model gave an empty answer)")
        if not self.final:
            lines.append(f"-# {self.status or '…'}")
        lines += [f"-# ⚠️ {warning}" for warning in self.warnings]
        return "\n".join(lines)
