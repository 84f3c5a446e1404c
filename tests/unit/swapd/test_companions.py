"""Companions in-process against fake llama-server children: routing beside the tiers, no swap and
no waiting on one, restarts, a missing model file, VRAM kept for a companion, and what status,
events, metrics, /v1/models and logs show."""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Swapd, companion, make_config, running, serving, tier
from prometheus_client.parser import text_string_to_metric_families

from swapd.gpu import FileGpu

pytestmark = pytest.mark.anyio
INFILL = {"model": "fim", "input_prefix": "def add(a, b):\n    return ", "input_suffix": "\n", "n_predict": 4}
SAMPLE_GPUS = Path(__file__).resolve().parents[2] / "fakes" / "gpu-2x3060.json"


async def next_of(swapd: Swapd, kind: str, until: dict[str, Any], events: Any) -> list[dict[str, Any]]:
    """Event data of one kind until one matches `until`; the stream ending first fails the test."""
    seen = []
    while (message := await events.next()) is not None:
        if message.kind == kind:
            seen.append(message.data)
            if all(message.data.get(k) == v for k, v in until.items()):
                return seen
    raise AssertionError(f"the event stream ended before a {kind} event with {until}; saw {seen}")


async def test_companion_requests_go_to_its_own_server_and_never_swap(tmp_path: Path) -> None:
    config = make_config(tmp_path, companions=[companion(tmp_path, "fim", aliases=["coder"])])
    async with running(config) as swapd:
        await swapd.wait_for("fast")
        await swapd.wait_companion("ready")
        for model in ("fim", "coder"):
            reply = await swapd.client.post("/infill", json={**INFILL, "model": model})
            assert reply.status_code == 200, reply.text
            assert reply.headers["x-swapd-companion"] == "fim" and "x-swapd-tier" not in reply.headers
            assert reply.json()["model"] == "fim.gguf", "the companion's own llama-server answered"
        props = await swapd.client.get("/props", params={"model": "fim"})
        assert props.json()["model_path"].endswith("fim.gguf")
        tier_reply = await swapd.client.post("/infill", json={**INFILL, "model": "auto"})
        assert tier_reply.headers["x-swapd-tier"] == "fast" and tier_reply.json()["model"] == "fast.gguf"
        status = await swapd.status()
        assert (status["tier"], status["state"]) == ("fast", "ready")
        history = (await swapd.client.get("/swapd/history", headers=swapd.admin)).json()["swaps"]
        assert [(s["from"], s["to"]) for s in history] == [(None, "fast")], "only the boot; no swap"


async def test_companion_is_served_while_a_tier_load_hangs(tmp_path: Path) -> None:
    tiers = [tier("fast", 2), {**tier("deep", 1, "--fake-hang-load"), "load_timeout_s": 120}]
    config = make_config(tmp_path, tiers=tiers, companions=[companion(tmp_path)])
    async with running(config) as swapd:
        await swapd.wait_for("fast")
        await swapd.wait_companion("ready")
        answer = await swapd.client.post("/swapd/swap", json={"tier": "deep"}, headers=swapd.admin)
        assert answer.status_code == 202
        await swapd.wait_for("deep", "starting")
        for _ in range(3):
            reply = await swapd.client.post("/infill", json=INFILL)
            assert reply.status_code == 200 and reply.headers["x-swapd-companion"] == "fim"
        status = await swapd.status()
        assert (status["tier"], status["state"]) == ("deep", "starting"), "the swap was still in progress"


async def test_crashed_companion_restarts_with_backoff_and_events_say_so(tmp_path: Path) -> None:
    async with running(make_config(tmp_path, companions=[companion(tmp_path)])) as swapd:
        await swapd.wait_for("fast")
        await swapd.wait_companion("ready")
        tier_upstream = await swapd.upstream()
        first = await swapd.companion_upstream("fim")
        with swapd.hub.subscribe() as events:
            async with httpx.AsyncClient() as direct:
                with pytest.raises(httpx.TransportError):
                    await direct.post(f"{first}/fake/crash")
            seen = await next_of(swapd, "companion", {"state": "ready"}, events)
        assert [e["state"] for e in seen] == ["restarting", "starting", "ready"]
        assert "exited with 3" in seen[0]["message"]
        entry = await swapd.companion()
        assert (entry["state"], entry["restarts"]) == ("ready", 1)
        assert await swapd.companion_upstream("fim") != first
        assert (await swapd.client.post("/infill", json=INFILL)).status_code == 200
        assert await swapd.upstream() == tier_upstream, "the tier was left alone"


async def test_missing_model_file_fails_the_companion_once_and_tiers_still_serve(tmp_path: Path) -> None:
    missing = {**companion(tmp_path), "model": str(tmp_path / "gone.gguf")}
    async with running(make_config(tmp_path, companions=[missing])) as swapd:
        await swapd.wait_for("fast")
        entry = await swapd.wait_companion("failed")
        assert entry["error"] == (
            f"model file {tmp_path / 'gone.gguf'} does not exist; fix companion 'fim' and restart swapd"
        )
        refused = await swapd.client.post("/infill", json=INFILL)
        assert refused.status_code == 503 and "retry-after" not in refused.headers
        error = refused.json()["error"]
        assert error["source"] == "swapd" and error["message"].startswith(
            "companion 'fim' failed: model file"
        )
        chat = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
        assert (await swapd.client.post("/v1/chat/completions", json=chat)).status_code == 200
        assert (await swapd.companion())["restarts"] == 0, "a missing file is not retried"
        text = (await swapd.client.get("/metrics")).text
    refusals = [
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "swapd_companion_requests_total" and s.labels == {"companion": "fim", "status": "503"}
    ]
    assert refusals == [1], "the refusal is counted against the companion it named"


async def test_tier_load_keeps_vram_for_a_companion_that_is_not_loaded(tmp_path: Path) -> None:
    gpus = tmp_path / "gpus.json"
    gpus.write_text(SAMPLE_GPUS.read_text())  # 24576 MiB, 24261 of it free
    failing = companion(tmp_path, "fim", "--fake-exit-on-load", "1", vram_mib=1000)
    tiers = [tier("fast", 2), {**tier("deep"), "vram_mib": 23_000}]
    config = make_config(tmp_path, tiers=tiers, companions=[failing], restart_backoff_s=30)
    async with running(config, probe=FileGpu(gpus)) as swapd:
        await swapd.wait_for("fast")
        await swapd.wait_companion("restarting")
        with swapd.hub.subscribe() as events:
            await swapd.client.post("/swapd/swap", json={"tier": "deep"}, headers=swapd.admin)
            (ended,) = await next_of(swapd, "swap", {"to": "deep"}, events)
        assert ended["ok"] is False
        assert ended["error"] == (
            "tier 'deep' needs 23000 MiB + 512 MiB margin but only 24261 MiB of VRAM is free, of which "
            "1000 MiB is kept for companion 'fim' (not loaded yet); stop other GPU processes or lower "
            "the tier's vram_mib"
        )
        assert (await swapd.wait_for("fast"))["tier"] == "fast", "it rolled back; deep never started"


async def test_a_tier_that_fits_beside_a_loaded_companion_loads(tmp_path: Path) -> None:
    gpus = tmp_path / "gpus.json"
    gpus.write_text(SAMPLE_GPUS.read_text())
    tiers = [tier("fast", 2), {**tier("deep"), "vram_mib": 23_000}]
    config = make_config(tmp_path, tiers=tiers, companions=[companion(tmp_path, vram_mib=1000)])
    async with running(config, probe=FileGpu(gpus)) as swapd:
        await swapd.wait_for("fast")
        await swapd.wait_companion("ready")
        reply = await swapd.client.post("/v1/chat/completions", json={"model": "deep", "messages": []})
        assert reply.status_code == 200 and reply.headers["x-swapd-tier"] == "deep"


async def test_status_models_metrics_and_logs_show_companions(tmp_path: Path) -> None:
    config = make_config(tmp_path, companions=[companion(tmp_path, vram_mib=900, aliases=["coder"])])
    async with running(config) as swapd:
        await swapd.wait_for("fast")
        entry = await swapd.wait_companion("ready")
        assert entry == {
            "name": "fim",
            "aliases": ["coder"],
            "state": "ready",
            "in_flight": 0,
            "restarts": 0,
            "error": None,
            "ctx_size": 512,
            "vram_mib": 900,
        }
        assert (await swapd.client.post("/infill", json=INFILL)).status_code == 200
        models = {m["id"]: m for m in (await swapd.client.get("/v1/models")).json()["data"]}
        assert set(models) == {"fast", "balanced", "deep", "fim"}
        assert models["fim"]["companion"] is True and models["fim"]["state"] == "ready"
        lines = (
            await swapd.client.get("/swapd/logs", params={"companion": "fim"}, headers=swapd.admin)
        ).json()["lines"]
        assert any("fim.gguf" in text for text in lines) and not any("fast.gguf" in text for text in lines)
        unknown = await swapd.client.get("/swapd/logs", params={"companion": "nope"}, headers=swapd.admin)
        assert unknown.status_code == 404 and "unknown companion 'nope'" in unknown.json()["error"]["message"]
        text = (await swapd.client.get("/metrics")).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("swapd_companion_ready", (("companion", "fim"),))] == 1
    assert samples[("swapd_companion_restarts_total", (("companion", "fim"),))] == 0
    assert samples[("swapd_companion_requests_total", (("companion", "fim"), ("status", "200")))] == 1
    assert samples[("swapd_companion_in_flight", (("companion", "fim"),))] == 0
    assert not any(
        name == "swapd_requests_total" and dict(labels).get("tier") == "fim" for name, labels in samples
    )


async def test_event_stream_opens_with_each_companions_state(tmp_path: Path) -> None:
    async with running(make_config(tmp_path, companions=[companion(tmp_path)])) as swapd:
        await swapd.wait_for("fast")
        await swapd.wait_companion("ready")
        async with (
            serving(swapd.app) as url,
            httpx.AsyncClient(base_url=url, headers=swapd.admin) as client,
            client.stream("GET", "/swapd/events") as stream,
        ):
            lines = stream.aiter_lines()
            opening = [await anext(lines) for _ in range(6)]
    assert opening[0:2] == ["event: state", opening[1]] and json.loads(opening[1][6:])["tier"] == "fast"
    assert opening[3:5] == ["event: companion", 'data: {"name": "fim", "state": "ready", "message": ""}']
