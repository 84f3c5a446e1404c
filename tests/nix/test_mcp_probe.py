"""checks/mcp-probe.py, the VM tests' MCP client, against the real `assistant mcp searxng` over stdio."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from localhost import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PROBE = ROOT / "checks" / "mcp-probe.py"
ASSISTANT = str(Path(sys.executable).with_name("assistant"))


def probe(*request: str, config: Path) -> object:
    command = [ASSISTANT, "mcp", "searxng", "--config", str(config)]
    done = subprocess.run(
        [sys.executable, str(PROBE), *request, "--", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def test_probe_lists_the_tools_and_reports_a_tool_error(tmp_path: Path) -> None:
    config = tmp_path / "assistant.toml"
    config.write_text(f'[searxng]\nurl = "http://127.0.0.1:{free_port()}"\n', encoding="utf-8")

    tools = probe("list", config=config)
    result = probe("call", "web_search", '{"query": "nixos"}', config=config)

    assert tools == ["fetch_url", "web_search"]
    assert isinstance(result, dict)
    assert result["isError"] is True
    assert "not reachable" in result["text"]
