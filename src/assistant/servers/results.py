"""How tool results leave a server: plain, or marked as untrusted content.

The untrusted-content contract (read by the assistant's policy; see docs/architecture.md):
- a tool whose results carry third-party text declares `_meta = {"variet/untrusted": true,
  "variet/source": "<web|mail|calendar>"}` in `tools/list`;
- each such result carries the same two keys in the `CallToolResult`'s `_meta`;
- its text content is wrapped in `<untrusted-content source="...">` ... `</untrusted-content>`, and the
  wrapper's name is defanged inside the payload, so the data cannot close the wrapper early.
"""

import json
import re
from typing import Any, Literal

from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel

UNTRUSTED = "variet/untrusted"
SOURCE = "variet/source"

Source = Literal["web", "mail", "calendar"]

_WRAPPER = re.compile("untrusted-content", re.IGNORECASE)


def untrusted_meta(source: Source) -> dict[str, Any]:
    """The `_meta` that marks a tool, or one of its results, as carrying third-party text."""
    return {UNTRUSTED: True, SOURCE: source}


def wrap_untrusted(source: Source, text: str) -> str:
    """Text from outside, delimited so the model reads it as data and never as instructions."""
    body = _WRAPPER.sub("untrusted_content", text)
    return f'<untrusted-content source="{source}">\n{body}\n</untrusted-content>'


def untrusted_result(source: Source, data: BaseModel, text: str | None = None) -> CallToolResult:
    """A result whose structured content is `data`; the text is `text`, or `data` as JSON, wrapped."""
    structured = data.model_dump(mode="json")
    shown = text if text is not None else json.dumps(structured, ensure_ascii=False, indent=1)
    return CallToolResult(
        content=[TextContent(type="text", text=wrap_untrusted(source, shown))],
        structured_content=structured,
        _meta=untrusted_meta(source),
    )


def plain_result(data: BaseModel) -> CallToolResult:
    """A result with no third-party text: structured content, and the same as JSON text."""
    structured = data.model_dump(mode="json")
    text = json.dumps(structured, ensure_ascii=False, indent=1)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)
