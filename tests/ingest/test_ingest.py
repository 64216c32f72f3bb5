"""Loading files and HTTP JSON: bad rows are reported with file, line and column; nothing is lost."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from metricloop.errors import IngestError
from metricloop.service import MetricLoop


@pytest.fixture
def project(tmp_path: Path) -> Iterator[MetricLoop]:
    root = tmp_path / "p"
    (root / "models").mkdir(parents=True)
    (root / "metricloop.yaml").write_text(
        "name: p\ntimezone: UTC\ntables:\n  sales:\n    time_column: t\n    unique_key: [id]\n"
        "    max_null_rate: {amount: 0.1}\n    max_row_drop: 0.5\n    freshness_sla: 3650 days\n",
        encoding="utf-8",
    )
    ml = MetricLoop.open(root)
    yield ml
    ml.close()


CSV = (
    "id,amount,t\n1,2.5,2026-01-01 10:00:00\n2,abc,2026-01-01 11:00:00\nx,3,2026-01-02 00:00:00\n"
    "4,5\n5,6,2026-01-03 01:00:00\n"
)
SCHEMA = {"id": "BIGINT", "amount": "DOUBLE", "t": "TIMESTAMP"}


def test_csv_bad_rows_go_to_the_reject_report_good_rows_load(project: MetricLoop, tmp_path: Path) -> None:
    f = tmp_path / "sales.csv"
    f.write_text(CSV, encoding="utf-8")
    result, checks = project.ingest(str(f), "sales", schema=SCHEMA)
    assert (result.rows_loaded, result.rows_rejected, result.status) == (2, 3, "partial")
    assert [(r.line, r.column) for r in result.rejects] == [(3, "amount"), (4, "id"), (5, "t")]
    assert result.rejects[0].reason == "'abc' is not a valid DOUBLE (column 'amount')"
    assert '"amount": "abc"' in (result.rejects[0].raw or "")
    assert result.max_event_time is not None
    assert result.max_event_time.isoformat() == "2026-01-03T01:00:00"
    # the load, its rejects and the checks are on record
    (load,) = project.loads("sales")
    assert (load.status, load.rows_loaded, load.rows_rejected) == ("partial", 2, 3)
    assert [r.line for r in project.rejects(load.id)] == [3, 4, 5]
    assert {c.check: c.status for c in checks} == {"freshness": "pass", "null_rate": "pass", "duplicate_keys": "pass"}
    assert project.freshness("sales") is not None


def test_append_then_replace_and_checks_catch_duplicates_and_drops(project: MetricLoop, tmp_path: Path) -> None:
    f = tmp_path / "a.csv"
    f.write_text("id,amount,t\n1,1,2026-01-01\n2,2,2026-01-02\n3,,2026-01-03\n4,4,2026-01-04\n", encoding="utf-8")
    project.ingest(str(f), "sales", schema=SCHEMA)
    g = tmp_path / "b.csv"
    g.write_text("id,amount,t\n4,9,2026-01-05\n", encoding="utf-8")
    result, checks = project.ingest(str(g), "sales", schema=SCHEMA)
    assert result.rows_loaded == 1
    by = {c.check: c for c in checks}
    assert by["duplicate_keys"].status == "fail"
    assert by["duplicate_keys"].observed == 1
    assert by["row_count_drop"].status == "fail"  # 1 row after 4
    assert by["null_rate"].status == "fail"
    assert by["null_rate"].observed == pytest.approx(0.2)
    project.ingest(str(g), "sales", schema=SCHEMA, mode="replace")
    assert project.duckdb().execute("select count(*) n from sales").to_pylist() == [{"n": 1}]


def test_parquet_and_schema_errors(project: MetricLoop, tmp_path: Path) -> None:
    f = tmp_path / "s.parquet"
    pq.write_table(pa.table({"id": [1, 2], "amount": [1.0, 2.0], "t": pa.array([0, 1], pa.timestamp("s"))}), f)
    result, _ = project.ingest(str(f), "sales")
    assert result.rows_loaded == 2
    assert result.columns["amount"] == "DOUBLE"
    with pytest.raises(IngestError, match="type 'MONEY' is not one of"):
        project.ingest(str(f), "sales", schema={"amount": "MONEY"})
    with pytest.raises(IngestError, match="expected a .csv, .tsv or .parquet file"):
        project.ingest(str(tmp_path / "x.xlsx"), "sales") if (tmp_path / "x.xlsx").write_text("") == 0 else None
    with pytest.raises(IngestError, match="table: name"):
        project.ingest(str(f), "sales; drop table x")


class _Api(BaseHTTPRequestHandler):
    payload: bytes = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(self.payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    _Api.payload = json.dumps(
        {
            "data": {
                "items": [
                    {"id": 1, "amount": 3.5, "t": "2026-02-01T08:00:00", "region": "华东"},
                    {"id": 2, "amount": "oops", "t": "2026-02-01T09:00:00", "region": "华北"},
                    {"id": 3, "amount": 4, "t": "2026-02-02T09:00:00", "region": "华南"},
                ]
            }
        }
    ).encode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/orders"
    server.shutdown()


def test_http_json_records_at_a_path(project: MetricLoop, api: str) -> None:
    result, _ = project.ingest(
        api,
        "sales",
        records_path="data.items",
        schema={"id": "BIGINT", "amount": "DOUBLE", "t": "TIMESTAMP", "region": "VARCHAR"},
    )
    assert (result.rows_loaded, result.rows_rejected) == (2, 1)
    (rej,) = result.rejects
    assert (rej.line, rej.column) == (2, "amount")
    assert rej.reason == "'oops' is not a valid DOUBLE (column 'amount')"
    assert project.duckdb().execute("select region from sales order by id").to_pylist() == [
        {"region": "华东"},
        {"region": "华南"},
    ]
    with pytest.raises(IngestError, match="no 'data.rows' in the JSON payload"):
        project.ingest(api, "sales", records_path="data.rows")
