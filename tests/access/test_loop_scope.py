"""Stored loop records obey row scope through every endpoint: a 华东 manager never sees another
region's anomalies, incidents, explanations, reviews or cases — not in listings, not by id, not
by acting on them — and her loop-health figures count only her incidents.

Records about the whole metric (no region) are totals over every region: hidden from her too.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.demo import Demo

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
API = "/api/v1"


def _items(demo: Demo, path: str, user: str, **params: Any) -> list[dict[str, Any]]:
    r = demo.client.get(API + path, headers=demo.as_(user), params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def _region(record: dict[str, Any]) -> str | None:
    return (record.get("slice") or {}).get("region")


@pytest.fixture(scope="module")
def scoped(demo: Demo) -> dict[str, Any]:
    """One 华东 and one 华南 incident, each with a completed review, and an anomaly of each region."""
    incs = demo.ml.workflow.list_incidents(limit=10_000)
    east = next(i for i in incs if (i["slice"] or {}).get("region") == "华东")
    south = next(i for i in incs if (i["slice"] or {}).get("region") == "华南")
    total = next(i for i in incs if not i["slice"])
    cases = ((east, "华东门店会话下降 east store sessions"), (south, "华南门店会话下降 south store sessions"))
    for inc, words in cases:
        demo.ml.review.draft(inc["id"], actor="boss")
        for key in demo.ml.review.get(inc["id"])["missing"]:
            demo.ml.review.edit(inc["id"], key, f"{words} · {key}", actor="boss")
        demo.ml.review.complete(inc["id"], actor="boss")
    anomalies = demo.ml.detection.anomalies(state=None, limit=10_000)
    return {
        "east": east, "south": south, "total": total,
        "east_anomaly": next(a for a in anomalies if a.slice.get("region") == "华东"),
        "south_anomaly": next(a for a in anomalies if a.slice.get("region") == "华南"),
        "total_anomaly": next(a for a in anomalies if not a.slice),
    }


def test_anomaly_inbox_shows_only_her_region(demo: Demo, scoped: dict[str, Any]) -> None:
    for state in ("active", "all"):
        mine = _items(demo, "/anomalies", "east", state=state)
        assert mine, state
        assert {_region(a) for a in mine} == {"华东"}, state
    admin = _items(demo, "/anomalies", "boss", state="all")
    assert len(admin) > len(_items(demo, "/anomalies", "east", state="all"))
    assert {_region(a) for a in _items(demo, "/anomalies", "south", state="all")} == {"华南"}
    assert _items(demo, "/anomalies", "noscope", state="all") == []  # no region attribute: nothing (fail closed)


@pytest.mark.parametrize("which", ["south_anomaly", "total_anomaly"])
def test_other_anomalies_are_unknown_to_her(demo: Demo, scoped: dict[str, Any], which: str) -> None:
    fp = scoped[which].fingerprint
    h = demo.as_("east")
    assert demo.client.get(f"{API}/anomalies/{fp}", headers=h).status_code == 404
    assert demo.client.get(f"{API}/anomalies/{fp}/explanation", headers=h).status_code == 404
    assert demo.client.post(f"{API}/anomalies/{fp}/explain", headers=h).status_code == 404
    assert demo.client.post(f"{API}/anomalies/{fp}/feedback", headers=h, json={"label": "confirmed"}).status_code == 404
    assert demo.ml.detection.anomaly(fp).label is None
    mine = scoped["east_anomaly"].fingerprint
    assert demo.client.get(f"{API}/anomalies/{mine}", headers=h).status_code == 200


def test_incident_lists_and_board_show_only_her_region(demo: Demo, scoped: dict[str, Any]) -> None:
    mine = _items(demo, "/incidents", "east")
    assert mine and {_region(i) for i in mine} == {"华东"}
    everyone = _items(demo, "/incidents", "boss")
    assert len(mine) == sum(1 for i in everyone if _region(i) == "华东")
    board = demo.client.get(f"{API}/incidents/board", headers=demo.as_("east")).json()
    assert {_region(i) for c in board["columns"] for i in c["items"]} <= {"华东"}
    assert _items(demo, "/incidents", "east", team=scoped["south"]["team"]) == []


@pytest.mark.parametrize("which", ["south", "total"])
def test_other_incidents_cannot_be_read_or_touched(demo: Demo, scoped: dict[str, Any], which: str) -> None:
    ref = scoped[which]["id"]
    h = demo.as_("east")
    before = demo.ml.workflow.incident(ref)
    for method, path, body in (
        ("get", f"/incidents/{ref}", None),
        ("get", f"/incidents/{ref}/similar", None),
        ("post", f"/incidents/{ref}/act", {"action": "reopen"}),
        ("post", f"/incidents/{ref}/assign", {"owner": "he.jing"}),
        ("post", f"/incidents/{ref}/comments", {"text": "看看"}),
        ("post", f"/incidents/{ref}/action-items", {"title": "x"}),
        ("get", f"/reviews/{ref}", None),
        ("post", f"/reviews/{ref}", None),
        ("put", f"/reviews/{ref}/sections/summary", {"text": "x"}),
        ("post", f"/reviews/{ref}/complete", None),
        ("post", f"/reviews/{ref}/verify", {"close": False}),
        ("get", f"/reviews/{ref}/effect", None),
    ):
        r = demo.client.request(method.upper(), API + path, headers=h, json=body)
        assert r.status_code == 404, (path, r.status_code, r.text)
    after = demo.ml.workflow.incident(ref)
    assert (after["status"], after["owner"], len(after["audit"]), len(after["actions"])) == (
        before["status"], before["owner"], len(before["audit"]), len(before["actions"]))


def test_her_own_incident_is_open_to_her(demo: Demo, scoped: dict[str, Any]) -> None:
    ref = scoped["east"]["id"]
    h = demo.as_("east")
    assert demo.client.get(f"{API}/incidents/{ref}", headers=h).status_code == 200
    assert demo.client.get(f"{API}/reviews/{ref}", headers=h).json()["status"] == "completed"
    similar = demo.client.get(f"{API}/incidents/{ref}/similar", headers=h).json()
    assert {_region(c) for c in similar} <= {"华东"}


def test_action_items_of_other_regions_cannot_be_changed(demo: Demo, scoped: dict[str, Any]) -> None:
    ref = scoped["south"]["id"]
    item = demo.ml.workflow.add_action(ref, "华南的行动项", actor="boss")
    r = demo.client.patch(f"{API}/action-items/{item['id']}", headers=demo.as_("east"), json={"status": "done"})
    assert r.status_code == 404
    assert next(a for a in demo.ml.workflow.incident(ref)["actions"] if a["id"] == item["id"])["status"] == "open"


def test_case_library_shows_only_her_cases(demo: Demo, scoped: dict[str, Any]) -> None:
    for q in ("", "门店 会话", "store sessions"):
        mine = _items(demo, "/cases", "east", q=q)
        assert scoped["east"]["id"] in [c["incident"] for c in mine], q
        assert {_region(c) for c in mine} == {"华东"}, q
        theirs = _items(demo, "/cases", "south", q=q)
        assert scoped["south"]["id"] in [c["incident"] for c in theirs], q
        assert scoped["east"]["id"] not in [c["incident"] for c in theirs], q


def test_explanations_follow_the_scope_they_were_computed_in(demo: Demo, scoped: dict[str, Any]) -> None:
    body = {"metric": "sessions", "at": "2026-09-20T00:00:00", "by": ["region", "channel"]}
    hers = demo.client.post(f"{API}/explain", headers=demo.as_("east"), json=body).json()
    assert hers["actual"] is not None
    causes = (hers["localization"] or {}).get("causes") or []
    assert all("华南" not in c["element"] and "华北" not in c["element"] for c in causes)
    drill = hers["drilldown"] or {"dimensions": []}
    regions = {row["value"] for d in drill["dimensions"] if d["dimension"] == "region" for row in d["rows"]}
    assert regions <= {"华东"}
    admins = demo.client.post(f"{API}/explain", headers=demo.as_("boss"), json=body).json()
    assert admins["actual"] > hers["actual"]
    assert demo.client.get(f"{API}/explanations/{hers['id']}", headers=demo.as_("east")).status_code == 200
    assert demo.client.get(f"{API}/explanations/{hers['id']}", headers=demo.as_("south")).status_code == 404
    assert demo.client.get(f"{API}/explanations/{admins['id']}", headers=demo.as_("east")).status_code == 404
    assert demo.client.get(f"{API}/explanations/{hers['id']}", headers=demo.as_("boss")).status_code == 200


def test_loop_health_and_weekly_report_count_only_her_incidents(demo: Demo, scoped: dict[str, Any]) -> None:
    h = demo.as_("east")
    health = demo.client.get(f"{API}/loop/health", headers=h).json()
    mine = _items(demo, "/incidents", "east")
    assert health["overall"]["incidents"] == len(mine)
    assert set(health["by_team"]) <= {i["team"] for i in mine}
    week = scoped["south"]["triggered_at"].date().isoformat()
    report = demo.client.get(f"{API}/reports/weekly", headers=h, params={"week_of": week}).text
    assert scoped["south"]["title"] not in report
    admin_report = demo.client.get(f"{API}/reports/weekly", headers=demo.as_("boss"), params={"week_of": week}).text
    assert scoped["south"]["title"] in admin_report


def test_a_hidden_metric_hides_its_records_and_monitors(demo: Demo, scoped: dict[str, Any]) -> None:
    metric = scoped["east"]["metric"]
    demo.ml.access.grant(metric, "user", "boss")  # from now on only boss (and admins) read it
    try:
        h = demo.as_("east")
        assert all(i["metric"] != metric for i in _items(demo, "/incidents", "east"))
        assert all(a["metric"] != metric for a in _items(demo, "/anomalies", "east", state="all"))
        assert all(c["metric"] != metric for c in _items(demo, "/cases", "east"))
        assert demo.client.get(f"{API}/incidents/{scoped['east']['id']}", headers=h).status_code == 404
        assert all(m["metric"] != metric for m in _items(demo, "/monitors", "east"))
    finally:
        for p in demo.ml.access.permissions():
            demo.ml.access.revoke_permission(p.id)
    assert demo.client.get(f"{API}/incidents/{scoped['east']['id']}", headers=demo.as_("east")).status_code == 200


def test_backtest_preview_runs_on_her_rows(demo: Demo, scoped: dict[str, Any]) -> None:
    spec = {"name": "p", "metric": "sessions", "by": ["region"], "grain": "day", "total": False}
    r = demo.client.post(f"{API}/monitors/backtest", headers=demo.as_("north"), json={"definition": spec})
    assert r.status_code == 200, r.text
    assert {s["slice"].get("region") for s in r.json()["series"]} == {"华北"}
