"""MCP tool servers (SearXNG, Google Calendar, Gmail); each runs alone as `assistant mcp <name>`."""
