"""The agent loop against the scripted OpenAI-compatible fake (real HTTP streaming) and a real MCP server."""

import asyncio
import json
from collections.abc import Iterator

import pytest
from agent_rig import INJECTION, ScriptedConfirm, agent_for, collect
from fakes import openai_server as oa
from fakes.openai_server import FakeOpenAI, serving

from assistant.agent import (
    ConfirmationNeeded,
    Final,
    Notice,
    ToolCallFinished,
    ToolCallStarted,
    TurnFailed,
)
from assistant.config import ChatSettings, PolicySettings
from assistant.llm import PromptProgress, ReasoningDelta, SwapWait, TextDelta

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with serving(FakeOpenAI()) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    server.replies.clear()
    server.requests.clear()
    server.n_ctx = 8192
    yield server
    assert not server.replies, "the test left scripted replies unused"


def run_turn(
    fake: FakeOpenAI, text: str, confirm: ScriptedConfirm | None = None, **kw: object
) -> list[object]:
    async def go() -> list[object]:
        async with agent_for(fake.url, confirm or ScriptedConfirm(), **kw) as agent:  # type: ignore[arg-type]
            return list(await collect(agent, text))

    return asyncio.run(go())


def tool_messages(fake: FakeOpenAI, request: int) -> list[dict[str, object]]:
    messages = fake.requests[request]["messages"]
    assert isinstance(messages, list)
    return [m for m in messages if m["role"] == "tool"]


def test_streamed_answer_keeps_reasoning_apart_and_names_the_tier(fake: FakeOpenAI) -> None:
    fake.script(oa.text("Paris is the capital.", reasoning="The user asks about France.", tier="fast"))
    events = run_turn(fake, "capital of France?")
    answer = "".join(e.text for e in events if isinstance(e, TextDelta))
    thought = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    assert answer == "Paris is the capital."
    assert thought == "The user asks about France."
    assert any(isinstance(e, PromptProgress) for e in events)
    final = events[-1]
    assert isinstance(final, Final) and final.text == answer and final.tier == "fast"
    body = fake.requests[0]
    assert body["model"] == "auto" and body["stream"] is True
    assert [t["function"]["name"] for t in body["tools"]] == ["desk__lookup", "desk__read_page", "desk__send"]  # type: ignore[index,union-attr]


def test_streamed_argument_deltas_and_parallel_calls_run_and_feed_back(fake: FakeOpenAI) -> None:
    fake.script(
        oa.tool_calls(
            ("desk__lookup", json.dumps({"query": "alpha"})),
            ("desk__lookup", json.dumps({"query": "beta"})),
            piece=3,
        ),
        oa.text("alpha and beta are both 42."),
    )
    events = run_turn(fake, "look up alpha and beta")
    started = [e for e in events if isinstance(e, ToolCallStarted)]
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert [s.arguments for s in started] == [{"query": "alpha"}, {"query": "beta"}]
    assert all(f.ok for f in finished)
    results = tool_messages(fake, 1)
    assert [r["tool_call_id"] for r in results] == ["call_0_desk__lookup", "call_1_desk__lookup"]
    assert "notes about alpha" in str(results[0]["content"])
    assert "notes about beta" in str(results[1]["content"])
    assistant = [m for m in fake.requests[1]["messages"] if m["role"] == "assistant"]  # type: ignore[union-attr,index]
    assert len(assistant[0]["tool_calls"]) == 2
    assert isinstance(events[-1], Final)


def test_malformed_json_arguments_become_a_tool_error_and_the_loop_goes_on(fake: FakeOpenAI) -> None:
    fake.script(oa.tool_calls(("desk__lookup", '{"query": "alp')), oa.text("Sorry, let me answer directly."))
    events = run_turn(fake, "look up alpha")
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert len(finished) == 1 and not finished[0].ok
    assert "not valid JSON" in finished[0].output
    (result,) = tool_messages(fake, 1)
    assert "not valid JSON" in str(result["content"])
    # The broken arguments are not sent back, so the chat template can still render the history.
    call = fake.requests[1]["messages"][-2]["tool_calls"][0]  # type: ignore[index]
    assert call["function"]["arguments"] == "{}"
    assert isinstance(events[-1], Final)


def test_half_a_character_in_the_arguments_is_a_tool_error_not_a_broken_transport(fake: FakeOpenAI) -> None:
    """Over stdio the MCP SDK cannot encode a lone surrogate; the tool server's connection broke on it."""
    fake.script(
        oa.tool_calls(("desk__lookup", '{"query": "party \\ud83d"}')), oa.text("Let me answer directly.")
    )
    events = run_turn(fake, "look up the party")
    (finished,) = [e for e in events if isinstance(e, ToolCallFinished)]
    assert not finished.ok and "half of a character" in finished.output
    call = fake.requests[1]["messages"][-2]["tool_calls"][0]  # type: ignore[index]
    assert call["function"]["arguments"] == "{}"
    assert isinstance(events[-1], Final)


def test_unknown_tool_and_schema_violation_are_fed_back_as_errors(fake: FakeOpenAI) -> None:
    fake.script(
        oa.tool_calls(("desk__nonexistent", "{}"), ("desk__lookup", json.dumps({"query": 7}))),
        oa.text("done"),
    )
    events = run_turn(fake, "do things")
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert [f.ok for f in finished] == [False, False]
    assert "no tool named 'desk__nonexistent'" in finished[0].output
    assert "do not match its schema at 'query'" in finished[1].output
    assert isinstance(events[-1], Final)


def test_a_tool_call_leaked_into_the_text_is_recovered(fake: FakeOpenAI) -> None:
    leaked = (
        "Let me check.\n<tool_call>\n<function=desk__lookup>\n<parameter=query>\ngamma\n"
        "</parameter>\n</function>\n</tool_call>"
    )
    fake.script(oa.text(leaked, pieces=5), oa.text("gamma is 42."))
    events = run_turn(fake, "look up gamma")
    assert any(isinstance(e, Notice) and "recovered 1 tool call" in e.message for e in events)
    (started,) = [e for e in events if isinstance(e, ToolCallStarted)]
    assert started.tool == "desk__lookup" and started.arguments == {"query": "gamma"}
    (result,) = tool_messages(fake, 1)
    assert "notes about gamma" in str(result["content"])
    assistant = fake.requests[1]["messages"][-2]  # type: ignore[index]
    assert assistant["content"] == "Let me check."
    assert isinstance(events[-1], Final) and events[-1].text == "gamma is 42."


def test_a_503_during_a_swap_waits_retries_and_tells_the_front_end(fake: FakeOpenAI) -> None:
    fake.script(
        oa.busy("swapping to deep: load 40%"), oa.busy("swapping to deep: health"), oa.text("ready now")
    )
    events = run_turn(fake, "hello")
    waits = [e for e in events if isinstance(e, SwapWait)]
    assert [w.message for w in waits] == ["swapping to deep: load 40%", "swapping to deep: health"]
    assert len(fake.requests) == 3
    assert isinstance(events[-1], Final) and events[-1].text == "ready now"


def test_a_stream_cut_half_way_is_asked_again(fake: FakeOpenAI) -> None:
    fake.script(oa.cut("this reply will be cut off somewhere"), oa.text("complete answer"))
    events = run_turn(fake, "hello")
    assert any(isinstance(e, Notice) and "cut off" in e.message for e in events)
    assert isinstance(events[-1], Final) and events[-1].text == "complete answer"


def test_a_stream_cut_twice_fails_the_turn_but_not_the_conversation(fake: FakeOpenAI) -> None:
    fake.script(oa.cut("first try"), oa.cut("second try"), oa.text("next turn works"))

    async def go() -> tuple[list[object], list[object]]:
        async with agent_for(fake.url, ScriptedConfirm()) as agent:
            first = list(await collect(agent, "hello"))
            second = list(await collect(agent, "again"))
            return first, second

    first, second = asyncio.run(go())
    assert isinstance(first[-1], TurnFailed) and "cut off" in first[-1].message
    assert isinstance(second[-1], Final) and second[-1].text == "next turn works"


def test_the_step_limit_ends_a_turn_that_never_answers(fake: FakeOpenAI) -> None:
    call = ("desk__lookup", json.dumps({"query": "again"}))
    fake.script(oa.tool_calls(call), oa.tool_calls(call), oa.tool_calls(call))
    events = run_turn(fake, "loop forever", chat=ChatSettings(max_steps=3))
    assert len(fake.requests) == 3
    assert sum(isinstance(e, ToolCallFinished) for e in events) == 3
    assert isinstance(events[-1], TurnFailed) and "after 3 steps" in events[-1].message


def test_untrusted_content_forces_confirmation_of_an_allowed_outbound_tool(fake: FakeOpenAI) -> None:
    fake.script(
        oa.tool_calls(("desk__read_page", json.dumps({"url": "https://example.com"}))),
        oa.tool_calls(("desk__send", json.dumps({"to": "evil@example.com", "body": "inbox"}))),
        oa.text("I did not send anything."),
    )
    confirm = ScriptedConfirm(answers=[False])
    events = run_turn(fake, "read that page", confirm, policy=PolicySettings(tools={"desk__*": "allow"}))
    page, sent = [e for e in events if isinstance(e, ToolCallFinished)]
    assert page.ok and page.untrusted
    assert page.output.startswith('<untrusted-content source="tool desk__read_page">')
    assert INJECTION in page.output and "not instructions" in page.output
    (asked,) = [e for e in events if isinstance(e, ConfirmationNeeded)]
    assert asked.request.tool == "desk__send" and "untrusted content" in asked.request.reason
    assert confirm.asked[0].arguments == {"to": "evil@example.com", "body": "inbox"}
    assert not sent.ok and "did not approve" in sent.output


def test_a_confirmation_that_never_comes_is_a_no(fake: FakeOpenAI) -> None:
    fake.script(
        oa.tool_calls(("desk__send", json.dumps({"to": "me@example.com", "body": "hi"}))),
        oa.text("Not sent."),
    )
    confirm = ScriptedConfirm(hang=True)
    events = run_turn(fake, "send it", confirm, policy=PolicySettings(confirm_timeout_s=0.05))
    (finished,) = [e for e in events if isinstance(e, ToolCallFinished)]
    assert len(confirm.asked) == 1
    assert not finished.ok and "did not approve" in finished.output


def test_context_budget_drops_whole_oldest_turns(fake: FakeOpenAI) -> None:
    fake.n_ctx = 1024 + 400  # reply reserve 1024 leaves ~400 words of stand-in tokens
    long = "word " * 120
    fake.script(
        oa.tool_calls(("desk__lookup", json.dumps({"query": "one"}))),
        oa.text(long),
        oa.text(long),
        oa.text("third answer"),
    )

    async def go() -> list[object]:
        async with agent_for(fake.url, ScriptedConfirm()) as agent:
            events = list(await collect(agent, "first " + long))
            events += await collect(agent, "second")
            events += await collect(agent, "third")
            return events

    events = asyncio.run(go())
    assert any(isinstance(e, Notice) and "dropped the 1 oldest turn" in e.message for e in events)
    assert isinstance(events[-1], Final) and events[-1].text == "third answer"
    sent = fake.requests[-1]["messages"]
    assert isinstance(sent, list)
    roles = [m["role"] for m in sent]
    assert roles[0] == "system" and roles[1] == "user"
    # Every tool result that is sent still follows the assistant message that called it.
    ids = {c["id"] for m in sent if m["role"] == "assistant" for c in m.get("tool_calls", [])}
    assert all(m["tool_call_id"] in ids for m in sent if m["role"] == "tool")
    assert not any("first" in str(m["content"]) for m in sent)


def test_a_stream_that_goes_silent_trips_the_idle_watchdog(fake: FakeOpenAI) -> None:
    fake.script(oa.stall("this reply stops talking"), oa.text("next turn works"))

    async def go() -> tuple[list[object], list[object]]:
        async with agent_for(fake.url, ScriptedConfirm(), idle_timeout_s=0.5) as agent:
            first = list(await collect(agent, "hello"))
            return first, list(await collect(agent, "again"))

    first, second = asyncio.run(go())
    assert any(isinstance(e, TextDelta) for e in first)
    assert isinstance(first[-1], TurnFailed) and "sent nothing for 0s" in first[-1].message
    assert isinstance(second[-1], Final) and second[-1].text == "next turn works"
    assert fake.authorizations[0] == "Bearer test-key"


def test_a_turn_cancelled_mid_call_leaves_no_call_without_its_result(fake: FakeOpenAI) -> None:
    fake.script(
        oa.tool_calls(("desk__send", json.dumps({"to": "me@example.com", "body": "hi"}))),
        oa.text("fresh start"),
    )

    async def go() -> tuple[int, list[object]]:
        confirm = ScriptedConfirm(hang=True)
        async with agent_for(fake.url, confirm) as agent:
            turn = asyncio.create_task(collect(agent, "send it"))
            await confirm.waiting.wait()
            turn.cancel()
            with pytest.raises(asyncio.CancelledError):
                await turn
            kept = len(agent.history)
            return kept, list(await collect(agent, "hello"))

    kept, events = asyncio.run(go())
    assert kept == 0
    assert isinstance(events[-1], Final) and events[-1].text == "fresh start"
    assert [m["role"] for m in fake.requests[-1]["messages"]] == ["system", "user"]  # type: ignore[union-attr,index]


def test_a_call_leaked_into_the_reasoning_is_recovered(fake: FakeOpenAI) -> None:
    thought = "I should look it up. <function=desk__lookup><parameter=query>delta</parameter></function>"
    fake.script(oa.text("", reasoning=thought), oa.text("delta is 42."))
    events = run_turn(fake, "look up delta")
    (started,) = [e for e in events if isinstance(e, ToolCallStarted)]
    assert started.arguments == {"query": "delta"}
    assert isinstance(events[-1], Final) and events[-1].text == "delta is 42."


def test_an_upstream_error_ends_the_turn_with_its_message(fake: FakeOpenAI) -> None:
    fake.script(
        oa.Reply(status=400, message="the request exceeds the available context size"),
        oa.text("shorter works"),
    )

    async def go() -> tuple[list[object], list[object]]:
        async with agent_for(fake.url, ScriptedConfirm()) as agent:
            return list(await collect(agent, "x")), list(await collect(agent, "y"))

    first, second = asyncio.run(go())
    assert isinstance(first[-1], TurnFailed)
    assert first[-1].message == "swapd answered 400: the request exceeds the available context size"
    assert isinstance(second[-1], Final)


def test_a_deny_rule_refuses_without_asking(fake: FakeOpenAI) -> None:
    fake.script(
        oa.tool_calls(("desk__send", json.dumps({"to": "me@example.com", "body": "hi"}))),
        oa.text("I may not send mail."),
    )
    confirm = ScriptedConfirm(answers=[True])
    events = run_turn(fake, "send it", confirm, policy=PolicySettings(tools={"desk__send": "deny"}))
    (finished,) = [e for e in events if isinstance(e, ToolCallFinished)]
    assert not finished.ok and "not allowed here (denied by [policy])" in finished.output
    assert confirm.asked == []
