"""The MCP tool servers: started from config, their tools offered to the model, calls routed to them.

Built on the official SDK's `mcp.Client` (2.x): a stdio command with its own environment, or a
streamable-HTTP URL. Each server is owned by one supervisor task that keeps its client open, so a
server that dies is restarted there and never in the caller's task (anyio scopes must exit where they
were entered). Tools reach the model as OpenAI function tools named `server__tool`.
"""

import asyncio
import logging
import os
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import jsonschema
import mcp_types
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError

from assistant.config import McpServerSettings, McpSettings
from assistant.errors import ToolFailed
from assistant.policy import UNTRUSTED_KEY, ToolHints, is_untrusted, label_untrusted

log = logging.getLogger(__name__)

JsonObject = dict[str, object]
SEPARATOR = "__"
_INVALID_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class ToolSpec:
    """One tool as the model sees it (`name` = `server__tool`) and where it lives."""

    name: str
    server: str
    tool: str
    description: str
    input_schema: JsonObject
    hints: ToolHints

    def to_openai(self) -> JsonObject:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.input_schema},
        }


@dataclass(frozen=True)
class ToolOutput:
    """A finished call: the text for the model (labelled when untrusted) and whether it failed."""

    text: str
    is_error: bool
    untrusted: bool


@dataclass(frozen=True)
class ServerState:
    """For `/tools` and status lines: is the server up, how many tools, the last error."""

    name: str
    running: bool
    tools: int
    restarts: int
    error: str | None


def tool_name(server: str, tool: str) -> str:
    """`server__tool`, limited to what OpenAI function names allow."""
    return _INVALID_NAME_CHARS.sub("_", f"{server}{SEPARATOR}{tool}")[:64]


def _hints(tool: mcp_types.Tool) -> ToolHints:
    notes = tool.annotations
    meta = tool.meta or {}
    return ToolHints(
        read_only=notes.read_only_hint if notes else None,
        destructive=notes.destructive_hint if notes else None,
        open_world=notes.open_world_hint if notes else None,
        untrusted=meta.get(UNTRUSTED_KEY) is True,
    )


def _result_text(result: mcp_types.CallToolResult) -> str:
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, mcp_types.TextContent):
            parts.append(block.text)
        else:
            parts.append(f"[{block.type} content omitted]")
    return "\n".join(parts) if parts else "(no output)"


@dataclass
class _Server:
    """One configured server and its supervisor's state."""

    name: str
    settings: McpServerSettings
    log_dir: Path | None
    # An in-process server (tests): connected directly, with no transport.
    in_process: "MCPServer[Any] | None" = None
    client: Client | None = None
    tools: list[mcp_types.Tool] = field(default_factory=list)
    error: str | None = None
    restarts: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    restart: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def supervise(self) -> None:
        """Keep the server connected until asked to stop; restart it after a crash, within limits."""
        while not self.stop.is_set():
            self.restart.clear()
            try:
                async with AsyncExitStack() as stack:
                    client = await stack.enter_async_context(self._client(stack))
                    async with asyncio.timeout(self.settings.start_timeout_s):
                        self.tools = await _list_all_tools(client)
                    self.client, self.error = client, None
                    self.ready.set()
                    log.info("mcp.started server=%s tools=%d", self.name, len(self.tools))
                    await _first(self.restart, self.stop)
            except Exception as exc:  # a child server's failure of any kind is reported, not raised
                self.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                log.warning("mcp.failed server=%s error=%s", self.name, self.error)
            finally:
                self.client = None
            if self.stop.is_set():
                break
            if not self.restart.is_set() or self.restarts >= self.settings.max_restarts:
                if self.restart.is_set():
                    self.error = f"stopped {self.restarts + 1} times; not restarted again this session"
                self.ready.set()
                await self.stop.wait()
                break
            self.restarts += 1
            self.ready.clear()
            log.info("mcp.restart server=%s restarts=%d", self.name, self.restarts)

    def _client(self, stack: AsyncExitStack) -> Client:
        settings = self.settings
        if self.in_process is not None:
            return Client(self.in_process, read_timeout_seconds=settings.call_timeout_s)
        if settings.url is not None:
            return Client(str(settings.url), read_timeout_seconds=settings.call_timeout_s)
        assert settings.command is not None
        env = dict(settings.env)
        # Children may read their own credentials under systemd; the SDK passes only an allow-list.
        if directory := os.environ.get("CREDENTIALS_DIRECTORY"):
            env.setdefault("CREDENTIALS_DIRECTORY", directory)
        params = StdioServerParameters(command=settings.command[0], args=list(settings.command[1:]), env=env)
        errlog: TextIO = stack.enter_context(self._errlog())
        return Client(stdio_client(params, errlog=errlog), read_timeout_seconds=settings.call_timeout_s)

    def _errlog(self) -> TextIO:
        if self.log_dir is None:
            return open(os.devnull, "w", encoding="utf-8")  # closed by the exit stack
        directory = self.log_dir.expanduser()
        directory.mkdir(parents=True, exist_ok=True)
        return open(directory / f"mcp-{self.name}.log", "a", encoding="utf-8")

    async def connected(self) -> Client:
        """The live client, waiting while the server (re)starts."""
        try:
            async with asyncio.timeout(self.settings.start_timeout_s):
                await self.ready.wait()
        except TimeoutError as exc:
            raise ToolFailed(
                f"tool server {self.name!r} did not come back within {self.settings.start_timeout_s:.0f}s"
            ) from exc
        if self.client is None:
            raise ToolFailed(f"tool server {self.name!r} is not running: {self.error or 'stopped'}")
        return self.client

    def crashed(self, client: Client) -> None:
        """`client` lost its server; restart it unless that already happened (calls run concurrently)."""
        if client is not self.client:
            return
        self.client = None
        self.ready.clear()
        self.restart.set()


async def _first(*events: asyncio.Event) -> None:
    """Return once any of `events` is set."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


async def _list_all_tools(client: Client) -> list[mcp_types.Tool]:
    tools: list[mcp_types.Tool] = []
    cursor: str | None = None
    for _ in range(100):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            break
    return tools


class ToolServers:
    """Every configured server, their tools, and calls routed by `server__tool` name."""

    def __init__(self, servers: Mapping[str, _Server]) -> None:
        self._servers = servers
        self._specs: dict[str, ToolSpec] = {}
        self._validators: dict[str, jsonschema.protocols.Validator] = {}

    @classmethod
    @asynccontextmanager
    async def started(
        cls, settings: McpSettings, in_process: Mapping[str, "MCPServer[Any]"] | None = None
    ) -> AsyncIterator["ToolServers"]:
        """Start every enabled server, wait until each is up or failed, stop them all on exit.

        `in_process` adds servers reached without a transport, for tests of the loop and policy.
        """
        servers = {
            name: _Server(name, server, settings.log_dir)
            for name, server in settings.servers.items()
            if server.enabled
        }
        for name, instance in (in_process or {}).items():
            servers[name] = _Server(name, McpServerSettings(command=("in-process",)), None, instance)
        manager = cls(servers)
        try:
            async with asyncio.TaskGroup() as group:
                for server in servers.values():
                    group.create_task(server.supervise(), name=f"mcp-{server.name}")
                try:
                    for server in servers.values():
                        try:
                            async with asyncio.timeout(server.settings.start_timeout_s):
                                await server.ready.wait()
                        except TimeoutError:
                            server.error = f"did not start within {server.settings.start_timeout_s:.0f}s"
                    manager._refresh()
                    yield manager
                finally:
                    for server in servers.values():
                        server.stop.set()
        except BaseExceptionGroup as group:
            # The supervisors keep their own errors, so a group here carries the caller's one
            # exception: let it leave as itself, not wrapped.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from group.exceptions[0].__cause__
            raise

    def specs(self) -> list[ToolSpec]:
        """The tools on offer, in a stable order (it is part of the cached prompt prefix)."""
        return [self._specs[name] for name in sorted(self._specs)]

    def states(self) -> list[ServerState]:
        return [
            ServerState(s.name, s.client is not None, len(s.tools), s.restarts, s.error)
            for s in self._servers.values()
        ]

    def spec(self, name: str) -> ToolSpec | None:
        return self._specs.get(name)

    def validate(self, name: str, arguments: JsonObject) -> None:
        """Raise ToolFailed naming the first way `arguments` break the tool's input schema."""
        validator = self._validators.get(name)
        if validator is None:
            return
        error = jsonschema.exceptions.best_match(validator.iter_errors(arguments))
        if error is not None:
            where = "/".join(str(part) for part in error.absolute_path)
            at = f" at '{where}'" if where else ""
            raise ToolFailed(f"arguments for {name} do not match its schema{at}: {error.message}")

    async def call(self, name: str, arguments: JsonObject) -> ToolOutput:
        """Run one call; ToolFailed for an unknown tool, bad arguments, a timeout or a dead server."""
        spec = self._specs.get(name)
        if spec is None:
            known = ", ".join(sorted(self._specs)) or "none"
            raise ToolFailed(f"there is no tool named {name!r} (available: {known})")
        self.validate(name, arguments)
        server = self._servers[spec.server]
        client = await server.connected()
        timeout = server.settings.call_timeout_s
        try:
            result = await client.call_tool(spec.tool, arguments, read_timeout_seconds=timeout)
        except MCPError as exc:
            if exc.code == mcp_types.CONNECTION_CLOSED:
                server.crashed(client)
                raise ToolFailed(
                    f"tool server {spec.server!r} stopped during the call; it is being restarted"
                ) from exc
            if exc.code == mcp_types.REQUEST_TIMEOUT:
                raise ToolFailed(f"{name} did not answer within {timeout:.0f}s") from exc
            raise ToolFailed(f"{name} failed: {exc.message}") from exc
        except (OSError, EOFError) as exc:
            server.crashed(client)
            raise ToolFailed(f"tool server {spec.server!r} is unreachable; it is being restarted") from exc
        text = _result_text(result)
        untrusted = is_untrusted(spec.hints, result.meta)
        if untrusted:
            text = label_untrusted(name, text)
        return ToolOutput(text=text, is_error=result.is_error, untrusted=untrusted)

    def _refresh(self) -> None:
        self._specs.clear()
        self._validators.clear()
        for server in self._servers.values():
            for tool in server.tools:
                spec = ToolSpec(
                    name=tool_name(server.name, tool.name),
                    server=server.name,
                    tool=tool.name,
                    description=tool.description or tool.title or tool.name,
                    input_schema=dict(tool.input_schema),
                    hints=_hints(tool),
                )
                self._specs[spec.name] = spec
                try:
                    validator_class = jsonschema.validators.validator_for(spec.input_schema)
                    validator_class.check_schema(spec.input_schema)
                    self._validators[spec.name] = validator_class(spec.input_schema)
                except jsonschema.exceptions.SchemaError:
                    log.warning("mcp.bad_schema tool=%s", spec.name)
