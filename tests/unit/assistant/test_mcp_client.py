"""The MCP client manager against a real in-process server: naming, schemas, routing, labelling."""

import asyncio

import pytest
from agent_rig import INJECTION, desk_server

from assistant.config import McpSettings
from assistant.errors import CredentialMissing, ToolFailed
from assistant.mcp_client import ToolServers, tool_name


def test_tool_names_fit_openai_function_names() -> None:
    assert tool_name("gmail", "send_draft") == "gmail__send_draft"
    assert tool_name("web", "fetch.url v2") == "web__fetch_url_v2"
    assert len(tool_name("s", "x" * 100)) == 64


def test_tools_are_offered_as_openai_functions_with_their_hints() -> None:
    async def go() -> None:
        async with ToolServers.started(McpSettings(), in_process={"desk": desk_server()}) as tools:
            specs = {spec.name: spec for spec in tools.specs()}
            assert list(specs) == ["desk__lookup", "desk__read_page", "desk__send"]
            lookup = specs["desk__lookup"].to_openai()
            assert lookup["type"] == "function"
            assert lookup["function"]["parameters"]["required"] == ["query"]  # type: ignore[index]
            assert specs["desk__read_page"].hints.untrusted
            assert not specs["desk__lookup"].hints.outbound
            assert specs["desk__send"].hints.outbound

    asyncio.run(go())


def test_calls_are_routed_and_untrusted_results_labelled() -> None:
    async def go() -> None:
        async with ToolServers.started(McpSettings(), in_process={"desk": desk_server()}) as tools:
            local = await tools.call("desk__lookup", {"query": "x"})
            assert local.text == "notes about x: 42" and not local.untrusted and not local.is_error
            page = await tools.call("desk__read_page", {"url": "https://e.org"})
            assert page.untrusted and INJECTION in page.text
            assert page.text.startswith('<untrusted-content source="tool desk__read_page">')

    asyncio.run(go())


def test_bad_calls_fail_with_a_message_the_model_can_act_on() -> None:
    async def go() -> None:
        async with ToolServers.started(McpSettings(), in_process={"desk": desk_server()}) as tools:
            with pytest.raises(ToolFailed, match=r"no tool named 'desk__nope' \(available: desk__lookup, "):
                await tools.call("desk__nope", {})
            with pytest.raises(ToolFailed, match="desk__send do not match its schema: 'body' is a required"):
                await tools.call("desk__send", {"to": "a"})
            with pytest.raises(ToolFailed, match="at 'query': 3 is not of type 'string'"):
                await tools.call("desk__lookup", {"query": 3})

    asyncio.run(go())


def test_an_error_in_the_callers_block_leaves_as_itself_not_as_a_group() -> None:
    """Front ends print an AssistantError as one line; a task-group wrapper would become a traceback."""

    async def go() -> None:
        async with ToolServers.started(McpSettings(), in_process={"desk": desk_server()}):
            raise CredentialMissing("secret 'api-key': no file at /nowhere; create it with mode 0600")

    with pytest.raises(CredentialMissing, match="create it with mode 0600"):
        asyncio.run(go())
