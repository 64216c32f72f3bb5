"""What a load promises (issue 14): types parsed not pasted, nothing leaked, all or nothing,
bad rows rejected one by one with line, column and reason, extra/missing columns per the policy.

Real DuckDB files, real state store, a real HTTP server on 127.0.0.1, real killed processes.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from metricloop import secrets
from metricloop.errors import IngestError
from metricloop.ingest.types import canonical_type, parse_schema
from metricloop.service import MetricLoop

SECRET = "sk-signing-7f3a9c-never-show-me"
PASSWD_MARK = "root:"


@pytest.fixture
def project(tmp_path: Path) -> Iterator[MetricLoop]:
    root = tmp_path / "p"
    (root / "models").mkdir(parents=True)
    (root / "metricloop.yaml").write_text(
        "name: p\ntimezone: UTC\ntables:\n  sales:\n    time_column: t\n    unique_key: [id]\n", encoding="utf-8"
    )
    (root / "secret.txt").write_text(f"signing_secret={SECRET}\n", encoding="utf-8")
    secrets.register(SECRET)
    ml = MetricLoop.open(root)
    yield ml
    ml.close()


def _csv(tmp: Path, name: str, text: str) -> Path:
    f = tmp / name
    f.write_text(text, encoding="utf-8")
    return f


def _rows(ml: MetricLoop, table: str) -> int:
    con = ml.duckdb().connection.cursor()
    try:
        found = con.execute("select count(*) from information_schema.tables where table_name = ?", [table])
        if not found.fetchone()[0]:
            return 0
        return int(con.execute(f'select count(*) from "{table}"').fetchone()[0])
    finally:
        con.close()


def _stored_text(ml: MetricLoop) -> str:
    """Everything the state store keeps about loads: errors, notes, reject reasons and raw lines."""
    out = []
    for load in ml.loads(limit=1000):
        out += [load.error or "", load.notes or "", load.source, load.types or ""]
        out += [f"{r.reason} {r.raw or ''} {r.column or ''}" for r in ml.rejects(load.id, limit=100_000)]
    return "\n".join(out)


# ------------------------------------------------------------------ 1. injection through schema types
INJECTIONS = [
    # the whitelist used to check only the text before "(", so this reached the SQL as written
    "DECIMAL(18,2)) as \"amount\", (select cast(content as INT) from read_text('/etc/passwd')) as x, "
    "try_cast(1 as DOUBLE",
    "DECIMAL(18,2)) as \"amount\", (select cast(content as INT) from read_text('secret.txt')) as x, "
    "try_cast(1 as DOUBLE",
    "read_text('/etc/passwd')",
    "VARCHAR); copy (select 1) to 'pwned.csv'; --",
]


@pytest.mark.parametrize("payload", INJECTIONS)
@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_schema_types_are_parsed_never_run(
    project: MetricLoop, tmp_path: Path, payload: str, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.project.root)  # relative paths in a payload would resolve here
    if kind == "parquet":
        f = tmp_path / "s.parquet"
        pq.write_table(pa.table({"id": [1, 2], "amount": [1.5, 2.5], "t": ["2026-01-01", "2026-01-02"]}), f)
    else:
        f = _csv(tmp_path, "s.csv", "id,amount,t\n1,1.5,2026-01-01\n2,2.5,2026-01-02\n")
    with pytest.raises(IngestError) as err:
        project.ingest(str(f), "sales", schema={"id": "BIGINT", "amount": payload, "t": "TIMESTAMP"})
    message = err.value.message
    assert message.startswith("schema.amount: type ")
    assert "is not one of" in message and "DECIMAL(p,s)" in message
    assert PASSWD_MARK not in message and SECRET not in message
    assert len(message) < 600
    assert not (project.project.root / "pwned.csv").exists()
    assert _rows(project, "sales") == 0
    stored = _stored_text(project)
    assert PASSWD_MARK not in stored and SECRET not in stored


def test_type_whitelist_spells_types_itself() -> None:
    assert canonical_type("decimal(10, 2)") == "DECIMAL(10,2)"
    assert canonical_type("int") == "INTEGER"
    assert canonical_type("STRING") == "VARCHAR"
    assert canonical_type("timestamp with time zone") == "TIMESTAMPTZ"
    for bad in ("STRUCT(a INT)", "INT[]", "DECIMAL(99,2)", "DECIMAL(a,b)", "MONEY", "x" * 100, "BIGINT; drop table x"):
        assert canonical_type(bad) is None, bad
    with pytest.raises(IngestError, match=r"^schema: column name '' must be"):
        parse_schema({"": "BIGINT"})


# ------------------------------------------------------------------ 2. nothing secret or unbounded is stored
def test_stored_errors_and_rejects_are_redacted_and_bounded(project: MetricLoop, tmp_path: Path) -> None:
    con = project.duckdb().connection
    con.execute("create table keys (id VARCHAR PRIMARY KEY, note VARCHAR)")
    con.execute("insert into keys values (?, 'x')", [SECRET])
    # a late constraint error that quotes the duplicate key (the secret) and a 5,000-character value
    f = _csv(tmp_path, "k.csv", f"id,note\nfresh,ok\n{SECRET},{'y' * 5000}\n")
    with pytest.raises(IngestError) as err:
        project.ingest(str(f), "keys")
    assert SECRET not in err.value.message
    assert len(err.value.message) < 600
    (load,) = project.loads("keys")
    assert (load.status, load.rows_loaded, load.rows_rejected) == ("failed", 0, 0)
    assert load.error and "***" in load.error and SECRET not in load.error and len(load.error) <= 2000
    assert _rows(project, "keys") == 1
    # a value that fails its cast: the raw line in the reject report is redacted too
    g = _csv(tmp_path, "n.csv", f"id,amount,t\n1,{SECRET},2026-01-01\n2,2.0,2026-01-02\n")
    result, _ = project.ingest(str(g), "sales", schema={"id": "BIGINT", "amount": "DOUBLE", "t": "TIMESTAMP"})
    assert (result.rows_loaded, result.rows_rejected) == (1, 1)
    assert SECRET not in _stored_text(project)
    assert "***" in (project.rejects(project.loads("sales")[0].id)[0].raw or "")


class _Receiver(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, bytes]]] = {}

    def do_GET(self) -> None:
        status, body = self.routes.get(self.path.split("?")[0], (404, b"{}"))
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_url_secrets_never_reach_the_record(project: MetricLoop, receiver: str) -> None:
    _Receiver.routes = {"/down": (500, b"{}"), "/list": (200, json.dumps({"data": {"token": SECRET}}).encode())}
    with pytest.raises(IngestError, match="HTTP 500") as err:
        project.ingest(f"{receiver}/down?access_token={SECRET}", "sales")
    assert SECRET not in err.value.message
    with pytest.raises(IngestError, match="expected a list of records"):
        project.ingest(f"{receiver}/list?key={SECRET}", "sales", records_path="data.token")
    stored = _stored_text(project)
    assert SECRET not in stored and "access_token=***" in stored
    assert all(load.status == "failed" for load in project.loads())


# ------------------------------------------------------------------ 3. all or nothing, counts that are true
def test_a_load_that_fails_late_commits_nothing(project: MetricLoop, tmp_path: Path) -> None:
    f = _csv(tmp_path, "o.csv", "id,amount,t\n" + "".join(f"{i},{i}.5,2026-01-0{1 + i % 9}\n" for i in range(10)))
    # the time column is checked after staging; it used to be checked after the rows were committed
    with pytest.raises(IngestError, match=r"time_column: 'nope' is not a column of other \(columns: id, amount, t\)"):
        project.ingest(str(f), "other", time_column="nope")
    (load,) = project.loads("other")
    assert (load.status, load.rows_loaded) == ("failed", 0)
    assert _rows(project, "other") == 0
    # a constraint that only the final insert sees: the whole load rolls back, the table is unchanged
    con = project.duckdb().connection
    con.execute("create table strict (id BIGINT PRIMARY KEY, amount DOUBLE, t TIMESTAMP)")
    con.execute("insert into strict values (3, 0, '2026-01-01')")
    with pytest.raises(IngestError, match="cannot append to strict: .*nothing was loaded; the table is unchanged"):
        project.ingest(str(f), "strict")
    assert _rows(project, "strict") == 1
    assert (project.loads("strict")[0].status, project.loads("strict")[0].rows_loaded) == ("failed", 0)


KILLED_LOAD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from metricloop.service import MetricLoop
    ml = MetricLoop.open(Path(sys.argv[1]))
    ml.ingest(sys.argv[2], "big")
""")

COMMITTED_THEN_KILLED = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from metricloop.ingest.loader import load_file
    from metricloop.service import MetricLoop
    from metricloop.store.models import IngestLoad
    ml = MetricLoop.open(Path(sys.argv[1]))
    with ml.store.session() as s:
        load = IngestLoad(table_name="big", source=sys.argv[2], mode="append", status="running")
        s.add(load)
        s.flush()
        load_id = load.id
    load_file(ml.duckdb(), Path(sys.argv[2]), "big", load_id=load_id)  # warehouse committed ...
    os.kill(os.getpid(), signal.SIGKILL)  # ... and the process dies before recording it
""")


def _big_csv(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8") as f:
        f.write("id,amount,t\n")
        f.writelines(f"{i},{i % 97}.25,2026-01-{1 + i % 28:02d} 10:00:00\n" for i in range(rows))
        f.write("x,oops,never\n")
    return path


def test_kill_9_mid_load_leaves_no_rows_and_a_true_record(project: MetricLoop, tmp_path: Path) -> None:
    root = project.project.root
    project.close()
    big = _big_csv(tmp_path / "big.csv", 400_000)
    proc = subprocess.Popen([sys.executable, "-c", KILLED_LOAD, str(root), str(big)])
    ml = MetricLoop.open(root)
    try:
        deadline = time.monotonic() + 60
        while not ml.loads("big") and time.monotonic() < deadline:  # the load is on record: it is running
            time.sleep(0.02)
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        ml.ingest(str(_csv(tmp_path, "other.csv", "id\n1\n")), "other")  # the next load settles the orphan
        (load,) = ml.loads("big")
        assert load.status != "running"
        assert load.rows_loaded == _rows(ml, "big")  # the record tells the truth either way
        if load.status == "failed":
            assert (load.rows_loaded, load.error) == (0, "interrupted before it committed: no rows were loaded")
        # committed in the warehouse, killed before the state store heard of it: settled from the ledger
        ml.close()
        subprocess.run([sys.executable, "-c", COMMITTED_THEN_KILLED, str(root), str(big)], timeout=120)
        ml = MetricLoop.open(root)
        before = _rows(ml, "big")
        ml.ingest(str(tmp_path / "other.csv"), "other")
        settled = ml.loads("big")[0]
        assert (settled.status, settled.rows_loaded, settled.rows_rejected) == ("partial", 400_000, 1)
        assert _rows(ml, "big") == before
    finally:
        ml.close()


# ------------------------------------------------------------------ 4. the promise, with or without --schema
def test_append_without_schema_takes_the_table_types_and_rejects_only_bad_rows(
    project: MetricLoop, tmp_path: Path
) -> None:
    project.ingest(str(_csv(tmp_path, "a.csv", "id,amount,t\n1,1.5,2026-01-01 10:00:00\n")), "sales")
    rows = "".join(f"{i},{i}.5,2026-01-02 1{i % 10}:00:00\n" for i in range(2, 40))
    f = _csv(tmp_path, "b.csv", "id,amount,t\n" + rows + "40,2.5,2026-13-45 99:00\n")
    result, _ = project.ingest(str(f), "sales")
    assert (result.types_from, result.types["t"], result.types["id"]) == ("table", "TIMESTAMP", "BIGINT")
    assert (result.rows_loaded, result.rows_rejected, result.status) == (38, 1, "partial")
    (rej,) = result.rejects
    assert (rej.line, rej.column) == (40, "t")
    assert rej.reason == "'2026-13-45 99:00' is not a valid TIMESTAMP (column 't')"
    assert _rows(project, "sales") == 39


def test_new_table_without_schema_infers_types_and_rejects_per_row(project: MetricLoop, tmp_path: Path) -> None:
    body = "".join(f"{i},{i * 2},2026-02-{1 + i % 28:02d} 08:00:00,{'yes' if i % 2 else 'no'}\n" for i in range(300))
    f = _csv(tmp_path, "n.csv", "id,qty,t,flag\n" + body + "x,3,2026-02-01,no\n301,4,garbage,yes\n")
    result, _ = project.ingest(str(f), "fresh")
    assert result.types_from == "inferred"
    assert result.types == {"id": "BIGINT", "qty": "BIGINT", "t": "TIMESTAMP", "flag": "BOOLEAN"}  # yes/no
    assert (result.rows_loaded, result.rows_rejected) == (300, 2)
    assert [(r.line, r.column) for r in result.rejects] == [(302, "id"), (303, "t")]
    (load,) = project.loads("fresh")
    assert (load.status, json.loads(load.types or "{}")["t"], load.types_from) == ("partial", "TIMESTAMP", "inferred")
    # a file that is no CSV at all: a clear error, the record finished, never a traceback
    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"a,b\n1,2\n\xff\xfe,\x00\x01\n1,2,3\n\"open,4\n")
    result, _ = project.ingest(str(junk), "junk")
    assert result.rows_loaded == _rows(project, "junk") == 2
    assert result.rows_rejected == len(result.rejects) == 2  # invalid UTF-8, 3 fields
    assert all(r.line and r.reason for r in result.rejects)
    assert all(load.status != "running" for load in project.loads())


def test_extra_and_missing_columns_follow_the_policy(project: MetricLoop, tmp_path: Path) -> None:
    project.ingest(str(_csv(tmp_path, "a.csv", "id,amount,t\n1,1.5,2026-01-01\n")), "sales")
    f = _csv(tmp_path, "b.csv", "id,t,note\n2,2026-01-02,hello\n")
    result, _ = project.ingest(str(f), "sales")
    assert result.rows_loaded == 1
    assert result.notes == [
        "column 'note' of the file is not in the table: ignored (--add-columns adds it)",
        "column 'amount' is not in the file: filled with NULL",
    ]
    assert project.loads("sales")[0].notes == "\n".join(result.notes)
    result, _ = project.ingest(str(f), "sales", add_columns=True)
    assert result.notes[0] == "column 'note' added as VARCHAR (--add-columns)"
    got = project.duckdb().execute("select note from sales where note is not null").to_pylist()
    assert got == [{"note": "hello"}]
    for missing, role in (("id", "key column"), ("t", "time column")):
        cols = [c for c in ("id", "amount", "t") if c != missing]
        g = _csv(tmp_path, f"no_{missing}.csv", ",".join(cols) + "\n" + ",".join("1" for _ in cols) + "\n")
        with pytest.raises(IngestError, match=f"column '{missing}' is missing; it is the {role} of sales"):
            project.ingest(str(g), "sales")
    assert _rows(project, "sales") == 3


def test_with_a_schema_nothing_is_silently_changed(project: MetricLoop, tmp_path: Path) -> None:
    schema = {"id": "BIGINT", "amount": "DOUBLE", "t": "TIMESTAMP", "qty": "INTEGER", "price": "DECIMAL(10,2)"}
    f = _csv(
        tmp_path,
        "s.csv",
        "id,amount,t,qty,price\n"
        "1,1.5,2026-01-01 10:00:00,3,9.99\n"
        "2,NaN,2026-01-01 11:00:00,3,9.99\n"
        "3,2.5,,3,9.99\n"
        "4,2.5,2026-01-01 12:00:00,12.7,9.99\n"
        "5,inf,2026-01-01 12:00:00,1,9.99\n"
        "6,2.5,2026-01-01 12:00:00,1,9.999\n"
        "7,2.5,2026-01-01 12:00:00,12.0,1\n",
    )
    result, _ = project.ingest(str(f), "sales", schema={**schema, "region": "VARCHAR"})
    assert (result.rows_loaded, result.rows_rejected) == (2, 5)
    by_line = {r.line: (r.column, r.reason) for r in result.rejects}
    assert by_line == {
        3: ("amount", "'NaN' is not a finite number; DOUBLE accepts no NaN or Infinity (column 'amount')"),
        4: ("t", "empty value in 't', the time column: every row needs one (TIMESTAMP)"),
        5: ("qty", "'12.7' would change to '13' as INTEGER: a lossy cast (column 'qty')"),
        6: ("amount", "'inf' is not a finite number; DOUBLE accepts no NaN or Infinity (column 'amount')"),
        7: ("price", "'9.999' would change to '10.00' as DECIMAL(10,2): a lossy cast (column 'price')"),
    }
    assert result.notes == ["column 'region' is not in the file: filled with NULL"]
    assert project.duckdb().execute("select id, qty from sales order by id").to_pylist() == [
        {"id": 1, "qty": 3}, {"id": 7, "qty": 12}]
    # the same promises for Parquet (typed values) and JSON records
    p = tmp_path / "s.parquet"
    pq.write_table(pa.table({"id": [10, 11, 12], "amount": [1.0, math.nan, 2.0], "t": ["2026-01-03"] * 3,
                             "qty": [1.0, 2.0, 12.7]}), p)
    result, _ = project.ingest(str(p), "sales", schema={"id": "BIGINT", "amount": "DOUBLE", "t": "TIMESTAMP",
                                                        "qty": "INTEGER"})
    assert [(r.line, r.column) for r in result.rejects] == [(2, "amount"), (3, "qty")]
    assert result.rows_loaded == 1


def test_json_records_get_the_same_checks(project: MetricLoop, receiver: str) -> None:
    items = [{"id": 1, "amount": 1.5, "t": "2026-03-01T08:00:00"}, {"id": 2.5, "amount": 1, "t": "2026-03-01"},
             {"id": 3, "amount": "NaN", "t": "2026-03-01"}, ["not", "an", "object"],
             {"id": 5, "amount": 2, "t": None}, {"id": 6, "amount": 2, "t": "2026-03-02", "extra": {"a": 1}}]
    _Receiver.routes = {"/o": (200, json.dumps({"items": items}).encode())}
    result, _ = project.ingest(f"{receiver}/o", "sales", records_path="items",
                               schema={"id": "BIGINT", "amount": "DOUBLE", "t": "TIMESTAMP"})
    assert [(r.line, r.column) for r in result.rejects] == [(2, "id"), (3, "amount"), (4, None), (5, "t")]
    assert result.rows_loaded == 2
    assert "column 'extra' of the file is not in the schema: ignored (--add-columns adds it)" in result.notes


def test_cli_shows_inferred_types_and_notes(tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / "models").mkdir(parents=True)
    (root / "metricloop.yaml").write_text("name: p\ntimezone: UTC\n", encoding="utf-8")
    f = _csv(tmp_path, "c.csv", "id,t\n1,2026-01-01 10:00:00\n2,2026-01-02 10:00:00\nz,2026-01-03 10:00:00\n")
    env = {**os.environ, "COLUMNS": "200", "METRICLOOP_LOCALE": "en"}
    out = subprocess.run([sys.executable, "-m", "metricloop", "ingest", str(f), "--table", "c", "--project",
                          str(root)], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "types (inferred): id BIGINT, t TIMESTAMP" in out.stdout
    assert "2 rows loaded into c, 1 rejected" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr
