"""The stream decoding pieces of the LLM client: <think> splitting, tool-call assembly, Retry-After."""

import email.utils
import time

from hypothesis import given
from hypothesis import strategies as st

from assistant.llm import Message, ThinkSplitter, ToolCall, ToolCallAssembler, retry_after_seconds

PIECES = st.lists(
    st.sampled_from(["<think>", "</think>", "<", "/", "think", ">", "a", "b c", "\n"]), max_size=30
)


def split_whole(text: str) -> tuple[str, str]:
    splitter = ThinkSplitter()
    answer, reasoning = splitter.feed(text)
    rest_answer, rest_reasoning = splitter.flush()
    return answer + rest_answer, reasoning + rest_reasoning


@given(PIECES, st.data())
def test_think_splitting_does_not_depend_on_how_the_stream_is_chunked(
    pieces: list[str], data: st.DataObject
) -> None:
    text = "".join(pieces)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=8)))
    chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    splitter = ThinkSplitter()
    answer, reasoning = "", ""
    for chunk in chunks:
        a, r = splitter.feed(chunk)
        answer, reasoning = answer + a, reasoning + r
    a, r = splitter.flush()
    assert (answer + a, reasoning + r) == split_whole(text)


def test_think_blocks_go_to_reasoning() -> None:
    assert split_whole("<think>plan</think>Answer") == ("Answer", "plan")
    assert split_whole("no tags at all") == ("no tags at all", "")
    assert split_whole("<think>unfinished") == ("", "unfinished")


@given(
    st.lists(st.text(max_size=5), min_size=1, max_size=6),
    st.lists(st.text(max_size=5), min_size=1, max_size=6),
)
def test_interleaved_argument_fragments_assemble_per_index(first: list[str], second: list[str]) -> None:
    assembler = ToolCallAssembler()
    assembler.add({"index": 1, "id": "b", "function": {"name": "two", "arguments": ""}})
    assembler.add({"index": 0, "id": "a", "function": {"name": "one", "arguments": ""}})
    for i in range(max(len(first), len(second))):
        if i < len(first):
            assembler.add({"index": 0, "function": {"arguments": first[i]}})
        if i < len(second):
            assembler.add({"index": 1, "function": {"arguments": second[i]}})
    assert assembler.calls() == (ToolCall("a", "one", "".join(first)), ToolCall("b", "two", "".join(second)))


def test_retry_after_takes_seconds_or_an_http_date() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) == 2.0
    assert retry_after_seconds("soon") == 2.0
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 20 < retry_after_seconds(later) <= 30


def test_messages_carry_tool_calls_in_the_openai_shape() -> None:
    wire = Message("assistant", "", tool_calls=(ToolCall("c1", "web__search", '{"q": 1}'),)).to_wire()
    assert wire["tool_calls"] == [
        {"id": "c1", "type": "function", "function": {"name": "web__search", "arguments": '{"q": 1}'}}
    ]
    assert Message("tool", "ok", tool_call_id="c1").to_wire() == {
        "role": "tool",
        "content": "ok",
        "tool_call_id": "c1",
    }
