"""Keep llama-server's prompt cache across swaps: save each slot's KV cache before a tier stops and
restore it after the tier loads again, so a long agent conversation is not prefilled again.

Files live in `<state_dir>/slots/<tier>/slot-<id>.bin` (llama-server's `--slot-save-path`), capped in
total size with the least recently used evicted first. A failed save or restore is logged and
skipped, never fatal: the cost is one prefill.
"""

import logging
import os
from pathlib import Path
from typing import Any

import httpx

from swapd.logs import line

log = logging.getLogger(__name__)
MIB = 1024 * 1024


class PromptCache:
    def __init__(self, root: Path, max_mib: int, client: httpx.AsyncClient) -> None:
        self._root = root
        self._max_bytes = max_mib * MIB
        self._client = client

    def directory(self, tier: str) -> Path:
        return self._root / tier

    def prepare(self, tier: str) -> None:
        self.directory(tier).mkdir(parents=True, exist_ok=True)

    async def save(self, tier: str, upstream: str) -> int:
        """Save every slot that holds a prompt; returns how many were saved."""
        try:
            reply = await self._client.get(f"{upstream}/slots", timeout=5.0)
            slots: list[dict[str, Any]] = reply.json() if reply.status_code == 200 else []
        except (httpx.HTTPError, ValueError) as exc:
            log.warning(line("cache.save_skipped", tier=tier, error=type(exc).__name__))
            return 0
        saved = 0
        for slot in slots:
            if not slot.get("n_prompt_tokens") or slot.get("is_processing"):
                continue
            name = f"slot-{slot['id']}.bin"
            answer = await self._action(upstream, slot["id"], "save", name)
            if answer is not None and answer.get("n_saved"):
                saved += 1
                log.info(line("cache.saved", tier=tier, slot=slot["id"], tokens=answer["n_saved"],
                              ms=answer.get("timings", {}).get("save_ms")))  # fmt: skip
            else:
                (self.directory(tier) / name).unlink(missing_ok=True)
                log.warning(line("cache.save_failed", tier=tier, slot=slot["id"]))
        enforce_cap(self._root, self._max_bytes)
        return saved

    async def restore(self, tier: str, upstream: str) -> int:
        """Restore the slots saved for this tier; a file llama-server refuses is dropped."""
        restored = 0
        for path in sorted(self.directory(tier).glob("slot-*.bin")):
            slot = int(path.stem.removeprefix("slot-"))
            answer = await self._action(upstream, slot, "restore", path.name)
            if answer is not None and answer.get("n_restored"):
                restored += 1
                os.utime(path)  # recently used: evicted last
                log.info(line("cache.restored", tier=tier, slot=slot, tokens=answer["n_restored"],
                              ms=answer.get("timings", {}).get("restore_ms")))  # fmt: skip
            else:
                path.unlink(missing_ok=True)
                log.warning(line("cache.restore_failed", tier=tier, slot=slot, file=path.name))
        return restored

    async def _action(self, upstream: str, slot: int, action: str, filename: str) -> dict[str, Any] | None:
        try:
            reply = await self._client.post(
                f"{upstream}/slots/{slot}",
                params={"action": action},
                json={"filename": filename},
                timeout=60.0,
            )
        except httpx.HTTPError as exc:
            log.warning(line(f"cache.{action}_error", slot=slot, error=type(exc).__name__))
            return None
        if reply.status_code != 200:
            log.warning(line(f"cache.{action}_refused", slot=slot, status=reply.status_code))
            return None
        try:
            answer: dict[str, Any] = reply.json()
            return answer
        except ValueError:
            return None


def enforce_cap(root: Path, max_bytes: int) -> None:
    """Delete the least recently used slot files under root until their total fits max_bytes."""
    files = sorted(root.glob("*/slot-*.bin"), key=lambda p: p.stat().st_mtime)
    total = sum(p.stat().st_size for p in files)
    for path in files:
        if total <= max_bytes:
            break
        total -= path.stat().st_size
        path.unlink(missing_ok=True)
        log.info(line("cache.evicted", file=f"{path.parent.name}/{path.name}"))
