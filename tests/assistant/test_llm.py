"""The optional model's contract, against a loopback OpenAI-compatible server: the request shape
(chat completions, one tool whose parameters are the request's JSON schema, the catalog summary,
the bearer key), validation of the answer, refusal of an invalid one, and the key kept secret."""

from __future__ import annotations

import datetime as dt

import pytest

from metricloop.assistant.llm import TOOL, LLMClient, LLMConfig
from metricloop.assistant.request import AskRequest
from metricloop.errors import QueryError
from tests.assistant.loopback import endpoint, tool_reply

KEY = "sk-test-assistant-0123456789"
NOW = dt.datetime(2026, 9, 30, 23, 0)


def test_request_shape_and_a_valid_answer() -> None:
    with endpoint() as ep:
        ep.reply = tool_reply({"intent": "query", "metrics": ["gmv"], "where": "region = '华东'",
                               "start": "2026-09-21", "end": "2026-09-27"})
        req = LLMClient(LLMConfig(ep.url, "local-model", KEY)).request("华东上礼拜卖了多少", "Metrics: gmv", now=NOW)
    assert isinstance(req, AskRequest)
    assert (req.intent, req.metrics, req.where, str(req.start), str(req.end)) == \
        ("query", ["gmv"], "region = '华东'", "2026-09-21", "2026-09-27")
    sent = ep.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["Authorization"] == f"Bearer {KEY}"
    body = sent["json"]
    assert body["model"] == "local-model"
    assert body["messages"][-1] == {"role": "user", "content": "华东上礼拜卖了多少"}
    assert "Metrics: gmv" in body["messages"][0]["content"] and "2026-09-30" in body["messages"][0]["content"]
    tool = body["tools"][0]["function"]
    assert tool["name"] == TOOL and body["tool_choice"]["function"]["name"] == TOOL
    assert set(tool["parameters"]["properties"]) == {"intent", "metrics", "by", "where", "start", "end", "grain",
                                                      "compare", "order", "limit"}


@pytest.mark.parametrize("reply", [
    tool_reply({"intent": "query", "metrics": ["gmv"], "sql": "select 1"}),  # an extra field: no free SQL
    tool_reply({"intent": "drop_tables", "metrics": ["gmv"]}),
    tool_reply("not json"),
    {"choices": [{"message": {"role": "assistant", "content": "GMV was 42"}}]},  # no tool call
])
def test_an_invalid_answer_is_refused(reply: dict) -> None:
    with endpoint() as ep:
        ep.reply = reply
        with pytest.raises(QueryError):
            LLMClient(LLMConfig(ep.url, "m", KEY)).request("q", "", now=NOW)


def test_the_key_never_appears_in_errors() -> None:
    with endpoint() as ep:
        ep.status, ep.reply = 401, {"error": f"bad key {KEY}"}
        with pytest.raises(QueryError) as info:
            LLMClient(LLMConfig(ep.url, "m", KEY)).request("q", "", now=NOW)
    assert KEY not in str(info.value) and "401" in str(info.value)


def test_configured_only_when_all_three_variables_are_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METRICLOOP_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("METRICLOOP_LLM_MODEL", "m")
    monkeypatch.delenv("METRICLOOP_LLM_API_KEY", raising=False)
    assert LLMConfig.from_env() is None
    monkeypatch.setenv("METRICLOOP_LLM_API_KEY", KEY)
    cfg = LLMConfig.from_env()
    assert cfg is not None and cfg.base_url == "http://127.0.0.1:9/v1"
