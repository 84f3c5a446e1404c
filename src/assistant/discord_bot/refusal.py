"""Discord saying no to a request, as discord.py reports it: an HTTP error, or a rate limit it gave back.

The bot sets `max_ratelimit_timeout` (bot.py), so a 429 longer than that raises `RateLimited`, which
is not an `HTTPException`; code that carries on when Discord refuses catches both.
"""

import discord

Refusal = discord.HTTPException | discord.RateLimited
REFUSALS = (discord.HTTPException, discord.RateLimited)


def fields(exc: Refusal) -> str:
    """The refusal as log fields: `status=404 code=10008`, or `status=429 retry_after=120.0`."""
    if isinstance(exc, discord.RateLimited):
        return f"status=429 retry_after={exc.retry_after:.1f}"
    return f"status={exc.status} code={exc.code}"
