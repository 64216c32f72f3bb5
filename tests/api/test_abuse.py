"""Hostile input through every parameter of the query, explain and metric-catalog endpoints.

Each payload goes into every field of ``POST /query`` (and ``/query/sql``, ``/query/csv``),
``POST /explain``, the ``/metrics`` search and path parameters, and the explanation lookups.
Whatever comes in: never a 500, never a server secret or a file's content in the answer, and
the service keeps answering normal requests afterwards. (Load parameters: tests/ingest.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from metricloop.secrets import register
from tests.api.service import Service, build_service

pytestmark = pytest.mark.slow  # real processes / ~3,400 requests: seconds to minutes

SERVER_SECRET = "abuse-env-secret-5c2f9a71"  # as if read from ${ML_WEBHOOK_SECRET}; never sent by a caller

PAYLOADS: list[str] = [
    # SQL injection
    "' OR 1=1 --", "x'; DROP TABLE orders; --", "region = 'a' union select * from access_users --",
    "1; select read_text('/etc/passwd')", "read_text('/etc/passwd')", "region = read_csv_auto('/etc/passwd')",
    "\") or (\"1\"=\"1", "region = 'a' or 1=1", "gmv; attach '/tmp/x.db' as x", "region in (select 1)",
    "region = 'a'; copy orders to '/tmp/out.csv'", "region like '%' escape '\\'", "metric_time__day >= now()",
    "{{ Metric('gmv', group_by=['region']) }} > 0; --", "{{ Dimension('region') }} = (select password_hash "
    "from access_users limit 1)", "region = $$a$$", "region = e'\\x27'", "region = 'a' -- '", "/* */ region = 'a'",
    "pg_sleep(10)", "region = 'a' and sleep(10)", "1 union all select current_setting('data_directory')",
    # huge, deep
    "a" * 100_000, "x" * 5_000, "(" * 1_000, "not " * 2_000 + "region", "(" * 400 + "region = 'a'" + ")" * 400,
    "region in (" + ",".join(["'a'"] * 3_000) + ")", "{{" * 3_000,
    # unicode tricks, control characters
    "ｒｅｇｉｏｎ = 'a'", "region\u202e = 'a'", "re\u200bgion = 'a'", "华东' or '1'='1", "region = '\U0001f600'",
    "region = '\ud800'", "\x00", "region = 'a\x00b'", "region\x00 = 'a'", "\r\n\r\nHTTP/1.1 200 OK", "\t\n\v\f",
    "\u0130", "\ufeffregion = 'a'",
    # path traversal, URLs
    "../../etc/passwd", "..%2f..%2fetc%2fpasswd", "/etc/passwd", "file:///etc/passwd", "C:\\Windows\\win.ini",
    "....//....//etc/passwd", "https://user:pw@evil.example/?token=x",
    # format strings, templates
    "%s%s%s%n", "{0.__class__}", "{__import__('os').system('id')}", "${jndi:ldap://x/a}", "${HOME}", "{{7*7}}",
    "%(password)s", "{{ config }}", "<script>alert(1)</script>", "\\N{BULLET}",
    # odd scalars
    "-1", "1e309", "NaN", "Infinity", "null", "true", "[]", "{}", " ", "", "0x7fffffff", "9" * 400,
    "2026-13-45", "2026-01-01T25:61:61", "0000-00-00", "-999999-01-01",
    # more injection shapes: comments, stacked queries, casts, functions, identifiers
    "region = 'a'/*", "region = 'a'#", "region = ''''", "region = '''; drop table x; --'", "region = '\\\\'",
    "region = 'a' || (select 1)", "region::text = 'a'", "cast(region as int) = 1", "region = chr(39)",
    "region = 'a' and 1=(select count(*) from access_audit)", "\"region\" = 'a'", "`region` = 'a'",
    "[region] = 'a'", "region = @@version", "region = :param", "region = ?", "region = %s",
    "region = 'a' into outfile '/tmp/x'", "load_extension('x')", "install httpfs; load httpfs",
    "region = getenv('HOME')", "region = current_user", "region = 'a' limit 1 offset 1",
    "metric_time__day between '2026-01-01' and '2026-01-02'); drop table orders; --",
    "region is not null or true", "not not not not region = 'a'", "region in ()", "region in ('a',)",
    "region between and", "region like", "{{ Dimension('x') }}", "{{ Metric('gmv') }} > 1",
    "{{ Metric('gmv', group_by=['region']) }} > 1 and {{ Metric('orders', group_by=['region']) }} > 1",
    "__class__", "region__region__region", "metric_time__decade = 1", "x" * 300 + "__day",
]
METRIC_NAMES = ["gmv", "orders"]


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    register(SERVER_SECRET)
    service = build_service(Path(tmp_path_factory.mktemp("abuse")) / "proj")
    yield service
    service.ml.close()


def forbidden_texts(svc: Service) -> list[str]:
    """What must never appear in an answer: server secrets, stored hashes, a file's content."""
    from sqlalchemy import select

    from metricloop.store.access_models import User

    with svc.ml.store.session() as s:
        hashes = [h for h in s.scalars(select(User.password_hash)) if h]
    return [SERVER_SECRET, svc.ml.access.secret_key(), svc.ml.workflow.action_secret, *hashes, "root:x:0:0",
            "Traceback (most recent call last)"]


def requests_for(payload: str) -> Iterator[tuple[str, str, dict[str, Any] | None]]:
    """(method, url, json body) for every parameter of the endpoints under test."""
    base: dict[str, Any] = {"metrics": METRIC_NAMES}
    query_bodies = [
        {**base, "where": payload}, {"metrics": [payload]}, {**base, "group_by": [payload]},
        {**base, "order_by": [payload]}, {**base, "grain": payload}, {**base, "start": payload},
        {**base, "end": payload}, {**base, "compare": payload}, {**base, "limit": payload},
        {**base, payload[:50] or "x": 1},
    ]
    for body in query_bodies:
        yield "POST", "/api/v1/query", body
    yield "POST", "/api/v1/query/sql", {**base, "where": payload, "group_by": [payload]}
    yield "POST", "/api/v1/query/csv", {**base, "where": payload}
    explain = {"metric": "gmv", "at": "2026-02-10T00:00:00", "grain": "day"}
    for key, value in (("metric", payload), ("where", payload), ("by", [payload]), ("at", payload),
                       ("grain", payload), ("start", payload), ("baseline", payload), ("vs", payload)):
        yield "POST", "/api/v1/explain", {**explain, key: value}
    # a URL carries at most ~8 KB anyway; lone surrogates cannot be UTF-8 encoded by any client
    q = quote(payload[:2000].encode("utf-8", "replace"), safe="")
    yield "GET", f"/api/v1/metrics?search={q}", None
    yield "GET", f"/api/v1/metrics?tier={q}&include_retired={q}", None
    yield "GET", f"/api/v1/metrics/{q}", None
    yield "GET", f"/api/v1/metrics/{q}/revisions", None
    yield "GET", f"/api/v1/metrics/{q}/tree", None
    yield "GET", f"/api/v1/explanations/{q}", None
    yield "GET", f"/api/v1/anomalies/{q}/explanation", None


def send(svc: Service, method: str, url: str, body: dict[str, Any] | None) -> Any:
    headers = {**svc.as_("boss"), "Content-Type": "application/json"}
    content = json.dumps(body) if body is not None else None  # ASCII escapes: lone surrogates survive the trip
    return svc.client.request(method, url, content=content, headers=headers)


@pytest.mark.parametrize("payload", PAYLOADS, ids=[f"p{i:03d}" for i in range(len(PAYLOADS))])
def test_hostile_input_never_breaks_or_leaks(svc: Service, payload: str) -> None:
    forbidden = forbidden_texts(svc)
    for method, url, body in requests_for(payload):
        r = send(svc, method, url, body)
        assert r.status_code < 500, (method, url[:120], (json.dumps(body) if body else "")[:200], r.text[:500])
        assert len(r.content) < 5_000_000
        text = r.text
        for secret in forbidden:
            assert secret not in text, (method, url[:120], secret[:12])


def test_the_service_is_healthy_after_the_abuse(svc: Service) -> None:
    assert len(PAYLOADS) >= 100
    assert svc.client.get("/healthz").status_code == 200
    r = svc.client.post("/api/v1/query", json={"metrics": ["orders"], "group_by": ["region"]}, headers=svc.as_("boss"))
    assert r.status_code == 200 and r.json()["row_count"] == 3
    with svc.ml.store.session() as s:  # no table was dropped, nothing was written by an injection
        from sqlalchemy import func, select

        from metricloop.store.access_models import User

        assert s.scalar(select(func.count()).select_from(User)) >= 5
