"""The embedded default's backend: the real llama-server answers a real chat on the tiny model."""

import httpx
import pytest
from llama import running_llama

pytestmark = pytest.mark.integration


def test_tiny_model_answers_a_chat_with_sane_usage() -> None:
    with running_llama() as llama:
        reply = httpx.post(
            f"{llama.url}/v1/chat/completions",
            json={
                "messages": [{"role": "user", "content": "Name one colour of the sky."}],
                "max_tokens": 16,
                "temperature": 0,
            },
            timeout=60,
        )
        assert llama.process.poll() is None
    assert reply.status_code == 200
    body = reply.json()
    answer = body["choices"][0]["message"]["content"]
    assert answer.strip()
    usage = body["usage"]
    assert usage["prompt_tokens"] > 5
    assert 0 < usage["completion_tokens"] <= 16
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
