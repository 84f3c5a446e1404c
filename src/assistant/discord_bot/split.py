"""Split an answer into Discord-sized messages at sensible boundaries, keeping code blocks intact.

A chunk that ends inside a code fence is closed there, and the next chunk reopens the fence with the
same marker and language, so every message renders on its own. Fences follow CommonMark: a line of
3+ backticks (no backtick in the info string) or 3+ tildes, indented at most three spaces; markers
longer than 32 characters are treated as text so a reopened fence always fits.
"""

import re
from dataclasses import dataclass

# Discord's limit on a message's content, in characters.
DISCORD_LIMIT = 2000
# Room a chunk needs beyond its text: a reopened fence line and a closing fence line.
_MIN_LIMIT = 200

_OPENING = re.compile(
    r"^ {0,3}(?:(?P<ticks>`{3,32})(?P<tick_info>[^`\n]*)|(?P<tildes>~{3,32})(?P<tilde_info>.*))$"
)
_LANGUAGE = re.compile(r"[\w+#.-]{1,20}")


@dataclass(frozen=True)
class Fence:
    """An open code fence: its marker (e.g. ``` or ~~~~) and the language named after it."""

    marker: str
    language: str

    def opening(self) -> str:
        return f"{self.marker}{self.language}\n"

    def closes(self, line: str) -> bool:
        stripped = line.strip(" \t")
        return (
            len(line) - len(line.lstrip(" ")) <= 3
            and len(stripped) >= len(self.marker)
            and stripped == self.marker[0] * len(stripped)
        )


def open_fence(text: str) -> Fence | None:
    """The fence still open at the end of `text` (every line counts, a last unfinished one too)."""
    fence: Fence | None = None
    for line in text.split("\n"):
        if fence is not None:
            if fence.closes(line):
                fence = None
            continue
        match = _OPENING.match(line)
        if match is None:
            continue
        marker = match["ticks"] or match["tildes"]
        info = (match["tick_info"] if match["ticks"] else match["tilde_info"]).strip()
        word = info.split(maxsplit=1)[0] if info else ""
        fence = Fence(marker, word if _LANGUAGE.fullmatch(word) else "")
    return fence


def _closing(text: str, fence: Fence | None) -> str:
    if fence is None:
        return ""
    return fence.marker if text.endswith("\n") else "\n" + fence.marker


def _cut(rest: str, budget: int) -> int:
    """Where to end a chunk of at most `budget` characters: a paragraph, a line, a space, else anywhere."""
    if len(rest) <= budget:
        return len(rest)
    window = rest[:budget]
    for separator in ("\n\n", "\n", " "):
        at = window.rfind(separator)
        if at >= budget // 2:
            return at + len(separator)
    at = window.rfind("\n")
    return at + 1 if at > 0 else budget


@dataclass(frozen=True)
class Chunk:
    """One message: a reopened fence line, a slice of the answer, and a closing fence line."""

    head: str
    body: str
    tail: str

    @property
    def text(self) -> str:
        return self.head + self.body + self.tail


def chunks(text: str, limit: int = DISCORD_LIMIT) -> list[Chunk]:
    """Chunks of at most `limit` characters whose bodies concatenate to exactly `text`."""
    if limit < _MIN_LIMIT:
        raise ValueError(f"limit {limit} is too small to reopen code fences (at least {_MIN_LIMIT})")
    result: list[Chunk] = []
    carried: Fence | None = None
    rest = text
    while True:
        head = carried.opening() if carried else ""
        tail = _closing(head + rest, open_fence(head + rest))
        if len(head) + len(rest) + len(tail) <= limit:
            result.append(Chunk(head, rest, tail))
            return result
        budget = limit - len(head)
        while True:
            cut = _cut(rest, budget)
            fence = open_fence(head + rest[:cut])
            tail = _closing(head + rest[:cut], fence)
            overflow = len(head) + cut + len(tail) - limit
            if overflow <= 0:
                break
            budget -= overflow
        result.append(Chunk(head, rest[:cut], tail))
        rest = rest[cut:]
        carried = fence


def split(text: str, limit: int = DISCORD_LIMIT) -> list[str]:
    """The messages to post for `text`, each at most `limit` characters with balanced code fences."""
    return [chunk.text for chunk in chunks(text, limit)]
