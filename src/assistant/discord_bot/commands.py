"""Slash commands: /tier and /status through swapd's control API, /reset and /tools. Owners only.

Swaps can take minutes, so /tier answers at once and edits its answer with the swap's progress
("loading deep… 40%"), at most once per edit interval.
"""

import asyncio
import logging
from typing import Any, Literal

import discord
from discord import app_commands

from assistant.discord_bot.answer import NO_MENTIONS, Answerer, Backend
from assistant.discord_bot.chain import Chains
from assistant.discord_bot.clock import Clock
from assistant.discord_bot.render import swap_line
from assistant.discord_bot.settings import DiscordSettings
from assistant.discord_bot.split import split
from assistant.discord_bot.stream import LiveMessage
from assistant.errors import SwapdControlError
from assistant.swapd_control import Status, SwapDone, TierState

log = logging.getLogger(__name__)

Interaction = discord.Interaction[Any]
TierChoice = Literal["fast", "balanced", "deep", "auto"]
_NO_CONTROL = (
    "swapd's control API is not configured: set llm.control_socket, or llm.admin_token_file "
    "(or the swapd-admin-token credential)"
)


def format_status(status: Status, asked: str) -> str:
    """`/status` as a few lines: tier and state, GPUs, queue, the last swap's timing."""
    pinned = f", pinned to {status.pinned}" if isinstance(status.pinned, str) else ""
    if status.pinned is True:
        pinned = ", pinned"
    lines = [f"**tier** {status.tier or 'none'} ({status.state}{pinned}); requests ask for `{asked}`"]
    for gpu in status.gpus:
        util = f", {gpu.util_pct:.0f}% busy" if gpu.util_pct is not None else ""
        lines.append(f"**GPU {gpu.index}** {gpu.name}: {gpu.used_mib:,} / {gpu.total_mib:,} MiB{util}")
    in_flight = ", ".join(f"{tier} {n}" for tier, n in status.in_flight.items() if n) or "none"
    lines.append(f"**queue** {status.queued} waiting; in flight: {in_flight}")
    swap = status.last_swap
    if swap:
        took = swap.get("took_s")
        phases = swap.get("phases")
        detail = ""
        if isinstance(phases, dict) and phases:
            detail = " (" + ", ".join(f"{name} {float(s):.1f} s" for name, s in phases.items()) + ")"
        took_text = f" in {float(took):.1f} s" if isinstance(took, int | float) else ""
        lines.append(f"**last swap** {swap.get('from') or '-'} → {swap.get('to') or '-'}{took_text}{detail}")
    else:
        lines.append("**last swap** none yet")
    return "\n".join(lines)


class Commands:
    """The slash commands, sharing the bot's answerer (for the tier) and chains (for /reset)."""

    def __init__(
        self, settings: DiscordSettings, answerer: Answerer, chains: Chains, backend: Backend, clock: Clock
    ) -> None:
        self._settings = settings
        self._answerer = answerer
        self._chains = chains
        self._backend = backend
        self._clock = clock

    def register(self, tree: app_commands.CommandTree[Any]) -> None:
        @tree.command(
            name="tier", description="Switch swapd to a tier (fast, balanced, deep) or follow it (auto)"
        )
        @app_commands.describe(tier="fast, balanced or deep; auto asks for whichever tier is active")
        async def tier(interaction: Interaction, tier: TierChoice) -> None:
            if await self._allowed(interaction):
                await self.tier(interaction, tier)

        @tree.command(name="status", description="swapd's tier, VRAM, queue and the last swap's timing")
        async def status(interaction: Interaction) -> None:
            if await self._allowed(interaction):
                await self.status(interaction)

        @tree.command(name="reset", description="Start a new conversation in this channel")
        async def reset(interaction: Interaction) -> None:
            if await self._allowed(interaction):
                await self.reset(interaction)

        @tree.command(name="tools", description="The enabled tools and whether they need your approval")
        async def tools(interaction: Interaction) -> None:
            if await self._allowed(interaction):
                await self.tools(interaction)

    async def _allowed(self, interaction: Interaction) -> bool:
        if interaction.user.id in self._settings.owner_ids:
            return True
        log.info(
            "discord.ignored reason=stranger user=%s command=%s",
            interaction.user.id,
            interaction.command.name if interaction.command else None,
        )
        await interaction.response.send_message("This bot answers its owner only.", ephemeral=True)
        return False

    async def tier(self, interaction: Interaction, tier: TierChoice) -> None:
        control = self._backend.control
        if tier == "auto" or control is None:
            self._answerer.tier = tier
            note = "" if tier == "auto" or control is not None else f"\n-# {_NO_CONTROL}"
            await _send(
                interaction, f"Requests now ask for `{tier}`; swapd swaps when a message needs it.{note}"
            )
            return
        await _send(interaction, f"swapping to {tier}…")
        live = LiveMessage(await interaction.original_response(), self._clock, self._settings.edit_interval_s)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(live.run())
            try:
                outcome: TierState | SwapDone | None = None
                async for event in control.follow_swap(tier):
                    outcome = event
                    if isinstance(event, TierState):
                        live.show(swap_line(event))
                live.show(self._swapped(tier, outcome))
            except SwapdControlError as exc:
                live.show(f"⚠️ {exc}")
            finally:
                live.close()

    def _swapped(self, tier: str, outcome: TierState | SwapDone | None) -> str:
        if outcome is None:
            return f"⚠️ swapd closed its event stream before the swap to {tier} ended; see /status"
        if (isinstance(outcome, SwapDone) and not outcome.ok) or (
            isinstance(outcome, TierState) and outcome.state == "failed"
        ):
            return f"⚠️ {swap_line(outcome)}"
        self._answerer.tier = tier
        return f"✅ {swap_line(outcome)}"

    async def status(self, interaction: Interaction) -> None:
        control = self._backend.control
        if control is None:
            await _send(interaction, f"⚠️ {_NO_CONTROL}")
            return
        try:
            text = format_status(await control.status(), self._answerer.tier)
        except SwapdControlError as exc:
            text = f"⚠️ {exc}"
        await _send(interaction, text)

    async def reset(self, interaction: Interaction) -> None:
        if interaction.channel_id is not None:
            self._chains.reset(interaction.channel_id, interaction.id)
        await _send(interaction, "🧹 New conversation: earlier messages in this channel are forgotten.")

    async def tools(self, interaction: Interaction) -> None:
        tools, policy = self._backend.tools, self._backend.policy
        lines = []
        for spec in tools.specs():
            verdict = policy.decide(spec.name, spec.hints, tainted=False)
            summary = " ".join(spec.description.split())[:80]
            lines.append(f"`{spec.name}` **{verdict.decision}** {summary}")
        for state in tools.states():
            if not state.running:
                lines.append(f"⚠️ server `{state.name}` is down: {state.error or 'stopped'}")
        if not lines:
            lines.append("No tools: add `[mcp.servers.<name>]` to assistant.toml.")
        lines.append("-# After untrusted content (web, mail) every outbound tool asks first.")
        await _send(interaction, "\n".join(lines))


async def _send(interaction: Interaction, text: str) -> None:
    """Answer an interaction, continuing in follow-ups past Discord's length limit."""
    first, *rest = split(text)
    await interaction.response.send_message(first, allowed_mentions=NO_MENTIONS, suppress_embeds=True)
    for part in rest:
        await interaction.followup.send(part, allowed_mentions=NO_MENTIONS, suppress_embeds=True)
