"""A minimal real MCP server over real stdio, for the client's process tests (crash, restart, timeout).

Run as `python tests/mcp_stdio_server.py`; built on the same SDK (`mcp.server.MCPServer`) as our servers.
"""

import asyncio
import os

from mcp.server import MCPServer
from mcp.types import ToolAnnotations

server = MCPServer("probe")
READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)


@server.tool(annotations=READ)
def echo(text: str) -> str:
    """Say `text` back, with this process's id, so a test can tell a restarted server apart."""
    return f"{text} from {os.getpid()} env={os.environ.get('PROBE_GREETING', '-')}"


@server.tool(annotations=READ)
def die() -> str:
    """Exit the whole process in the middle of the call, as a crashing server would."""
    os._exit(3)


@server.tool(annotations=READ)
async def hang() -> str:
    """Never answer."""
    await asyncio.Event().wait()
    return "unreachable"


if __name__ == "__main__":
    server.run()
