"""Another region's rows never appear, through every endpoint and every service path.

The 华东 manager (``east``) queries, compiles, exports, drills down, opens the dictionary and
the metric pages' data; nothing from 华北/华南 ever comes back, and totals equal the admin's
华东 slice exactly.
"""

from __future__ import annotations

import datetime as dt

import pytest

from metricloop.access.context import acting_as
from metricloop.engine.query import MetricQuery
from metricloop.errors import PermissionDenied
from tests.api.service import Service

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
OTHER_REGIONS = ("华北", "华南")


def _admin_slice(svc: Service, metric: str, region: str) -> float:
    rows = svc.ml.query(MetricQuery(metrics=[metric], where=f"region = '{region}'")).rows()
    return float(rows[0][metric])


def test_query_returns_only_the_users_region(svc: Service) -> None:
    h = svc.as_("east")
    for body in ({"metrics": ["gmv", "orders", "aov"], "group_by": ["region"]},
                 {"metrics": ["gmv"], "group_by": ["region", "channel"], "grain": "week"},
                 {"metrics": ["conversion_rate", "sessions"], "group_by": ["region"]},
                 {"metrics": ["gmv_7d"], "group_by": ["region"], "grain": "day", "end": "2026-02-01"},
                 {"metrics": ["gmv"], "group_by": ["region"], "compare": "previous_period", "grain": "month"}):
        rows = svc.client.post("/api/v1/query", json=body, headers=h).json()["rows"]
        assert rows, body
        assert {r["region"] for r in rows} == {"华东"}, body


def test_totals_equal_the_admins_east_slice(svc: Service) -> None:
    total = svc.client.post("/api/v1/query", json={"metrics": ["gmv"]}, headers=svc.as_("east")).json()["rows"]
    assert total[0]["gmv"] == pytest.approx(_admin_slice(svc, "gmv", "华东"))
    both = svc.client.post("/api/v1/query", json={"metrics": ["gmv"]}, headers=svc.as_("viewer")).json()["rows"]
    assert both[0]["gmv"] == pytest.approx(_admin_slice(svc, "gmv", "华东") + _admin_slice(svc, "gmv", "华南"))


def test_asking_for_another_region_returns_nothing(svc: Service) -> None:
    for region in OTHER_REGIONS:
        body = {"metrics": ["gmv"], "where": f"region = '{region}' or region != '华东'", "group_by": ["region"]}
        assert svc.client.post("/api/v1/query", json=body, headers=svc.as_("east")).json()["rows"] == []


def test_compiled_sql_and_csv_export_carry_the_filter(svc: Service) -> None:
    body = {"metrics": ["gmv"], "group_by": ["region"]}
    sql = svc.client.post("/api/v1/query/sql", json=body, headers=svc.as_("north")).json()["sql"]
    assert "IN ('华北')" in sql
    csv = svc.client.post("/api/v1/query/csv", json=body, headers=svc.as_("north")).text
    assert "华北" in csv
    assert not any(r in csv for r in ("华东", "华南"))


def test_metrics_that_cannot_be_limited_are_refused(svc: Service) -> None:
    r = svc.client.post("/api/v1/query", json={"metrics": ["signups"]}, headers=svc.as_("east"))
    assert r.status_code == 403
    assert "region" in r.json()["message"]
    assert svc.client.post("/api/v1/query", json={"metrics": ["signups"]}, headers=svc.as_("boss")).status_code == 200


def test_user_without_scope_sees_no_rows(svc: Service) -> None:
    r = svc.client.post("/api/v1/query", json={"metrics": ["gmv"]}, headers=svc.as_("noscope"))
    assert r.status_code == 403
    assert svc.client.get("/api/v1/me", headers=svc.as_("noscope")).json()["row_filters"] == [
        "<no rows: attribute missing>"]


def test_raw_rejected_rows_are_closed_to_restricted_users(svc: Service) -> None:
    r = svc.client.get("/api/v1/loads/1/rejects", headers=svc.as_("east"))
    assert r.status_code == 403


def test_services_calling_the_facade_obey_the_acting_user(svc: Service) -> None:
    """Drill-down and explanation services call ``ml.query`` themselves: the policy still applies."""
    east = svc.ml.access.principal("east")
    q = MetricQuery(metrics=["gmv"], group_by=["region"])
    with acting_as(east):
        assert {r["region"] for r in svc.ml.query(q).rows()} == {"华东"}
        assert "IN ('华东')" in svc.ml.compile(q).sql
        with pytest.raises(PermissionDenied):
            svc.ml.query(MetricQuery(metrics=["signups"]))
    assert {r["region"] for r in svc.ml.query(q).rows()} == {"华东", "华北", "华南"}  # background work


def test_ui_data_paths_obey_the_policy(svc: Service) -> None:
    from metricloop.ui import data

    east = svc.ml.access.principal("east")
    day = data.latest_day(svc.ml, east, "gmv")
    assert day is not None
    rows = data.drill_down(svc.ml, east, "gmv", day, "region")
    assert [r.member for r in rows] == ["华东"]
    board = data.status_board(svc.ml, east, "zh-CN")
    gmv_card = next(c for c in board.tiers["north_star"] if c.metric == "gmv")
    when = dt.datetime.combine(day, dt.time())
    admin_value = svc.ml.query(MetricQuery(metrics=["gmv"], where="region = '华东'", start=when, end=when,
                                           grain="day")).rows()[0]["gmv"]
    admin_value = float(admin_value)
    assert gmv_card.raw == pytest.approx(admin_value)


def test_hidden_metrics_do_not_leak(svc: Service) -> None:
    svc.ml.access.grant("refund_*", "user", "north")
    h = svc.as_("east")
    names = [m["name"] for m in svc.client.get("/api/v1/metrics", params={"limit": 500}, headers=h).json()["items"]]
    assert "refund_rate" not in names
    assert "refunded_orders" in names  # not matched by the glob
    assert svc.client.get("/api/v1/metrics/refund_rate", headers=h).status_code == 404
    assert svc.client.post("/api/v1/query", json={"metrics": ["refund_rate"]}, headers=h).status_code == 403
    assert svc.client.post("/api/v1/query", json={"metrics": ["refund_rate"]},
                           headers=svc.as_("north")).status_code == 200
    svc.ml.access.grant("gmv", "role", "owner", "deny")
    assert svc.client.post("/api/v1/query", json={"metrics": ["aov"]}, headers=h).status_code == 403  # uses gmv
    tree = svc.client.get("/api/v1/metrics/orders", headers=h).json()["parents"]
    assert all(e["parent"] != "gmv" for e in tree)
