"""What every front end runs on: one LLM client, the tool servers and swapd's control API, opened together."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from assistant.config import AssistantConfig, LlmSettings
from assistant.credentials import credential_path, read_secret
from assistant.llm import LlmClient
from assistant.mcp_client import ToolServers
from assistant.swapd_control import SwapdControl


@dataclass(frozen=True)
class Session:
    llm: LlmClient
    tools: ToolServers
    control: SwapdControl | None


def api_key(settings: LlmSettings) -> str | None:
    """The swapd API key if one is configured; a swapd without keys (the demo) needs none."""
    if settings.api_key_file is None and credential_path(settings.api_key_credential) is None:
        return None
    return read_secret(settings.api_key_credential, settings.api_key_file)


@asynccontextmanager
async def open_session(config: AssistantConfig) -> AsyncIterator[Session]:
    """Start the pieces for this process and stop them all on exit."""
    settings = config.llm
    async with (
        httpx.AsyncClient() as http,
        ToolServers.started(config.mcp) as tools,
        SwapdControl.connect(settings) as control,
    ):
        llm = LlmClient(
            http,
            str(settings.url),
            api_key(settings),
            idle_timeout_s=settings.idle_timeout_s,
            connect_timeout_s=settings.connect_timeout_s,
            swap_wait_s=settings.swap_wait_s,
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
        )
        yield Session(llm, tools, control)
