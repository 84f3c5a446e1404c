"""Who the bot answers and where: a pure decision over IDs, so it is tested without Discord objects."""

import enum
from dataclasses import dataclass

from assistant.discord_bot.settings import DiscordSettings


class Place(enum.Enum):
    """Where a message was posted."""

    DM = "dm"
    CHANNEL = "channel"
    THREAD = "thread"


class Verdict(enum.Enum):
    """What to do with a message."""

    ANSWER = "answer"
    # Not for the bot (its own message, another bot, not addressed, a channel it does not serve).
    IGNORE = "ignore"
    # Addressed to the bot (or a DM) by someone not on the allow-list, anywhere: ignored, and logged.
    STRANGER = "stranger"


@dataclass(frozen=True)
class Arrival:
    """The facts about a new message that decide whether it is answered."""

    author_id: int
    author_is_bot: bool
    place: Place
    channel_id: int
    # A thread's parent channel; None elsewhere.
    parent_id: int | None
    # The server it was posted in; None in DMs.
    guild_id: int | None
    # The bot is @mentioned, or the message replies to one of the bot's messages.
    addressed: bool


def decide(settings: DiscordSettings, arrival: Arrival) -> Verdict:
    """DMs and threads of allowed channels are conversations; in an allowed channel only a mention is.

    A stranger who addresses the bot is flagged wherever it happens, in any channel or server, so the
    attempt is logged; their other chatter is not.
    """
    if arrival.author_is_bot:
        return Verdict.IGNORE
    if arrival.author_id not in settings.owner_ids:
        return Verdict.STRANGER if arrival.addressed or arrival.place is Place.DM else Verdict.IGNORE
    if (
        settings.guild_id is not None
        and arrival.place is not Place.DM
        and arrival.guild_id != settings.guild_id
    ):
        return Verdict.IGNORE
    match arrival.place:
        case Place.DM:
            for_bot = True
        case Place.CHANNEL:
            for_bot = arrival.addressed and arrival.channel_id in settings.channel_ids
        case Place.THREAD:
            for_bot = arrival.parent_id in settings.channel_ids or arrival.channel_id in settings.channel_ids
    return Verdict.ANSWER if for_bot else Verdict.IGNORE
