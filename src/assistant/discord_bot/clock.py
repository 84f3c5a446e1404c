"""Time as a seam: edit spacing, 429 backoff and confirmation timeouts wait on it; tests move it by hand."""

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """A monotonic clock and a sleep that follows it."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
