"""`assistant chat` as a real process with piped stdin: streaming, tool lines, y/N, slash commands."""

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import openai_server as oa
from fakes.openai_server import FakeOpenAI, serving
from localhost import free_port

pytestmark = pytest.mark.integration

PROBE = Path(__file__).parents[1] / "mcp_stdio_server.py"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with serving(FakeOpenAI()) as server:
        yield server


def chat(config: Path, *lines: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant", "chat", "--config", str(config)],
        input="".join(f"{line}\n" for line in lines),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


SENTINEL = "sk-sentinel-4f1c9e"


def write_config(tmp_path: Path, url: str) -> Path:
    key = tmp_path / "swapd-api-key"
    key.write_text(SENTINEL)
    key.chmod(0o600)
    config = tmp_path / "assistant.toml"
    config.write_text(
        f'[llm]\nurl = "{url}"\napi_key_file = "{key}"\n'
        f"[mcp.servers.probe]\ncommand = {json.dumps([sys.executable, str(PROBE)])}\n"
        '[policy.tools]\n"probe__echo" = "confirm"\n'
    )
    return config


def test_a_session_streams_runs_tools_after_a_yes_and_takes_commands(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    fake.script(
        oa.tool_calls(("probe__echo", json.dumps({"text": "alpha"}))),
        oa.text("Alpha came back."),
        oa.tool_calls(("probe__echo", json.dumps({"text": "beta"}))),
        oa.text("Nothing was run."),
        oa.text("Hello from deep."),
    )
    done = chat(
        write_config(tmp_path, fake.url),
        "/tools",
        "echo alpha",
        "y",
        "echo beta",
        "n",
        "/status",
        "/tier deep",
        "hello",
        "/reset",
        "/quit",
    )
    out = done.stdout
    assert done.returncode == 0, done.stderr
    assert "probe__echo" in out and "confirm" in out  # /tools shows the decision
    assert '→ probe__echo {"text": "alpha"}' in out
    assert "? run probe__echo" in out and "[y/N]" in out
    assert "✓ probe__echo: alpha from" in out
    assert "Alpha came back." in out
    assert "✗ probe__echo: error: the user did not approve probe__echo" in out
    assert "swapd's control API is not configured" in out
    assert "requests now ask for tier deep" in out
    assert "Hello from deep." in out
    assert "conversation cleared" in out
    assert fake.requests[-1]["model"] == "deep"
    assert set(fake.authorizations) == {f"Bearer {SENTINEL}"}
    assert SENTINEL not in out and SENTINEL not in done.stderr


def test_the_end_of_input_ends_the_session_and_a_pending_confirmation_is_a_no(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    fake.script(oa.tool_calls(("probe__echo", json.dumps({"text": "x"}))), oa.text("Understood."))
    done = chat(write_config(tmp_path, fake.url), "echo x")
    assert done.returncode == 0, done.stderr
    assert "✗ probe__echo: error: the user did not approve" in done.stdout
    assert "Understood." in done.stdout


def test_issue_13_an_unreachable_swapd_is_one_error_line_without_a_log_warning(tmp_path: Path) -> None:
    config = tmp_path / "assistant.toml"
    config.write_text(f'[llm]\nurl = "http://127.0.0.1:{free_port()}"\n')
    done = chat(config, "hello", "hello again")
    assert done.returncode == 0, done.stderr
    errors = [line for line in done.stdout.splitlines() if "[error]" in line]
    assert len(errors) == 2 and all("cannot reach swapd at http://127.0.0.1:" in e for e in errors), (
        done.stdout
    )
    assert done.stderr == "", "no log line (WARNING agent.budget_unknown) beside the error"


def test_check_config_names_the_bad_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[chat]\nmax_steps = -1\n")
    done = subprocess.run(
        [sys.executable, "-m", "assistant", "check-config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert (
        done.stderr.strip() == f"assistant: {bad}: chat.max_steps: Input should be greater than or equal to 1"
    )


def test_ctrl_c_stops_the_turn_in_progress_and_the_chat_goes_on(fake: FakeOpenAI, tmp_path: Path) -> None:
    fake.script(oa.tool_calls(("probe__hang", "{}")), oa.text("Still here."))
    chat = subprocess.Popen(
        [sys.executable, "-m", "assistant", "chat", "--config", str(write_config(tmp_path, fake.url))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert chat.stdin is not None and chat.stdout is not None
    try:
        chat.stdin.write("wait for it\n")
        chat.stdin.flush()
        seen = ""
        while "→ probe__hang" not in seen:  # the call is in flight; the line arrives before the hang
            line = chat.stdout.readline()
            assert line, seen
            seen += line
        chat.send_signal(signal.SIGINT)
        out, err = chat.communicate("hello\n", timeout=60)
    finally:
        if chat.poll() is None:
            chat.kill()
            chat.wait()
    assert chat.returncode == 0, err
    assert "[interrupted]" in out
    assert "assistant> Still here." in out
    # The interrupted turn left nothing behind: the next request is just the system prompt and "hello".
    assert [m["role"] for m in fake.requests[-1]["messages"]] == ["system", "user"]  # type: ignore[union-attr,index]
