"""The prompt cache across swaps, against the fake llama-server's slot save and restore."""

import logging
import os
from pathlib import Path

import pytest
from conftest import Swapd, make_config, running, tier

from swapd.slots import enforce_cap

pytestmark = pytest.mark.anyio
CHAT = {"messages": [{"role": "user", "content": "a long agent conversation"}], "max_tokens": 1}


async def swap(swapd: Swapd, name: str) -> None:
    await swapd.client.post("/swapd/swap", json={"tier": name}, headers=swapd.admin)
    await swapd.wait_for(name)


async def test_slots_are_saved_before_a_stop_and_restored_after_the_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with running(make_config(tmp_path)) as swapd:
        await swapd.wait_for("fast")
        assert (await swapd.client.post("/v1/chat/completions", json=CHAT)).status_code == 200
        await swap(swapd, "deep")
        saved = tmp_path / "state" / "slots" / "fast" / "slot-0.bin"
        assert saved.read_text().startswith("FAKESLOT ")
        await swap(swapd, "fast")
        slots = (await swapd.client.get("/slots")).json()
        assert slots[0]["n_prompt_tokens"] == int(saved.read_text().split()[1])
        assert "cache.restored tier=fast slot=0" in caplog.text
        assert "cache_restore" in (await swapd.status())["last_swap"]["phases"]


async def test_a_corrupt_slot_file_is_refused_and_the_tier_loads_anyway(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    corrupt = tmp_path / "state" / "slots" / "deep" / "slot-0.bin"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(b"\x00not a slot file from this model")
    async with running(make_config(tmp_path)) as swapd:
        await swapd.wait_for("fast")
        await swap(swapd, "deep")
        assert not corrupt.exists()
        assert "cache.restore_failed tier=deep slot=0" in caplog.text
        assert (await swapd.client.post("/v1/chat/completions", json=CHAT)).headers["x-swapd-tier"] == "deep"


async def test_a_failed_save_is_a_warning_and_the_swap_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    tiers = [tier("fast", 2, "--fake-save-fails"), tier("deep")]
    async with running(make_config(tmp_path, tiers=tiers)) as swapd:
        await swapd.wait_for("fast")
        await swapd.client.post("/v1/chat/completions", json=CHAT)
        await swap(swapd, "deep")
        assert "cache.save_refused slot=0 status=500" in caplog.text
        assert not list((tmp_path / "state" / "slots").glob("*/slot-*.bin"))


def test_disk_use_is_capped_evicting_the_least_recently_used(tmp_path: Path) -> None:
    ages = {"fast/slot-0.bin": 300, "deep/slot-0.bin": 200, "deep/slot-1.bin": 100}
    for name, age in ages.items():
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"x" * 450_000)
        os.utime(path, (path.stat().st_atime, path.stat().st_mtime - age))
    enforce_cap(tmp_path, 1024 * 1024)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.glob("*/*.bin")) == [
        "deep/slot-0.bin",
        "deep/slot-1.bin",
    ]
