"""Fan-out of control events (`state`, `swap`) to every open `/swapd/events` stream."""

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

BACKLOG = 256


@dataclass(frozen=True)
class Message:
    kind: str
    data: dict[str, object]


class Subscription:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[Message | None] = asyncio.Queue(BACKLOG)

    def offer(self, message: Message | None) -> bool:
        """Queue a message; False when this reader fell a whole backlog behind (it is then closed)."""
        try:
            self._queue.put_nowait(message)
            return True
        except asyncio.QueueFull:
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(None)
            return False

    async def next(self) -> Message | None:
        """The next message; None once the stream is closed (shutdown or the reader fell behind)."""
        return await self._queue.get()


class EventHub:
    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()
        self._closed = False

    def publish(self, kind: str, data: dict[str, object]) -> None:
        for sub in list(self._subscribers):
            if not sub.offer(Message(kind, data)):
                self._subscribers.discard(sub)

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        sub = Subscription()
        if self._closed:
            sub.offer(None)
        self._subscribers.add(sub)
        try:
            yield sub
        finally:
            self._subscribers.discard(sub)

    def close(self) -> None:
        """End every stream (at shutdown, so open event streams do not hold the server up)."""
        self._closed = True
        for sub in self._subscribers:
            sub.offer(None)
