"""Splitting answers for Discord: no chunk over the limit, fences balanced and reopened, nothing lost."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.discord_bot.split import DISCORD_LIMIT, Fence, chunks, open_fence, split

# Markdown-ish lines: prose, fences with and without languages, long unbroken words, blank lines.
_LINES = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=120),
    st.sampled_from(["```", "```python", "``` js extra", "~~~", "~~~~rust", "````", "   ```", "", "    ```"]),
    st.builds(lambda n: "x" * n, st.integers(0, 2500)),
    st.builds(lambda n: "word " * n, st.integers(0, 600)),
)
_MARKDOWN = st.lists(_LINES, max_size=60).map("\n".join)
_LIMITS = st.sampled_from([DISCORD_LIMIT, 200, 257, 1000])


@settings(max_examples=300, deadline=None)
@given(text=_MARKDOWN | st.text(max_size=6000), limit=_LIMITS)
def test_chunks_fit_balance_and_lose_nothing(text: str, limit: int) -> None:
    parts = chunks(text, limit)
    assert "".join(part.body for part in parts) == text
    for part in parts:
        assert len(part.text) <= limit
        assert open_fence(part.text) is None
    for before, after in itertools.pairwise(parts):
        carried = open_fence(before.head + before.body)
        assert after.head == (carried.opening() if carried else "")
        assert after.body


def test_short_text_is_one_message() -> None:
    assert split("hello\n```py\nx\n```") == ["hello\n```py\nx\n```"]


def test_code_block_across_the_limit_is_closed_and_reopened_with_its_language() -> None:
    code = "\n".join(f"value_{i} = {i}" for i in range(300))
    messages = split(f"Here you go:\n```python\n{code}\n```\nDone.")
    assert len(messages) > 1
    assert messages[0].endswith("\n```")
    assert all(message.startswith("```python\n") for message in messages[1:])
    assert messages[-1].endswith("```\nDone.")


def test_prefers_paragraph_then_line_then_word_boundaries() -> None:
    first = "a" * 1500
    paragraph = split(f"{first}\n\nsecond paragraph " + "b " * 400)
    assert paragraph[0] == f"{first}\n\n"
    words = split("word " * 1000)
    assert all(message.endswith("word ") for message in words[:-1])


def test_unbroken_text_is_cut_hard() -> None:
    assert [len(m) for m in split("x" * 4500)] == [2000, 2000, 500]


def test_unclosed_fence_at_the_end_is_closed() -> None:
    (message,) = split("```sh\nls")
    assert message == "```sh\nls\n```"


def test_fence_rules() -> None:
    assert open_fence("```py\nx") == Fence("```", "py")
    assert open_fence("~~~~\n~~~\nstill code") == Fence("~~~~", "")
    assert open_fence("```\nx\n  ```  \nafter") is None
    assert open_fence("```a`b\nnot a fence") is None
    assert open_fence("`" * 40) is None


def test_tiny_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        split("x", limit=50)
