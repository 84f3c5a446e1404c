"""Streaming through a real uvicorn: SSE chunk by chunk, disconnects, forced and graceful swaps, raw paths."""

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ADMIN_TOKEN, API_KEY, companion, make_config, running, serving

pytestmark = pytest.mark.anyio
AUTH = {"Authorization": f"Bearer {API_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def chat(tokens: int, token_s: float, model: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": tokens,
        "stream": True,
    }
    body["fake_token_s"] = token_s
    if model:
        body["model"] = model
    return body


async def fake_stats(upstream: str) -> dict[str, int]:
    async with httpx.AsyncClient() as direct:
        stats: dict[str, int] = (await direct.get(f"{upstream}/fake/stats")).json()
        return stats


async def wait_aborted(upstream: str) -> dict[str, int]:
    """The fake's stats once it has seen one stream aborted (it notices at its next token's write)."""
    deadline = asyncio.get_running_loop().time() + 10
    while (stats := await fake_stats(upstream))["aborted"] != 1:
        assert asyncio.get_running_loop().time() < deadline, stats
        await asyncio.sleep(0.02)
    return stats


async def test_sse_is_relayed_as_it_is_generated(tmp_path: Path) -> None:
    async with running(make_config(tmp_path)) as swapd, serving(swapd.app) as url:
        await swapd.wait_for("fast")
        upstream = await swapd.upstream()
        async with (
            httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as client,
            client.stream("POST", "/v1/chat/completions", json=chat(20, 0.05)) as reply,
        ):
            assert reply.headers["content-type"].startswith("text/event-stream")
            assert reply.headers["x-swapd-tier"] == "fast"
            lines = reply.aiter_lines()
            first = await anext(lines)
            assert first.startswith("data: ")
            # The first event reached us while llama-server was still generating: nothing buffered it.
            assert (await fake_stats(upstream))["active"] == 1
            rest = [line async for line in lines if line]
        assert rest[-1] == "data: [DONE]"
        assert len(rest) == 21  # 19 more tokens, the finish chunk, [DONE]


async def test_client_disconnect_cancels_upstream_and_frees_the_slot(tmp_path: Path) -> None:
    async with running(make_config(tmp_path)) as swapd, serving(swapd.app) as url:
        await swapd.wait_for("fast")
        upstream = await swapd.upstream()
        async with (
            httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as client,
            client.stream("POST", "/v1/chat/completions", json=chat(400, 0.02)) as reply,
        ):
            lines = reply.aiter_lines()
            await anext(lines)
        # Leaving the block closed the connection mid-stream.
        await swapd.wait_until(lambda s: s["in_flight"] == {}, "the slot released")
        assert (await wait_aborted(upstream))["finished"] == 0


async def test_client_disconnect_from_a_companion_frees_its_slot(tmp_path: Path) -> None:
    """The companions' gate is released like the driver's: its one slot serves the next request."""
    async with running(make_config(tmp_path, companions=[companion(tmp_path)])) as swapd:
        await swapd.wait_companion("ready")
        upstream = await swapd.companion_upstream("fim")
        async with (
            serving(swapd.app) as url,
            httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as client,
        ):
            async with client.stream("POST", "/v1/chat/completions", json=chat(400, 0.02, "fim")) as reply:
                assert reply.headers["x-swapd-companion"] == "fim"
                await anext(reply.aiter_lines())
            await swapd.wait_until(lambda s: s["companions"][0]["in_flight"] == 0, "the slot released")
            after = await client.post("/v1/chat/completions", json={**chat(2, 0, "fim"), "stream": False})
        assert after.status_code == 200 and after.headers["x-swapd-companion"] == "fim"
        assert (await wait_aborted(upstream))["finished"] == 0


async def test_queued_client_that_leaves_is_removed_from_the_queue(tmp_path: Path) -> None:
    config = make_config(
        tmp_path, tiers=[{"name": "fast", "model": "/m/f.gguf", "ctx_size": 64, "parallel": 1}]
    )
    async with running(config) as swapd, serving(swapd.app) as url:
        await swapd.wait_for("fast")
        async with (
            httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as client,
            client.stream("POST", "/v1/chat/completions", json=chat(400, 0.02)) as first,
        ):
            lines = first.aiter_lines()  # kept: a collected line iterator closes the response
            await anext(lines)
            waiting = asyncio.create_task(client.post("/v1/chat/completions", json=chat(1, 0)))
            await swapd.wait_until(lambda s: s["queued"] == 1, "one request queued")
            waiting.cancel()  # the client goes away while queued
            await asyncio.wait([waiting])
            await swapd.wait_until(lambda s: s["queued"] == 0, "the queue emptied")
            assert (await swapd.status())["in_flight"] == {"fast": 1}


async def test_swap_lets_running_streams_finish_then_serves_the_new_tier(tmp_path: Path) -> None:
    async with running(make_config(tmp_path)) as swapd, serving(swapd.app) as url:
        await swapd.wait_for("fast")
        async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as client:
            async with client.stream("POST", "/v1/chat/completions", json=chat(15, 0.03)) as reply:
                lines = reply.aiter_lines()
                await anext(lines)
                accepted = await client.post("/swapd/swap", json={"tier": "deep"}, headers=ADMIN)
                assert accepted.json()["state"] == "draining"
                after = asyncio.create_task(
                    client.post("/v1/chat/completions", json={**chat(2, 0), "stream": False})
                )
                rest = [line async for line in lines if line]
            assert rest[-1] == "data: [DONE]" and not any("error" in line for line in rest)
            served = await after
            assert served.headers["x-swapd-tier"] == "deep"


async def test_forced_swap_ends_streams_with_a_clear_error(tmp_path: Path) -> None:
    async with running(make_config(tmp_path)) as swapd, serving(swapd.app) as url:
        await swapd.wait_for("fast")
        async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as client:
            async with client.stream("POST", "/v1/chat/completions", json=chat(400, 0.02)) as reply:
                lines = reply.aiter_lines()
                await anext(lines)
                await client.post("/swapd/swap", json={"tier": "deep", "force": True}, headers=ADMIN)
                rest = [line async for line in lines if line]
            error = json.loads(rest[-1].removeprefix("data: "))["error"]
            assert error["source"] == "swapd" and "forced swap to 'deep'" in error["message"]
        await swapd.wait_for("deep")


async def test_raw_dot_segments_are_refused(tmp_path: Path) -> None:
    async with running(make_config(tmp_path)) as swapd, serving(swapd.app) as url:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"GET /v1/../swapd/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + API_KEY.encode()
        )
        writer.write(b"\r\nConnection: close\r\n\r\n")
        answer = await reader.read()
        writer.close()
        assert answer.startswith(b"HTTP/1.1 400")
        assert b"refused path" in answer
        assert (await swapd.status())["state"] in ("starting", "ready")


async def test_no_secret_reaches_a_log_or_an_answer(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Plant the sentinel key and token everywhere a careless line might echo them."""
    caplog.set_level(logging.DEBUG)
    answers = []
    async with running(make_config(tmp_path)) as swapd, serving(swapd.app) as url:
        await swapd.wait_for("fast")
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            wrong = {"Authorization": f"Bearer {API_KEY}x"}
            answers.append(await client.post("/v1/chat/completions", json=chat(2, 0), headers=wrong))
            answers.append(
                await client.get("/swapd/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}!"})
            )
            # A secret in a field the client sent may be echoed back to that client; it is never logged.
            echoed = await client.post(
                "/v1/chat/completions", json={**chat(2, 0), "model": API_KEY}, headers=AUTH
            )
            answers.append(await client.post("/v1/chat/completions", json=chat(2, 0), headers=AUTH))
            answers.append(await client.get("/swapd/logs", params={"tail": 2000}, headers=ADMIN))
            echoed_too = await client.post("/swapd/swap", json={"tier": ADMIN_TOKEN}, headers=ADMIN)
    assert [a.status_code for a in answers] == [401, 401, 200, 200]
    assert echoed.status_code == echoed_too.status_code == 404
    logged = caplog.text + "".join(r.getMessage() for r in caplog.records)
    for secret in (API_KEY, ADMIN_TOKEN):
        assert secret not in logged
        for answer in answers:
            assert secret not in answer.text, answer.request.url
