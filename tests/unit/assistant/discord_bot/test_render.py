"""How an answer looks while the agent works: status lines, hidden reasoning, warnings, failures."""

from assistant.agent import ConfirmationNeeded, Final, Notice, ToolCallFinished, ToolCallStarted, TurnFailed
from assistant.discord_bot.render import Rendering, swap_line
from assistant.llm import PromptProgress, ReasoningDelta, SwapWait, TextDelta
from assistant.policy import ConfirmationRequest
from assistant.swapd_control import SwapDone, TierState


def test_prefill_and_thinking_post_nothing_and_reasoning_never_shows() -> None:
    rendering = Rendering()
    rendering.apply(PromptProgress(processed=4, total=10))
    rendering.apply(ReasoningDelta("secret chain of thought"))
    assert not rendering.visible
    rendering.apply(TextDelta("Hello"))
    assert rendering.visible
    assert rendering.show() == "Hello\n-# …"
    rendering.apply(Final(text="Hello there.", tier="fast", steps=1, usage=None))
    assert rendering.show() == "Hello there."
    assert rendering.reasoning == "secret chain of thought"


def test_a_streaming_code_block_is_closed_before_the_status_line() -> None:
    rendering = Rendering()
    rendering.apply(TextDelta("```python\nprint(1)"))
    assert rendering.show() == "```python\nprint(1)\n```\n-# …"


def test_swap_and_tools_are_status_lines_and_pre_tool_text_is_replaced() -> None:
    rendering = Rendering()
    rendering.apply(SwapWait(tier="deep", message="swapping to deep: loading", retry_after_s=2))
    assert rendering.show() == "-# ⏳ swapping to deep: loading"
    rendering.apply(TextDelta("Let me look."))
    rendering.apply(ToolCallStarted("c1", "web__search", {"q": "x"}, '{"q": "x"}'))
    assert rendering.show() == "-# 🔧 running `web__search`…"
    request = ConfirmationRequest("c1", "web__search", {"q": "x"}, "outbound")
    rendering.apply(ConfirmationNeeded(request))
    assert rendering.show() == "-# 🔐 waiting for your approval to run `web__search`…"


def test_tool_failures_and_notices_become_warnings_except_prompted_ones() -> None:
    rendering = Rendering(warnings=["only the last 25 messages are used"])
    rendering.apply(
        ToolCallFinished("c1", "desk__lookup", ok=False, output="error: timed out\ntrace", untrusted=False)
    )
    rendering.apply(ConfirmationNeeded(ConfirmationRequest("c2", "desk__send", {}, "outbound")))
    rendering.apply(
        ToolCallFinished("c2", "desk__send", ok=False, output="error: not approved", untrusted=False)
    )
    rendering.apply(Notice("dropped the 1 oldest turn(s) to fit the context size"))
    rendering.apply(Final(text="Done.", tier=None, steps=2, usage=None))
    assert rendering.show() == (
        "Done.\n"
        "-# ⚠️ only the last 25 messages are used\n"
        "-# ⚠️ `desk__lookup` failed: error: timed out\n"
        "-# ⚠️ dropped the 1 oldest turn(s) to fit the context size"
    )


def test_a_failed_turn_is_one_short_line() -> None:
    rendering = Rendering()
    rendering.apply(TurnFailed("cannot reach swapd at http://127.0.0.1:18080: connection refused"))
    assert rendering.show() == "⚠️ cannot reach swapd at http://127.0.0.1:18080: connection refused"


def test_an_empty_answer_says_so() -> None:
    rendering = Rendering()
    rendering.apply(Final(text="", tier=None, steps=1, usage=None))
    assert rendering.show() == "(the model gave an empty answer)"


def test_swap_lines() -> None:
    assert (
        swap_line(TierState(tier="deep", state="starting", phase="load", progress=0.4)) == "loading deep… 40%"
    )
    assert swap_line(TierState(tier="deep", state="draining", phase="drain")) == (
        "finishing requests before loading deep…"
    )
    assert swap_line(SwapDone(to="deep", took_s=41.25, ok=True)) == "deep is ready in 41.2 s"
    assert (
        swap_line(SwapDone(to="deep", ok=False, error="out of VRAM"))
        == "the swap to deep failed: out of VRAM"
    )
