"""swapd in-process against fake llama-server children: routing, bad input, control API, faults."""

import asyncio
import json
import logging
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ADMIN_TOKEN, API_KEY, make_config, running, serving, tier
from localhost import free_port
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import Receive, Scope, Send

from swapd.app import control_socket, lan_socket
from swapd.gpu import FileGpu
from swapd.proxy import client_transport

pytestmark = pytest.mark.anyio
CHAT = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}


def envelope_of(reply: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = reply.json()["error"]
    assert error["source"] == "swapd"
    assert error["code"] == reply.status_code
    assert error["message"] and "\n" not in error["message"]
    return error


async def test_health_is_open_and_everything_else_needs_the_key(tmp_path: Path) -> None:
    async with running(make_config(tmp_path)) as swapd:
        anonymous = {"Authorization": ""}
        assert (await swapd.client.get("/health", headers=anonymous)).json() == {"status": "ok"}
        for headers in (anonymous, {"Authorization": "Bearer wrong"}, {"Authorization": API_KEY}):
            reply = await swapd.client.post("/v1/chat/completions", json=CHAT, headers=headers)
            assert reply.status_code == 401
            assert envelope_of(reply)["type"] == "authentication_error"
            assert (await swapd.client.get("/v1/models", headers=headers)).status_code == 401


async def test_chat_is_served_by_the_active_tier_or_the_one_named(tmp_path: Path) -> None:
    async with running(make_config(tmp_path)) as swapd:
        await swapd.wait_for("fast")
        reply = await swapd.client.post("/v1/chat/completions", json=CHAT)
        assert reply.status_code == 200
        assert reply.headers["x-swapd-tier"] == "fast"
        assert reply.json()["model"] == "fast.gguf"
        assert reply.json()["choices"][0]["message"]["content"] == "tok0 tok1 tok2 "
        aliased = await swapd.client.post("/v1/chat/completions", json={**CHAT, "model": "auto"})
        assert aliased.headers["x-swapd-tier"] == "fast"
        deep = await swapd.client.post("/v1/chat/completions", json={**CHAT, "model": "deep"})
        assert deep.status_code == 200
        assert deep.headers["x-swapd-tier"] == "deep" and deep.json()["model"] == "deep.gguf"
        status = await swapd.status()
        assert status["tier"] == "deep" and status["last_swap"]["from"] == "fast"
        assert set(status["last_swap"]["phases"]) >= {"stop", "load", "health"}


async def test_llama_server_endpoints_are_proxied(tmp_path: Path) -> None:
    async with running(make_config(tmp_path)) as swapd:
        await swapd.wait_for("fast")
        tokens = (await swapd.client.post("/tokenize", json={"content": "ab"})).json()
        assert tokens == {"tokens": [97, 98]}
        assert (await swapd.client.post("/detokenize", json={"tokens": [97]})).json() == {"content": "a"}
        assert (await swapd.client.get("/props")).json()["total_slots"] == 2
        assert len((await swapd.client.get("/slots", params={"model": "fast"})).json()) == 2
        assert (await swapd.client.post("/v1/embeddings", json={"input": "x"})).json()["data"][0]["embedding"]
        completion = await swapd.client.post("/v1/completions", json={"prompt": "x", "max_tokens": 1})
        assert completion.json()["choices"][0]["text"] == "tok0 "


async def test_models_lists_every_tier_with_aliases_and_state(tmp_path: Path) -> None:
    tiers = [{**tier("fast", 2), "aliases": ["gemma", "gpt-4o-mini"]}, tier("deep")]
    async with running(make_config(tmp_path, tiers=tiers)) as swapd:
        await swapd.wait_for("fast")
        data = (await swapd.client.get("/v1/models")).json()["data"]
        assert [(m["id"], m["aliases"], m["state"]) for m in data] == [
            ("fast", ["gemma", "gpt-4o-mini"], "ready"),
            ("deep", [], "stopped"),
        ]


BAD_INPUT = [
    ("POST", "/v1/chat/completions", b"{not json", 400, "not valid JSON"),
    ("POST", "/v1/chat/completions", b"[1, 2]", 400, "JSON object"),
    ("POST", "/v1/chat/completions", json.dumps({**CHAT, "model": 7}).encode(), 400, "must be a string"),
    (
        "POST",
        "/v1/chat/completions",
        json.dumps({**CHAT, "model": "deeep"}).encode(),
        404,
        "unknown model 'deeep'",
    ),
    ("POST", "/v1/chat/completions", b'{"pad": "' + b"x" * 1_100_000 + b'"}', 413, "over the"),
    ("POST", "/v1/chat/completions/%2e%2e/%2e%2e/slots", b"{}", 400, "refused path"),
    ("POST", "/v1//chat/completions", b"{}", 400, "refused path"),
    ("GET", "/v1/chat%2Fcompletions", b"", 400, "refused path"),
    ("GET", "/upstream/fast/slots", b"", 404, "no such endpoint"),
    ("POST", "/slots", b"{}", 405, "not allowed"),
    ("GET", "/swapd/status", b"", 401, "API key"),  # the API key is not the admin token
]


async def test_bad_input_gets_a_clear_4xx_and_leaves_the_tier_alone(tmp_path: Path) -> None:
    async with running(make_config(tmp_path, max_body_mib=1)) as swapd:
        await swapd.wait_for("fast")
        started = await swapd.started_count()
        for method, path, body, status, message in BAD_INPUT:
            reply = await swapd.client.request(method, path, content=body or None)
            assert reply.status_code == status, (path, body[:40], reply.text)
            assert message in envelope_of(reply)["message"], (path, body[:40])
            after = await swapd.status()
            assert (after["tier"], after["state"], after["last_swap"]["to"]) == ("fast", "ready", "fast")
            assert await swapd.started_count() == started


async def test_queue_past_its_bound_answers_503_with_retry_after(tmp_path: Path) -> None:
    config = make_config(tmp_path, max_queue=0, retry_after_s=7, tiers=[tier("fast", 1)])
    async with running(config) as swapd:
        await swapd.wait_for("fast")
        slow = asyncio.create_task(
            swapd.client.post("/v1/chat/completions", json={**CHAT, "fake_token_s": 0.2})
        )
        await swapd.wait_until(lambda s: s["in_flight"] == {"fast": 1}, "one request in flight")
        refused = await swapd.client.post("/v1/chat/completions", json=CHAT)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "7"
        assert "queue is full" in envelope_of(refused)["message"]
        assert (await slow).status_code == 200


async def test_pinned_policy_serves_the_active_tier_and_names_it(tmp_path: Path) -> None:
    async with running(make_config(tmp_path, policy="pinned")) as swapd:
        await swapd.wait_for("fast")
        reply = await swapd.client.post("/v1/chat/completions", json={**CHAT, "model": "deep"})
        assert reply.headers["x-swapd-tier"] == "fast"
        assert (await swapd.status())["tier"] == "fast"


async def test_control_swap_pin_unpin_and_unload(tmp_path: Path) -> None:
    async with running(make_config(tmp_path)) as swapd:
        await swapd.wait_for("fast")
        accepted = await swapd.client.post("/swapd/swap", json={"tier": "balanced"}, headers=swapd.admin)
        assert accepted.status_code == 202 and accepted.json()["tier"] == "balanced"
        await swapd.wait_for("balanced")
        assert (
            await swapd.client.post("/swapd/pin", json={"tier": "balanced"}, headers=swapd.admin)
        ).is_success
        conflict = await swapd.client.post("/swapd/swap", json={"tier": "deep"}, headers=swapd.admin)
        assert conflict.status_code == 409 and "pinned" in envelope_of(conflict)["message"]
        reply = await swapd.client.post("/v1/chat/completions", json={**CHAT, "model": "deep"})
        assert reply.headers["x-swapd-tier"] == "balanced"
        assert (await swapd.status())["pinned"] == "balanced"
        assert (await swapd.client.post("/swapd/unpin", json={}, headers=swapd.admin)).json()[
            "message"
        ] == "unpinned"
        tiers = (await swapd.client.get("/swapd/tiers", headers=swapd.admin)).json()
        assert [(t["name"], t["state"]) for t in tiers] == [
            ("fast", "stopped"),
            ("balanced", "ready"),
            ("deep", "stopped"),
        ]
        assert (await swapd.client.post("/swapd/unload", json={}, headers=swapd.admin)).status_code == 202
        await swapd.wait_for(None, "stopped")
        unknown = await swapd.client.post("/swapd/swap", json={"tier": "huge"}, headers=swapd.admin)
        assert unknown.status_code == 404 and "known: fast, balanced, deep" in envelope_of(unknown)["message"]
        malformed = await swapd.client.post(
            "/swapd/swap", json={"tier": "fast", "extra": 1}, headers=swapd.admin
        )
        assert malformed.status_code == 400


async def test_control_api_on_the_lan_needs_the_admin_token(tmp_path: Path) -> None:
    async with running(make_config(tmp_path)) as swapd:
        wrong = await swapd.client.get("/swapd/status", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert (
            await swapd.client.get("/swapd/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        ).is_success
    async with running(make_config(tmp_path), admin=False) as swapd:
        off = await swapd.client.get("/swapd/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert off.status_code == 404 and "admin_token_file" in envelope_of(off)["message"]


async def test_failed_load_rolls_back_and_reports_why(tmp_path: Path) -> None:
    tiers = [tier("fast", 2), tier("deep", 1, "--fake-exit-on-load", "1", "--fake-oom")]
    async with running(make_config(tmp_path, tiers=tiers)) as swapd:
        await swapd.wait_for("fast")
        with swapd.hub.subscribe() as events:
            await swapd.client.post("/swapd/swap", json={"tier": "deep"}, headers=swapd.admin)
            while (message := await events.next()) is not None and message.kind != "swap":
                pass
        assert message is not None and message.data["ok"] is False
        assert "out of memory" in str(message.data["error"])
        await swapd.wait_for("fast")
        refused = await swapd.client.post("/v1/chat/completions", json={**CHAT, "model": "deep"})
        assert refused.status_code == 503 and "failed to load" in envelope_of(refused)["message"]
        assert (await swapd.status())["tier"] == "fast"


async def test_load_is_refused_when_free_vram_is_short(tmp_path: Path) -> None:
    gpus = tmp_path / "gpus.json"
    gpus.write_text((Path(__file__).parents[2] / "fakes" / "gpu-2x3060.json").read_text())
    tiers = [tier("fast", 2), {**tier("deep"), "vram_mib": 24_000}]
    async with running(make_config(tmp_path, tiers=tiers), probe=FileGpu(gpus)) as swapd:
        status = await swapd.wait_for("fast")
        assert [g["total_mib"] for g in status["gpus"]] == [12288, 12288]
        with swapd.hub.subscribe() as events:
            await swapd.client.post("/swapd/swap", json={"tier": "deep"}, headers=swapd.admin)
            while (message := await events.next()) is not None and message.kind != "swap":
                pass
        assert message is not None
        assert "needs 24000 MiB + 512 MiB margin but only 24261 MiB" in str(message.data["error"])
        await swapd.wait_for("fast")


async def test_crashed_llama_server_is_restarted(tmp_path: Path) -> None:
    async with running(make_config(tmp_path)) as swapd:
        await swapd.wait_for("fast")
        first = await swapd.upstream()
        with swapd.hub.subscribe() as events:
            async with httpx.AsyncClient() as direct:
                with pytest.raises(httpx.TransportError):
                    await direct.post(f"{first}/fake/crash")
            states = []
            while (message := await events.next()) is not None:
                states.append(message.data["state"])
                if states[-1] == "ready":
                    break
        assert states[0] == "stopped" and "starting" in states
        assert await swapd.upstream() != first
        assert (await swapd.client.post("/v1/chat/completions", json=CHAT)).status_code == 200


async def test_swapd_comes_back_on_the_persisted_tier(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    async with running(config) as swapd:
        await swapd.wait_for("fast")
        await swapd.client.post("/swapd/swap", json={"tier": "deep"}, headers=swapd.admin)
        await swapd.wait_for("deep")
    assert (tmp_path / "state" / "active-tier").read_text() == "deep"
    async with running(config) as swapd:
        await swapd.wait_for("deep")


async def test_lan_connections_have_nagle_off(tmp_path: Path) -> None:
    """Regression: with Nagle on, every answer's second small write waited 40 ms for a delayed ACK."""
    listener = lan_socket(make_config(tmp_path, port=free_port()))
    accepted: asyncio.Queue[int] = asyncio.Queue()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        accepted.put_nowait(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(on_connect, sock=listener)
    async with server:
        _, writer = await asyncio.open_connection(*listener.getsockname())
        assert await accepted.get() == 1
        writer.close()


async def test_the_server_offers_each_request_its_transport() -> None:
    """The proxy writes SSE chunks to it; were the offer lost (a uvicorn upgrade), every token would
    go through `send` again, still correct but with a task wake-up each (issue 16)."""
    offered: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        offered.append(client_transport(scope) is not None)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async with serving(app) as url, httpx.AsyncClient(base_url=url) as client:
        replies = [await client.get("/health") for _ in range(2)]  # the second on the kept connection
    assert [r.status_code for r in replies] == [204, 204] and offered == [True, True]


def test_the_control_socket_accepts_connections_as_soon_as_its_file_exists(tmp_path: Path) -> None:
    """Regression: between the file's creation and uvicorn's start, clients were refused (ECONNREFUSED)."""
    path = tmp_path / "control.sock"
    with control_socket(path, None), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        assert path.exists()
        client.connect(str(path))


async def test_metrics_are_scraped_and_parse_as_prometheus(tmp_path: Path) -> None:
    gpus = tmp_path / "gpus.json"
    gpus.write_text((Path(__file__).parents[2] / "fakes" / "gpu-2x3060.json").read_text())
    tiers = [tier("fast", 2), tier("deep", 1, "--metrics")]
    async with running(make_config(tmp_path, tiers=tiers), probe=FileGpu(gpus)) as swapd:
        await swapd.wait_for("fast")
        assert (await swapd.client.post("/v1/chat/completions", json=CHAT)).status_code == 200
        assert (
            await swapd.client.post("/v1/chat/completions", json={**CHAT, "model": "deep"})
        ).status_code == 200
        assert (
            await swapd.client.get("/metrics", headers={"Authorization": "Bearer nope"})
        ).status_code == 401
        reply = await swapd.client.get("/metrics")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(reply.text)
        for s in family.samples
    }
    assert samples[("swapd_swaps_total", (("ok", "true"), ("tier", "deep")))] == 1
    assert samples[("swapd_swap_phase_seconds_count", (("phase", "load"),))] >= 2  # boot and the swap
    assert samples[("swapd_requests_total", (("status", "200"), ("tier", "fast")))] == 1
    assert samples[("swapd_requests_total", (("status", "200"), ("tier", "deep")))] == 1
    assert samples[("swapd_tier_ready", (("tier", "deep"),))] == 1
    assert samples[("swapd_queue_depth", ())] == 0
    gpu0 = (("gpu", "0"), ("name", "NVIDIA GeForce RTX 3060"))
    assert samples[("swapd_gpu_memory_total_mib", gpu0)] == 12288
    assert samples[("swapd_llama_tokens_per_second", (("kind", "generation"), ("tier", "deep")))] == 71.25


async def test_prewarm_reads_the_model_file_and_a_missing_one_is_a_clear_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    models = {name: tmp_path / f"{name}.gguf" for name in ("fast", "deep")}
    for path in models.values():
        path.write_bytes(b"GGUF" + b"\0" * 300_000)
    tiers = [{**tier(name), "model": str(path)} for name, path in models.items()]
    async with running(make_config(tmp_path, tiers=tiers, prewarm_margin_mib=0)) as swapd:
        await swapd.wait_for("fast")
        done = await swapd.client.post("/swapd/prewarm", json={"tier": "deep"}, headers=swapd.admin)
        assert done.status_code == 200 and done.json()["bytes"] == 300_004
        await swapd.client.post("/swapd/swap", json={"tier": "deep"}, headers=swapd.admin)
        await swapd.wait_for("deep")
        models["deep"].unlink()  # llama-server keeps its open file; a prewarm cannot
        gone = await swapd.client.post("/swapd/prewarm", json={"tier": "deep"}, headers=swapd.admin)
        assert gone.status_code == 409 and "cannot prewarm" in envelope_of(gone)["message"]
        assert (await swapd.status())["state"] == "ready"
        # The tier just left is prewarmed on its own, off the loop: wait for its log line.
        await swapd.wait_until(lambda _: "prewarm.done tier=fast bytes=300004" in caplog.text, "auto prewarm")
