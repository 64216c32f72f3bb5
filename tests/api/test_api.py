"""The HTTP API through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from metricloop.engine.query import MetricQuery
from tests.api.service import PASSWORD, Service

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_healthz_and_prometheus_metrics(svc: Service) -> None:
    health = svc.client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert health.json()["metrics"] == len(svc.ml.catalog.metrics)
    svc.client.get("/api/v1/metrics", headers=svc.as_("viewer"))
    text = svc.client.get("/metrics").text
    assert 'metricloop_http_requests_total{method="GET",route="/api/v1/metrics",status="200"}' in text
    assert "metricloop_catalog_metrics " in text


def test_requests_without_valid_credentials_are_401(svc: Service) -> None:
    r = svc.client.get("/api/v1/metrics")
    assert r.status_code == 401
    assert r.json()["error"] == "not_authenticated"
    assert r.headers["www-authenticate"] == "Bearer"
    assert svc.client.get("/api/v1/metrics", headers={"Authorization": "Bearer mlt_forged"}).status_code == 401
    assert svc.client.get("/api/v1/metrics", headers={"Authorization": "Basic Ym9zczp4"}).status_code == 401


def test_dictionary_search_by_chinese_and_english_synonyms(svc: Service) -> None:
    h = svc.as_("viewer")
    by_synonym = svc.client.get("/api/v1/metrics", params={"search": "销售额"}, headers=h).json()
    assert [m["name"] for m in by_synonym["items"]] == ["gmv"]
    by_label = svc.client.get("/api/v1/metrics", params={"search": "GMV"}, headers=h).json()
    assert by_label["items"][0]["name"] == "gmv"
    assert by_label["items"][0]["label"] == {"zh-CN": "成交额", "en": "GMV"}
    north_star = svc.client.get("/api/v1/metrics", params={"tier": "north_star"}, headers=h).json()
    assert {m["name"] for m in north_star["items"]} == {"gmv"}


def test_listings_paginate(svc: Service) -> None:
    h = svc.as_("viewer")
    first = svc.client.get("/api/v1/metrics", params={"limit": 5}, headers=h).json()
    total = len(svc.ml.metrics())
    assert first["total"] == total
    assert len(first["items"]) == 5
    assert first["next_offset"] == 5
    seen = [m["name"] for m in first["items"]]
    offset = first["next_offset"]
    while offset is not None:
        page = svc.client.get("/api/v1/metrics", params={"limit": 5, "offset": offset}, headers=h).json()
        seen += [m["name"] for m in page["items"]]
        offset = page["next_offset"]
    assert sorted(seen) == sorted(m.name for m in svc.ml.metrics())
    assert svc.client.get("/api/v1/metrics", params={"limit": 0}, headers=h).status_code == 422


def test_metric_detail_revisions_and_tree(svc: Service) -> None:
    h = svc.as_("viewer")
    d = svc.client.get("/api/v1/metrics/aov", headers=h).json()
    assert d["type"] == "ratio"
    assert d["version"] == 1
    assert d["revisions"][0]["change"] == "created"
    assert d["source"].startswith("models/shop.yaml:")
    assert d["editable"] is False
    assert "region" in d["dimensions"]
    assert [(c["metric"], c["relation"]) for c in d["tree"]["children"]] == [
        ("gmv", "ratio_numerator"), ("orders", "ratio_denominator")]
    assert svc.client.get("/api/v1/metrics/aov/tree", headers=h).json() == d["tree"]
    assert svc.client.get("/api/v1/metrics/aov/revisions", headers=h).json()[0]["version"] == 1
    missing = svc.client.get("/api/v1/metrics/gmvv", headers=h)
    assert missing.status_code == 404
    assert "did you mean 'gmv'" in missing.json()["message"]


def test_query_returns_rows_and_sql(svc: Service) -> None:
    body = {"metrics": ["gmv", "orders"], "group_by": ["region"], "order_by": ["region"]}
    r = svc.client.post("/api/v1/query", json=body, headers=svc.as_("boss"))
    assert r.status_code == 200
    out = r.json()
    expected = svc.ml.query(MetricQuery(**body)).rows()
    assert [(r["region"], r["orders"]) for r in out["rows"]] == [(r["region"], r["orders"]) for r in expected]
    assert [r["gmv"] for r in out["rows"]] == pytest.approx([float(r["gmv"]) for r in expected])
    assert out["row_count"] == 3
    assert [c["name"] for c in out["columns"]] == ["region", "gmv", "orders"]
    assert "SUM(" in out["sql"].upper()


def test_query_time_series_is_iso_json(svc: Service) -> None:
    body = {"metrics": ["gmv"], "grain": "day", "start": "2026-01-01", "end": "2026-01-03"}
    rows = svc.client.post("/api/v1/query", json=body, headers=svc.as_("boss")).json()["rows"]
    assert [r["metric_time__day"] for r in rows] == ["2026-01-01T00:00:00", "2026-01-02T00:00:00",
                                                     "2026-01-03T00:00:00"]


def test_errors_share_one_shape(svc: Service) -> None:
    h = svc.as_("boss")
    unknown = svc.client.post("/api/v1/query", json={"metrics": ["nope"]}, headers=h)
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "not_found"
    bad_filter = svc.client.post("/api/v1/query", json={"metrics": ["gmv"], "where": "region = "}, headers=h)
    assert bad_filter.status_code == 400
    assert bad_filter.json()["error"] == "query_error"
    invalid = svc.client.post("/api/v1/query", json={"metrics": [], "bogus": 1}, headers=h)
    assert invalid.status_code == 422
    body = invalid.json()
    assert body["error"] == "invalid_request"
    assert "body.bogus" in {i["field"] for i in body["issues"]}
    zero = svc.client.post("/api/v1/query", json={"metrics": ["gmv"], "limit": 0}, headers=h).json()
    assert zero["issues"][0]["field"] == "body.limit"
    assert zero["message"].startswith("body.limit: ")


def test_compile_and_csv_export(svc: Service) -> None:
    body = {"metrics": ["gmv"], "group_by": ["region"], "order_by": ["region"]}
    sql = svc.client.post("/api/v1/query/sql", json=body, headers=svc.as_("boss")).json()
    assert sql["dialect"] == "duckdb"
    csv = svc.client.post("/api/v1/query/csv", json=body, headers=svc.as_("boss"))
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.lstrip("\ufeff").strip().splitlines()
    assert lines[0] == "region,gmv"
    assert len(lines) == 4
    assert svc.client.post("/api/v1/query/csv", json=body, headers=svc.as_("viewer")).status_code == 403


# ------------------------------------------------------------------------------ definitions
def test_write_definitions_through_the_validator_as_revisions(svc: Service) -> None:
    h = svc.as_("editor")
    new = {"definition": {"measure": "order_count", "filter": "channel = 'app'",
                          "label": {"zh-CN": "App 订单数", "en": "App orders"}}, "reason": "app team asked"}
    created = svc.client.put("/api/v1/metrics/app_orders", json=new, headers=h)
    assert created.status_code == 200, created.text
    assert created.json() == {"name": "app_orders", "created": True, "change": "created", "version": 1,
                              "file": "models/authored/app_orders.yaml"}
    assert (svc.ml.project.root / "models/authored/app_orders.yaml").exists()
    rows = svc.client.post("/api/v1/query", json={"metrics": ["app_orders", "orders"], "where": "channel = 'app'"},
                           headers=svc.as_("boss")).json()["rows"]
    assert rows[0]["app_orders"] == rows[0]["orders"]

    meta = {"definition": {**new["definition"], "description": "orders placed in the app"}, "base_version": 1}
    assert svc.client.put("/api/v1/metrics/app_orders", json=meta, headers=h).json()["change"] == "metadata"
    calc = {"definition": {**meta["definition"], "filter": "channel = 'web'"}, "base_version": 2,
            "reason": "rename later"}
    r = svc.client.put("/api/v1/metrics/app_orders", json=calc, headers=h).json()
    assert (r["change"], r["version"]) == ("calculation", 3)
    revs = svc.client.get("/api/v1/metrics/app_orders/revisions", headers=h).json()
    assert [(x["change"], x["author"]) for x in revs] == [("created", "editor"), ("metadata", "editor"),
                                                          ("calculation", "editor")]
    detail = svc.client.get("/api/v1/metrics/app_orders", headers=h).json()
    assert detail["editable"] is True

    stale = svc.client.put("/api/v1/metrics/app_orders", json=calc, headers=h)
    assert stale.status_code == 409
    assert "stale revision" in stale.json()["message"]
    again = svc.client.put("/api/v1/metrics/app_orders", json=new, headers=h)
    assert again.status_code == 409


def test_invalid_definition_is_rejected_with_its_location(svc: Service) -> None:
    bad = {"definition": {"measure": "order_cnt", "filter": "chanel = 'app'"}}
    r = svc.client.put("/api/v1/metrics/bad_metric", json=bad, headers=svc.as_("editor"))
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "definition_error"
    assert body["issues"][0]["file"] == "models/authored/bad_metric.yaml"
    assert body["issues"][0]["field"] == "metrics[0].measure"
    assert "did you mean 'order_count'" in body["issues"][0]["message"]
    assert not (svc.ml.project.root / "models/authored/bad_metric.yaml").exists()
    typo = svc.client.put("/api/v1/metrics/bad_metric", json={"definition": {"measure": "order_count", "agg": "summ"}},
                          headers=svc.as_("editor"))
    assert typo.status_code == 422


def test_hand_written_definitions_are_not_rewritten(svc: Service) -> None:
    r = svc.client.put("/api/v1/metrics/gmv", json={"definition": {"measure": "order_count"}, "base_version": 1},
                       headers=svc.as_("editor"))
    assert r.status_code == 409
    assert "models/shop.yaml" in r.json()["message"]


def test_viewers_cannot_write_definitions(svc: Service) -> None:
    r = svc.client.put("/api/v1/metrics/x_metric", json={"definition": {"measure": "order_count"}},
                       headers=svc.as_("viewer"))
    assert r.status_code == 403


# ------------------------------------------------------------------------------ sessions
def test_session_login_csrf_and_logout(svc: Service) -> None:
    c = svc.client
    wrong = c.post("/api/v1/auth/login", json={"username": "editor", "password": "nope"})
    assert wrong.status_code == 403
    login = c.post("/api/v1/auth/login", json={"username": "editor", "password": PASSWORD})
    assert login.status_code == 200
    csrf = login.json()["user"]["csrf_token"]
    assert c.get("/api/v1/me").json()["username"] == "editor"
    body = {"definition": {"measure": "order_count"}}
    assert c.put("/api/v1/metrics/s_orders", json=body).status_code == 403  # no CSRF token
    assert c.put("/api/v1/metrics/s_orders", json=body, headers={"X-CSRF-Token": "0" * 64}).status_code == 403
    assert c.put("/api/v1/metrics/s_orders", json=body, headers={"X-CSRF-Token": csrf}).status_code == 200
    assert c.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert c.get("/api/v1/me").status_code == 401


def test_html_login_form_requires_its_csrf_token(svc: Service) -> None:
    c = svc.client
    form = c.get("/login")
    assert form.status_code == 200
    token = form.cookies.get("metricloop_login_csrf") or c.cookies.get("metricloop_login_csrf")
    forged = c.post("/login", data={"username": "boss", "password": PASSWORD, "csrf": "x", "next": "/"},
                    follow_redirects=False)
    assert forged.status_code == 303
    assert "error=csrf" in forged.headers["location"]
    ok = c.post("/login", data={"username": "boss", "password": PASSWORD, "csrf": token,
                                "next": "https://evil.example/"}, follow_redirects=False)
    assert ok.headers["location"] == "/"  # never an off-site redirect
    assert c.get("/api/v1/me").json()["username"] == "boss"


def test_repeated_failed_sign_ins_are_throttled_with_retry_after(lite: Service) -> None:
    c = lite.client
    for _ in range(5):
        assert c.post("/api/v1/auth/login", json={"username": "editor", "password": "nope"}).status_code == 403
    r = c.post("/api/v1/auth/login", json={"username": "editor", "password": PASSWORD})
    assert r.status_code == 429
    assert 0 < int(r.headers["Retry-After"]) <= 300
    assert r.json()["error"] == "too_many_attempts" and "try again" in r.json()["message"]
    token = c.get("/login").cookies.get("metricloop_login_csrf") or c.cookies.get("metricloop_login_csrf")
    form = c.post("/login", data={"username": "editor", "password": PASSWORD, "csrf": token, "next": "/"},
                  headers={"Accept-Language": "zh-CN"}, follow_redirects=False)  # the form door, same name
    assert form.status_code == 429 and int(form.headers["Retry-After"]) > 0
    assert "登录失败次数过多" in form.text and 'name="csrf"' in form.text
    assert c.get("/api/v1/me").status_code == 401
    denied, _ = lite.ml.access.audit_log(action="login", limit=20)
    assert [a.outcome for a in denied[:2]] == ["throttled", "throttled"]
    assert denied[0].detail["client"] == "testclient"
    # the address's own limit is higher: another user behind the same address still signs in
    assert c.post("/api/v1/auth/login", json={"username": "boss", "password": PASSWORD}).status_code == 200


# ------------------------------------------------------------------------------ ingest
def test_ingest_load_checks_and_history(svc: Service) -> None:
    root = svc.ml.project.root
    (root / "data").mkdir()
    (root / "data" / "extra.csv").write_text("id,amount\n1,10\n2,oops\n3,30\n", encoding="utf-8")
    body = {"source": "data/extra.csv", "table": "extra", "schema": {"id": "BIGINT", "amount": "DOUBLE"}}
    r = svc.client.post("/api/v1/loads", json=body, headers=svc.as_("editor"))
    assert r.status_code == 200, r.text
    assert (r.json()["rows_loaded"], r.json()["rows_rejected"]) == (2, 1)
    loads = svc.client.get("/api/v1/loads", params={"table": "extra"}, headers=svc.as_("viewer")).json()
    assert loads["items"][0]["status"] == "partial"
    load_id = loads["items"][0]["id"]
    rejects = svc.client.get(f"/api/v1/loads/{load_id}/rejects", headers=svc.as_("boss")).json()
    assert rejects["items"][0]["line"] == 3
    outside = svc.client.post("/api/v1/loads", json={**body, "source": "../../etc/passwd"}, headers=svc.as_("editor"))
    assert outside.status_code == 403
    assert svc.client.post("/api/v1/loads", json=body, headers=svc.as_("viewer")).status_code == 403


# ------------------------------------------------------------------------------ admin
def test_admin_manages_users_and_tokens(svc: Service) -> None:
    h = svc.as_("boss")
    created = svc.client.post("/api/v1/users", json={"username": "li.na", "role": "analyst", "password": "pass-word-1",
                                                    "attributes": {"region": ["华南"]}}, headers=h)
    assert created.status_code == 201
    assert created.json()["has_password"] is True
    assert "password" not in created.json()
    dup = svc.client.post("/api/v1/users", json={"username": "li.na"}, headers=h)
    assert dup.status_code == 409
    tok = svc.client.post("/api/v1/users/li.na/tokens", json={"name": "script"}, headers=h).json()
    auth = {"Authorization": f"Bearer {tok['token']}"}
    me = svc.client.get("/api/v1/me", headers=auth).json()
    assert (me["username"], me["role"], me["row_filters"]) == ("li.na", "analyst", ["region in ('华南')"])
    patched = svc.client.patch("/api/v1/users/li.na", json={"role": "viewer"}, headers=h)
    assert patched.json()["role"] == "viewer"
    assert svc.client.delete(f"/api/v1/tokens/{tok['info']['id']}", headers=h).status_code == 204
    assert svc.client.get("/api/v1/me", headers=auth).status_code == 401
    assert svc.client.get("/api/v1/users", headers=svc.as_("editor")).status_code == 403
    listed = svc.client.get("/api/v1/users", headers=h).json()
    assert "li.na" in [u["username"] for u in listed["items"]]


def test_every_change_and_query_is_audited(svc: Service) -> None:
    svc.client.post("/api/v1/query", json={"metrics": ["gmv"]}, headers=svc.as_("east"))
    svc.client.post("/api/v1/query", json={"metrics": ["signups"]}, headers=svc.as_("east"))
    svc.client.post("/api/v1/users", json={"username": "new.one"}, headers=svc.as_("boss"))
    log = svc.client.get("/api/v1/audit", params={"limit": 500}, headers=svc.as_("boss")).json()["items"]
    queries = [e for e in log if e["actor"] == "east" and e["action"] == "query"]
    assert [(e["target"], e["outcome"]) for e in queries] == [("signups", "denied"), ("gmv", "ok")]
    assert queries[1]["detail"]["policy_filters"] == ["region in ('华东')"]
    assert any(e["action"] == "user.create" and e["target"] == "new.one" and e["actor"] == "boss" for e in log)
    assert svc.client.get("/api/v1/audit", headers=svc.as_("editor")).status_code == 403


def test_openapi_documents_every_route(lite: Service) -> None:
    spec = lite.client.get("/openapi.json").json()
    ops = [(path, method, op) for path, item in spec["paths"].items() for method, op in item.items()]
    assert len(ops) >= 30
    for path, method, op in ops:
        ok = [code for code in op["responses"] if code.startswith("2")]
        assert ok, f"{method} {path} has no success response"
        if path.startswith("/api/"):
            assert "401" in op["responses"] or path == "/api/v1/auth/login", f"{method} {path}"
            for code in ("403", "404", "422"):
                if code in op["responses"]:
                    schema = op["responses"][code]["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, f"{method} {path} {code}"
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_served_files_stay_inside_project(lite: Service, tmp_path: Path) -> None:
    body = {"source": str(tmp_path / "elsewhere.csv"), "table": "t"}
    (tmp_path / "elsewhere.csv").write_text("a\n1\n", encoding="utf-8")
    assert lite.client.post("/api/v1/loads", json=body, headers=lite.as_("boss")).status_code == 403
