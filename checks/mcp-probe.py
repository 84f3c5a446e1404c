"""List a stdio MCP server's tools, or call one, with the SDK's own client (as the assistant does).

Usage: mcp-probe.py list -- COMMAND...   |   mcp-probe.py call TOOL JSON_ARGS -- COMMAND...
Prints JSON: the sorted tool names, or the call's `isError` and text content.
"""

import asyncio
import json
import sys

from mcp.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client


async def probe(request: list[str], command: list[str]) -> object:
    params = StdioServerParameters(command=command[0], args=command[1:])
    async with Client(stdio_client(params)) as client:
        if request[0] == "list":
            tools = await client.list_tools()
            return sorted(tool.name for tool in tools.tools)
        result = await client.call_tool(request[1], json.loads(request[2]))
        texts = [getattr(block, "text", "") for block in result.content]
        return {"isError": result.is_error, "text": "\n".join(texts)}


def main() -> None:
    split = sys.argv.index("--")
    print(json.dumps(asyncio.run(probe(sys.argv[1:split], sys.argv[split + 1 :]))))


if __name__ == "__main__":
    main()
