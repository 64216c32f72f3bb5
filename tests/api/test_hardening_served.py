"""Issue 14 against a real `metricloop serve` process (uvicorn on 127.0.0.1, real sockets):
the event loop keeps answering, keep-alive survives a hostile filter, a chunked body is limited,
proxy headers are trusted only when told, a broken state store is one line in the CLI."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from metricloop.engine.filters import MAX_DEPTH
from metricloop.service import MetricLoop
from tests.api.demo import served
from tests.conftest import write_tiny_project

pytestmark = pytest.mark.slow  # real processes / ~3,400 requests: seconds to minutes

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The tiny project with one admin (password and API token); the token is returned."""
    root = write_tiny_project(tmp_path_factory.mktemp("served") / "proj")
    ml = MetricLoop.open(root)
    ml.access.create_user("boss", role="admin", password=PASSWORD)
    token = ml.access.create_token("boss", "tests")[0]
    ml.close()
    return root, token


@pytest.fixture(scope="module")
def server(project: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root, _ = project
    with served(root, "--no-ui", "--no-scheduler", log=tmp_path_factory.mktemp("log") / "serve.log") as url:
        yield url


def test_healthz_answers_while_requests_are_busy_and_a_60kb_where_is_refused_at_once(
        project: tuple[Path, str], server: str) -> None:
    """A query stuck on the state store's write lock (a real SQLite lock held by this test) is
    in flight in the threadpool; meanwhile a 60 KB hostile filter is answered (422 naming the
    field) and /healthz answers, both before the stuck one finishes."""
    root, token = project
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.post(f"{server}/api/v1/query", json={"metrics": ["gmv"]}, headers=auth, timeout=30).status_code == 200
    lock = sqlite3.connect(root / ".metricloop" / "state.db", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # the query's audit record now waits (busy_timeout)
    heavy: dict[str, int] = {}

    def run_heavy() -> None:
        heavy["status"] = httpx.post(f"{server}/api/v1/query", json={"metrics": ["gmv"]}, headers=auth,
                                     timeout=60).status_code

    worker = threading.Thread(target=run_heavy)
    worker.start()
    try:
        hostile = httpx.post(f"{server}/api/v1/query", headers=auth, timeout=60,
                             json={"metrics": ["gmv"], "where": "region = '" + "x" * 60_000})
        health = httpx.get(f"{server}/healthz", timeout=60)
        assert worker.is_alive(), "the blocked query finished early: the test did not hold the lock"
        assert hostile.status_code == 422 and hostile.json()["issues"][0]["field"] == "body.where"
        assert len(hostile.content) < 2000
        assert health.status_code == 200
    finally:
        lock.execute("ROLLBACK")
        lock.close()
        worker.join(60)
    assert heavy["status"] == 200


def test_deep_nesting_is_a_400_and_the_keep_alive_connection_stays_usable(project: tuple[Path, str],
                                                                          server: str) -> None:
    _, token = project
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        deep = client.post("/api/v1/query", json={"metrics": ["gmv"], "where": "(" * 327 + "region = 'a'" + ")" * 327})
        assert deep.status_code == 400
        assert f"deeper than {MAX_DEPTH} levels" in deep.json()["message"] and "position" in deep.json()["message"]
        again = client.post("/api/v1/query", json={"metrics": ["orders"], "where": "region = '华东'"})
        assert again.status_code == 200
        first = deep.extensions["network_stream"].get_extra_info("client_addr")
        second = again.extensions["network_stream"].get_extra_info("client_addr")
        assert first == second  # the same TCP connection served both


def test_a_chunked_body_without_content_length_is_limited_too(server: str) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"username": "boss", "password": "'
        for _ in range(20):
            yield b"p" * 65_536
        yield b'"}'

    r = httpx.post(f"{server}/api/v1/auth/login", content=chunks(), headers={"Content-Type": "application/json"},
                   timeout=30)
    assert "content-length" not in r.request.headers
    assert r.status_code == 413
    assert r.json()["error"] == "request_too_large"
    assert httpx.get(f"{server}/healthz", timeout=30).status_code == 200


def login_cookie(url: str) -> str:
    r = httpx.post(f"{url}/api/v1/auth/login", json={"username": "boss", "password": PASSWORD},
                   headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.headers["set-cookie"]


def test_secure_cookies_behind_a_trusted_proxy_only(project: tuple[Path, str], server: str,
                                                    tmp_path: Path) -> None:
    root, _ = project
    assert "secure" not in login_cookie(server).lower()  # untrusted X-Forwarded-Proto is ignored
    with served(root, "--no-ui", "--no-scheduler", "--forwarded-allow-ips", "127.0.0.1",
                log=tmp_path / "proxy.log") as behind_proxy:
        cookie = login_cookie(behind_proxy)
        assert "; secure" in cookie.lower() and "httponly" in cookie.lower()


def test_state_files_are_owner_only(project: tuple[Path, str]) -> None:
    root, _ = project
    ml = MetricLoop.open(root)
    try:
        assert ml.workflow.action_secret
    finally:
        ml.close()
    for name in ("state.db", "action_secret"):
        mode = stat.S_IMODE(os.stat(root / ".metricloop" / name).st_mode)
        assert mode == 0o600, f"{name}: {oct(mode)}"


def test_a_damaged_or_unreachable_state_store_is_one_line_in_the_cli(tmp_path: Path) -> None:
    damaged = write_tiny_project(tmp_path / "damaged")
    (damaged / ".metricloop").mkdir(exist_ok=True)
    (damaged / ".metricloop" / "state.db").write_bytes(b"\x00not a database\x01" * 64)
    unreachable = write_tiny_project(tmp_path / "down", "postgresql+psycopg://postgres@127.0.0.1:9/none?connect_timeout=3")
    for root in (damaged, unreachable):
        out = subprocess.run([sys.executable, "-m", "metricloop", "users", "list", "--project", str(root)],
                             capture_output=True, text=True, timeout=120, env={**os.environ, "METRICLOOP_LOCALE": "en"})
        assert out.returncode == 1
        lines = [line for line in out.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), out.stderr
        assert "Traceback" not in out.stderr
