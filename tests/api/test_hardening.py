"""Issue 14, server side: no request can stall or crash the service, no answer leaks.

In-process (the real app through Starlette's test client) for the answers' shapes; the served
tests (``test_hardening_served.py``) check the transport: keep-alive, chunked bodies, the event loop.
"""

from __future__ import annotations

import pytest

from metricloop.api.guards import MAX_BODY_ENV
from metricloop.engine.filters import MAX_DEPTH, MAX_FILTER_CHARS
from metricloop.secrets import register
from tests.api.service import Service


def test_a_long_where_is_refused_naming_the_field(lite: Service) -> None:
    body = {"metrics": ["gmv"], "where": "region = '" + "x" * 60_000 + "'"}
    r = lite.client.post("/api/v1/query", json=body, headers=lite.as_("boss"))
    assert r.status_code == 422
    out = r.json()
    assert out["issues"][0]["field"] == "body.where"
    assert str(MAX_FILTER_CHARS) in out["message"]
    assert len(r.content) < 2000  # the input is not echoed back


def test_a_bad_filter_quotes_at_most_200_characters_of_it(lite: Service) -> None:
    where = "region = 'a' and " + "x " * 1900 + "???"
    r = lite.client.post("/api/v1/query", json={"metrics": ["gmv"], "where": where}, headers=lite.as_("boss"))
    assert r.status_code == 400
    message = r.json()["message"]
    assert "more characters" in message
    assert "x " * 120 not in message  # only the first 200 characters are quoted
    assert len(message) < 800


@pytest.mark.parametrize("where", [
    "(" * 327 + "region = 'a'" + ")" * 327,
    "not " * 400 + "region = 'a'",
    "(" * 5000,
])
def test_deep_nesting_is_a_400_naming_the_limit_and_position(lite: Service, where: str) -> None:
    r = lite.client.post("/api/v1/query", json={"metrics": ["gmv"], "where": where[:MAX_FILTER_CHARS]},
                         headers=lite.as_("boss"))
    assert r.status_code == 400, r.text
    message = r.json()["message"]
    assert f"deeper than {MAX_DEPTH} levels" in message
    assert "position" in message


def test_nesting_up_to_the_limit_still_works(lite: Service) -> None:
    where = "(" * MAX_DEPTH + "region = '华东'" + ")" * MAX_DEPTH
    r = lite.client.post("/api/v1/query", json={"metrics": ["orders"], "where": where}, headers=lite.as_("boss"))
    assert r.status_code == 200, r.text


def test_a_large_body_is_a_bilingual_413(lite: Service) -> None:
    big = {"metrics": ["gmv"], "where": "x" * (2 * 1024 * 1024)}
    r = lite.client.post("/api/v1/query", json=big, headers=lite.as_("boss"))
    assert r.status_code == 413
    out = r.json()
    assert out["error"] == "request_too_large" and MAX_BODY_ENV in out["message"] and out["message_zh"]
    # anonymous too: the login route does not read a 2 MB password
    r = lite.client.post("/api/v1/auth/login", json={"username": "boss", "password": "p" * (2 * 1024 * 1024)})
    assert r.status_code == 413


def test_the_body_limit_is_configurable(monkeypatch: pytest.MonkeyPatch, lite: Service) -> None:
    from fastapi.testclient import TestClient

    from metricloop.api import create_app

    monkeypatch.setenv(MAX_BODY_ENV, "200")
    client = TestClient(create_app(lite.ml, ui=False))
    r = client.post("/api/v1/query", json={"metrics": ["gmv"], "where": "x" * 300}, headers=lite.as_("boss"))
    assert r.status_code == 413 and "200 bytes" in r.json()["message"]
    assert client.post("/api/v1/query", json={"metrics": ["gmv"]}, headers=lite.as_("boss")).status_code == 200


def test_every_answer_has_security_headers(lite: Service) -> None:
    for r in (lite.client.get("/healthz"), lite.client.get("/api/v1/me"),
              lite.client.post("/api/v1/query", json={"metrics": ["gmv"]}, headers=lite.as_("boss"))):
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
    assert "cdn.jsdelivr.net" in lite.client.get("/docs").headers["content-security-policy"]


def test_a_secret_in_an_error_never_reaches_the_answer(lite: Service) -> None:
    register("hunter2-super-secret-value")
    r = lite.client.post("/api/v1/query", json={"metrics": ["gmv"], "where": "region = hunter2-super-secret-value ?"},
                         headers=lite.as_("boss"))
    assert r.status_code == 400
    assert "hunter2-super-secret-value" not in r.text and "***" in r.text
    audit, _ = lite.ml.access.audit_log(action="query", limit=5)  # nor the audit record of the failure
    assert audit[0].outcome == "error" and "hunter2-super-secret-value" not in str(audit[0].detail)


def test_an_unreachable_state_store_is_a_503_with_retry_after(lite: Service) -> None:
    """The state store's file becomes unreadable under the running service: 503 + Retry-After, not 500."""
    import sqlalchemy as sa

    lite.client.get("/api/v1/me", headers=lite.as_("boss"))
    good = lite.ml.store.engine
    lite.ml.store.engine = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2")
    lite.ml.store._sessions.configure(bind=lite.ml.store.engine)
    try:
        r = lite.client.get("/api/v1/me", headers=lite.as_("boss"))
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"].isdigit()
        assert r.json()["error"] == "store_unavailable" and r.json()["message_zh"]
        assert lite.client.get("/healthz").status_code == 503
    finally:
        lite.ml.store.engine = good
        lite.ml.store._sessions.configure(bind=good)
    assert lite.client.get("/api/v1/me", headers=lite.as_("boss")).status_code == 200


def test_logged_tracebacks_are_redacted() -> None:
    """A registered secret inside an exception logged with logger.exception never reaches the log."""
    import io
    import logging

    from metricloop.logs import install

    install()
    register("wh-secret-0123456789")
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logger = logging.getLogger("metricloop.test.redaction")
    logger.addHandler(handler)
    try:
        try:
            raise ConnectionError("POST https://robot.example/send?access_token=tok123 failed: wh-secret-0123456789")
        except ConnectionError:
            logger.exception("delivery to %s failed", "postgresql://app:pgpass@db/x")
        logger.warning("%s %s %s", "GET", "/x?token=wh-secret-0123456789", 200)
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert "Traceback" in text and "ConnectionError" in text
    for leaked in ("wh-secret-0123456789", "tok123", "pgpass"):
        assert leaked not in text
    assert "GET /x?token=*** 200" in text
