"""API loads cannot make the server fetch its own or its private network (SSRF), unless opted in.

A real HTTP server on 127.0.0.1 stands for an internal service; the CLI/library default (the
project's owner) may still load from it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from metricloop.errors import IngestError
from metricloop.ingest import urlguard
from metricloop.ingest.loader import fetch_json
from metricloop.project import IngestSettings
from tests.api.service import Service, build_service

ROWS = json.dumps([{"id": 1, "amount": 2.5}, {"id": 2, "amount": 4.0}]).encode()


class _Internal(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Internal.hits.append(self.path)
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("content-length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(ROWS)))
        self.end_headers()
        self.wfile.write(ROWS)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def internal() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Internal)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = build_service(tmp_path_factory.mktemp("ssrf") / "proj")
    yield service
    service.ml.close()


@pytest.mark.parametrize("host", ["{internal}", "localhost:{port}", "[::1]:{port}", "[::ffff:127.0.0.1]:{port}",
                                  "169.254.169.254", "10.0.0.7", "192.168.1.1", "172.16.0.1", "[fd00::1]",
                                  "[fe80::1]", "0.0.0.0:{port}", "100.64.0.1"])
def test_api_load_from_an_internal_address_is_a_422_naming_source(svc: Service, internal: str, host: str) -> None:
    port = internal.split(":")[1]
    url = "http://" + host.format(internal=internal, port=port) + "/rows"
    before = len(_Internal.hits)
    r = svc.client.post("/api/v1/loads", json={"source": url, "table": "ssrf_t"}, headers=svc.as_("editor"))
    assert r.status_code == 422, r.text[:300]
    body = r.json()
    assert body["location"]["field"] == "source"
    assert "allow_private_urls" in body["message"]
    assert len(_Internal.hits) == before, "the internal server must not be contacted"


def test_redirect_to_the_metadata_address_is_refused_on_the_hop(internal: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # Treat the test server's 127.0.0.1 as if it were a public host; only the redirect target is internal.
    real = urlguard._blocked
    monkeypatch.setattr(urlguard, "_blocked", lambda ip: str(ip) != "127.0.0.1" and real(ip))
    with pytest.raises(IngestError) as err:
        fetch_json(f"http://{internal}/redirect", allow_private=False)
    assert "169.254.169.254" in err.value.message and err.value.location.field == "source"  # type: ignore[union-attr]
    assert fetch_json(f"http://{internal}/rows", allow_private=False) == json.loads(ROWS)  # the first hop works


def test_opt_in_allows_internal_urls_through_the_api(svc: Service, internal: str) -> None:
    config = svc.ml.project.config
    svc.ml.project.config = config.model_copy(update={"ingest": IngestSettings(allow_private_urls=True)})
    try:
        r = svc.client.post("/api/v1/loads", json={"source": f"http://{internal}/rows", "table": "ssrf_ok"},
                            headers=svc.as_("editor"))
    finally:
        svc.ml.project.config = config
    assert r.status_code == 200, r.text[:300]
    assert r.json()["rows_loaded"] == 2


def test_the_opt_in_is_read_from_metricloop_yaml(tmp_path: Path) -> None:
    from metricloop.project import Project

    (tmp_path / "metricloop.yaml").write_text("name: x\ningest:\n  allow_private_urls: true\n", encoding="utf-8")
    assert Project.load(tmp_path).config.ingest.allow_private_urls is True
    (tmp_path / "metricloop.yaml").write_text("name: x\n", encoding="utf-8")
    assert Project.load(tmp_path).config.ingest.allow_private_urls is False


def test_cli_and_library_loads_still_reach_local_urls(svc: Service, internal: str) -> None:
    result, _ = svc.ml.ingest(f"http://{internal}/rows", "ssrf_cli")
    assert result.rows_loaded == 2
