import pytest

from orchestrator.llm import LLMClient, LLMConfig, LLMError, trim_history
from tests.scripted_llm import ScriptedLLMServer


def test_chat_goes_through_the_openai_client_and_is_recorded():
    with ScriptedLLMServer(["hello there"]) as server:
        client = LLMClient(LLMConfig(base_url=server.base_url, model="scripted-1"))
        answer = client.chat([{"role": "user", "content": "hi"}], stage="plan")
    assert answer == "hello there"
    assert server.requests[0]["model"] == "scripted-1"
    assert server.requests[0]["messages"] == [{"role": "user", "content": "hi"}]
    call = client.record[0]
    assert (call.stage, call.response, call.error) == ("plan", "hello there", None)


def test_transient_errors_are_retried_with_backoff():
    with ScriptedLLMServer(["ok"], fail_first=2) as server:
        client = LLMClient(LLMConfig(base_url=server.base_url, max_retries=3))
        assert client.chat([{"role": "user", "content": "hi"}]) == "ok"
    assert server.failures == 2


def test_unreachable_llm_is_a_clear_error():
    client = LLMClient(LLMConfig(base_url="http://127.0.0.1:9/v1", max_retries=0, timeout_s=2))
    with pytest.raises(LLMError, match="127.0.0.1:9") as err:
        client.chat([{"role": "user", "content": "hi"}], stage="plan")
    assert "--planner embedded" in str(err.value)
    assert client.record[0].error


def test_trim_history_drops_oldest_turns_but_keeps_system_and_request():
    messages = [{"role": "system", "content": "s" * 40}] + [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} " + "x" * 400} for i in range(10)
    ] + [{"role": "user", "content": "the request"}]
    trimmed = trim_history(messages, max_tokens=400)
    assert trimmed[0]["role"] == "system" and trimmed[-1]["content"] == "the request"
    assert len(trimmed) < len(messages)
    assert "turn 9" in trimmed[-2]["content"]  # newest history kept first


def test_config_from_env(monkeypatch):
    monkeypatch.setenv("HUGGINGGPT_LLM_BASE_URL", "http://127.0.0.1:1234/v1")
    monkeypatch.setenv("HUGGINGGPT_LLM_MODEL", "llama")
    config = LLMConfig.from_env(model=None)
    assert (config.base_url, config.model, config.configured) == ("http://127.0.0.1:1234/v1", "llama", True)
