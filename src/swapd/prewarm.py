"""Pull a tier's model file into the page cache while another tier serves, so its load reads RAM.

A plain sequential read is what makes the pages resident (WILLNEED alone is only advice to the
kernel's readahead, which caps it); it runs off the event loop.
"""

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path

from swapd.errors import PrewarmFailed

CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class Prewarmed:
    path: Path
    bytes: int
    took_s: float


def _read_through(path: Path) -> Prewarmed:
    started = time.monotonic()
    total = 0
    buffer = bytearray(CHUNK)  # one reused buffer keeps swapd's RSS flat however big the model is
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise PrewarmFailed(f"cannot prewarm {path}: {exc.strerror}; serving continues") from exc
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        while count := os.readv(fd, [buffer]):
            total += count
    except OSError as exc:
        raise PrewarmFailed(f"prewarming {path} stopped after {total} bytes: {exc.strerror}") from exc
    finally:
        os.close(fd)
    return Prewarmed(path, total, round(time.monotonic() - started, 3))


async def prewarm(path: Path) -> Prewarmed:
    return await asyncio.to_thread(_read_through, path)


def mem_available_mib(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """MemAvailable from /proc/meminfo, or None where there is no such file."""
    try:
        for text in meminfo.read_text().splitlines():
            if text.startswith("MemAvailable:"):
                return int(text.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def evict(path: Path) -> None:
    """Drop one file's pages from the page cache (the cold case of the prewarm benchmark)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
