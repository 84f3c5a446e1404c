"""How the servers register tools: strict arguments, and our errors turned into tool errors.

An argument the tool does not take is an error the model reads, never silently dropped (a model that
passes `cc` to create_draft must learn that nobody was copied).
"""

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.types import ToolAnnotations
from pydantic import ConfigDict

from assistant.errors import AssistantError

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def tool_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turn our errors into the SDK's ToolError, so the model reads the one-line message."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except AssistantError as exc:
            # The message stays out of the log: it can hold a URL or a mail address.
            log.info("tool.failed tool=%s error=%s", fn.__name__, type(exc).__name__)
            raise ToolError(str(exc)) from exc

    return wrapper


def strict_tool(
    fn: Callable[..., Awaitable[Any]],
    *,
    title: str,
    annotations: ToolAnnotations,
    meta: dict[str, Any] | None = None,
) -> Tool:
    """A tool for `MCPServer(tools=...)` that refuses unknown arguments and reports our errors."""
    tool = Tool.from_function(tool_errors(fn), title=title, annotations=annotations, meta=meta)
    loose = tool.fn_metadata.arg_model
    config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    tool.fn_metadata.arg_model = type(loose.__name__, (loose,), {"model_config": config})
    tool.parameters["additionalProperties"] = False
    return tool
