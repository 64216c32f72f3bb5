"""The assistant's doors on a real project (the tests' tiny shop, not the demo: the vocabulary
comes from whatever catalog and warehouse the project has): `metricloop ask --format json`,
`POST /api/v1/ask` as users with row policies and metric permissions, the charts chosen from the
result's shape, and the optional model through a loopback OpenAI-compatible server."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from metricloop.assistant.service import AssistantService
from metricloop.engine.query import MetricQuery
from tests.api.service import Service, build_service
from tests.assistant.loopback import endpoint, tool_reply

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
NOW = "2026-02-20T12:00:00"
CONTRACT = {"intent", "interpretation", "text", "rows", "chart", "clarify"}
KEY = "sk-assistant-service-test-987654"


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = build_service(tmp_path_factory.mktemp("ask") / "proj")
    yield service
    service.ml.close()


def ask(svc: Service, user: str, question: str) -> dict:
    r = svc.client.post("/api/v1/ask", json={"question": question, "now": NOW}, headers=svc.as_(user))
    assert r.status_code == 200, r.text
    return r.json()


def test_cli_json_contract(svc: Service) -> None:
    from metricloop.cli.main import app, load_commands

    load_commands()
    out = CliRunner().invoke(app, ["ask", "上周华东的成交额", "-p", str(svc.ml.project.root), "--format", "json",
                                   "--now", NOW])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.output)
    assert set(payload) >= CONTRACT
    assert set(payload["interpretation"]) == {"metrics", "by", "where", "start", "end", "grain", "compare", "order",
                                              "limit"}
    assert payload["intent"] == "query"
    assert payload["interpretation"] | {} == {"metrics": ["gmv"], "by": [], "where": "region = '华东'",
                                              "start": "2026-02-09", "end": "2026-02-15", "grain": None,
                                              "compare": None, "order": None, "limit": None}
    assert set(payload["text"]) == {"zh-CN", "en"} and "理解为：成交额" in payload["text"]["zh-CN"]
    direct = svc.ml.query(MetricQuery(metrics=["gmv"], where="region = '华东'", start="2026-02-09",
                                      end="2026-02-15")).rows()[0]["gmv"]
    assert payload["rows"] == [{"gmv": pytest.approx(direct)}]
    assert payload["chart"]["type"] == "number" and payload["sql"].startswith("SELECT")


def test_api_answers_within_the_users_rows(svc: Service) -> None:
    everyone = ask(svc, "boss", "各region的gmv")
    assert {r["region"] for r in everyone["rows"]} == {"华东", "华北", "华南"}
    east = ask(svc, "east", "各region的gmv")  # row policy: region in the user's attribute
    assert {r["region"] for r in east["rows"]} == {"华东"}
    assert "华东" in east["sql"]
    assert east["chart"]["kind"] == "bar"


def test_api_refuses_what_the_user_may_not_do(svc: Service) -> None:
    r = svc.client.post("/api/v1/ask", json={"question": "why did gmv drop yesterday", "now": NOW},
                        headers=svc.as_("viewer"))
    assert r.status_code == 403  # explanations need the explain permission
    r = svc.client.post("/api/v1/ask", json={"question": "gmv yesterday"})
    assert r.status_code == 401


def test_a_hidden_metric_looks_unknown(tmp_path: Path) -> None:
    service = build_service(tmp_path / "p")
    try:
        service.ml.access.grant("gmv", "role", "owner", "deny")
        r = service.client.post("/api/v1/ask", json={"question": "gmv last week", "now": NOW},
                                headers=service.as_("east"))
        assert r.status_code == 404
        assert ask(service, "boss", "gmv last week")["rows"]
    finally:
        service.ml.close()


def test_charts_follow_the_shape_of_the_result(svc: Service) -> None:
    assert ask(svc, "boss", "gmv last week vs the week before")["chart"]["type"] == "number"
    card = ask(svc, "boss", "gmv last week vs the week before")["chart"]
    assert card["change"] is not None and card["previous"] is not None
    assert ask(svc, "boss", "daily gmv last week")["chart"]["kind"] == "line"
    assert ask(svc, "boss", "gmv by channel last week")["chart"]["kind"] == "bar"
    assert ask(svc, "boss", "daily gmv and orders last week")["chart"]["kind"] == "combo"
    top = ask(svc, "boss", "top 2 regions by orders last week")
    assert top["interpretation"]["limit"] == 2 and len(top["rows"]) == 2
    assert top["rows"][0]["orders"] >= top["rows"][1]["orders"]
    assert len(ask(svc, "boss", "gmv last week")["suggestions"]) in (1, 2)


def test_ambiguity_is_asked_back(svc: Service) -> None:
    answer = ask(svc, "boss", "华东上周怎么样")
    assert answer["clarify"] and answer["rows"] == [] and answer["sql"] is None


def test_the_model_resolves_what_the_parser_cannot(svc: Service, monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    now = dt.datetime.fromisoformat(NOW)
    with endpoint() as ep:
        monkeypatch.setenv("METRICLOOP_LLM_BASE_URL", ep.url)
        monkeypatch.setenv("METRICLOOP_LLM_MODEL", "local")
        monkeypatch.setenv("METRICLOOP_LLM_API_KEY", KEY)
        ml = svc.ml
        assistant = AssistantService(ml.ctx, detection=ml.detection, explain=ml.explain,
                                     workflow=ml.workflow, review=ml.review, access=ml.access)
        ep.reply = tool_reply({"intent": "query", "metrics": ["gmv"], "where": "region = '华北'",
                               "start": "2026-02-09", "end": "2026-02-15"})
        good = assistant.ask("how much money did the north make last week", now=now).to_dict()
        assert good["source"] == "llm" and good["interpretation"]["where"] == "region = '华北'" and good["rows"]
        assert "gmv" in ep.requests[0]["json"]["messages"][0]["content"]  # the catalog summary
        resolved = assistant.ask("上周华东的成交额", now=now)
        assert resolved.source == "offline" and len(ep.requests) == 1  # offline first: no call

        ep.reply = tool_reply({"intent": "query", "metrics": ["no_such_metric"]})
        with caplog.at_level(logging.WARNING, logger="metricloop.assistant"):
            refused = assistant.ask("how much money did the north make last week", now=now).to_dict()
        assert refused["source"] == "offline" and refused["clarify"] and refused["rows"] == []
        assert "refused" in caplog.text
        ep.status, ep.reply = 500, {"error": f"upstream rejected key {KEY}"}
        failed = assistant.ask("how much money did the north make last week", now=now).to_dict()
    assert failed["clarify"]
    text = json.dumps([good, refused, failed], ensure_ascii=False) + caplog.text
    assert KEY not in text
