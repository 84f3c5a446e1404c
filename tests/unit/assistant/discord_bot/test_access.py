"""Who is answered, where: owners in DMs, @mentions in allowed channels, threads under them."""

from hypothesis import given
from hypothesis import strategies as st

from assistant.discord_bot.access import Arrival, Place, Verdict, decide
from assistant.discord_bot.settings import DiscordSettings

OWNER, STRANGER, CHANNEL, OTHER_CHANNEL, THREAD = 1, 2, 10, 11, 20
SETTINGS = DiscordSettings(owner_ids=frozenset({OWNER}), channel_ids=frozenset({CHANNEL}))


def arrival(
    author: int = OWNER,
    place: Place = Place.DM,
    channel: int = 99,
    parent: int | None = None,
    addressed: bool = False,
    bot: bool = False,
    guild: int | None = None,
) -> Arrival:
    return Arrival(author, bot, place, channel, parent, guild, addressed)


def test_owner_dm_is_answered_without_a_mention() -> None:
    assert decide(SETTINGS, arrival()) is Verdict.ANSWER


def test_stranger_dm_is_flagged_for_the_log() -> None:
    assert decide(SETTINGS, arrival(author=STRANGER)) is Verdict.STRANGER


def test_channel_needs_a_mention_and_an_allowed_channel() -> None:
    assert decide(SETTINGS, arrival(place=Place.CHANNEL, channel=CHANNEL)) is Verdict.IGNORE
    assert decide(SETTINGS, arrival(place=Place.CHANNEL, channel=CHANNEL, addressed=True)) is Verdict.ANSWER
    elsewhere = arrival(place=Place.CHANNEL, channel=OTHER_CHANNEL, addressed=True)
    assert decide(SETTINGS, elsewhere) is Verdict.IGNORE
    mention = arrival(author=STRANGER, place=Place.CHANNEL, channel=CHANNEL, addressed=True)
    assert decide(SETTINGS, mention) is Verdict.STRANGER


def test_thread_under_an_allowed_channel_is_a_conversation() -> None:
    assert decide(SETTINGS, arrival(place=Place.THREAD, channel=THREAD, parent=CHANNEL)) is Verdict.ANSWER
    elsewhere = arrival(place=Place.THREAD, channel=THREAD, parent=OTHER_CHANNEL)
    assert decide(SETTINGS, elsewhere) is Verdict.IGNORE
    chatter = arrival(author=STRANGER, place=Place.THREAD, channel=THREAD, parent=CHANNEL)
    assert decide(SETTINGS, chatter) is Verdict.IGNORE


def test_issue_13_a_stranger_addressing_the_bot_anywhere_is_flagged_for_the_log() -> None:
    one_server = SETTINGS.model_copy(update={"guild_id": 500})
    elsewhere = arrival(author=STRANGER, place=Place.CHANNEL, channel=OTHER_CHANNEL, addressed=True)
    other_server = arrival(author=STRANGER, place=Place.CHANNEL, channel=CHANNEL, addressed=True, guild=501)
    other_thread = arrival(
        author=STRANGER, place=Place.THREAD, channel=THREAD, parent=OTHER_CHANNEL, addressed=True
    )
    assert decide(SETTINGS, elsewhere) is Verdict.STRANGER
    assert decide(one_server, other_server) is Verdict.STRANGER
    assert decide(SETTINGS, other_thread) is Verdict.STRANGER
    chatter = arrival(author=STRANGER, place=Place.CHANNEL, channel=OTHER_CHANNEL)
    assert decide(SETTINGS, chatter) is Verdict.IGNORE


@given(
    author=st.integers(1, 5),
    place=st.sampled_from(Place),
    channel=st.sampled_from([CHANNEL, OTHER_CHANNEL, THREAD]),
    parent=st.sampled_from([None, CHANNEL, OTHER_CHANNEL]),
    addressed=st.booleans(),
    bot=st.booleans(),
    guild=st.sampled_from([None, 500, 501]),
    guild_id=st.sampled_from([None, 500]),
)
def test_only_owners_are_ever_answered_bots_never_and_every_stranger_attempt_is_flagged(
    author: int,
    place: Place,
    channel: int,
    parent: int | None,
    addressed: bool,
    bot: bool,
    guild: int | None,
    guild_id: int | None,
) -> None:
    settings = SETTINGS.model_copy(update={"guild_id": guild_id})
    verdict = decide(settings, arrival(author, place, channel, parent, addressed, bot, guild))
    if verdict is Verdict.ANSWER:
        assert author == OWNER
        assert not bot
    if bot:
        assert verdict is Verdict.IGNORE
    attempt = not bot and author != OWNER and (addressed or place is Place.DM)
    assert (verdict is Verdict.STRANGER) == attempt


def test_with_a_guild_set_other_servers_are_ignored_and_dms_still_answered() -> None:
    one_server = SETTINGS.model_copy(update={"guild_id": 500})
    home = arrival(place=Place.CHANNEL, channel=CHANNEL, addressed=True, guild=500)
    elsewhere = arrival(place=Place.CHANNEL, channel=CHANNEL, addressed=True, guild=501)
    assert decide(one_server, home) is Verdict.ANSWER
    assert decide(one_server, elsewhere) is Verdict.IGNORE
    assert decide(one_server, arrival()) is Verdict.ANSWER
