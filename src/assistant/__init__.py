"""The assistant on Machine B: an agent loop over MCP tools, with terminal and Discord front ends."""
