"""Load CSV, Parquet and HTTP JSON into the embedded DuckDB warehouse.

A load never loses data silently: rows that do not fit the schema go to a reject report
(file, line, column, reason) and the good rows still load; the run reports both counts. Every
load is recorded in the state store with its row counts and freshness (the latest event time),
which detection later uses to evaluate only complete periods.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from metricloop.engine.warehouse import DuckDBWarehouse
from metricloop.errors import IngestError
from metricloop.secrets import redact

Mode = Literal["append", "replace"]
TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
DUCKDB_TYPES = {
    "BIGINT",
    "INTEGER",
    "SMALLINT",
    "DOUBLE",
    "FLOAT",
    "DECIMAL",
    "VARCHAR",
    "TEXT",
    "BOOLEAN",
    "DATE",
    "TIMESTAMP",
    "TIMESTAMPTZ",
    "TIME",
    "HUGEINT",
    "UBIGINT",
    "REAL",
}
Progress = Callable[[float], None]


@dataclass(frozen=True)
class Reject:
    file: str
    line: int | None
    column: str | None
    reason: str
    raw: str | None = None


@dataclass
class LoadResult:
    table: str
    source: str
    mode: Mode
    rows_loaded: int = 0
    rows_rejected: int = 0
    rejects: list[Reject] = field(default_factory=list)
    time_column: str | None = None
    max_event_time: dt.datetime | None = None
    columns: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if self.rows_rejected and not self.rows_loaded:
            return "failed"
        return "partial" if self.rows_rejected else "ok"


def _check_table(name: str) -> str:
    if not TABLE_NAME.match(name):
        raise IngestError(
            f"table name {name!r} must be letters, digits and _ (optionally schema.table)",
            zh=f"表名 {name!r} 只能包含字母、数字和下划线",
        )
    return name


def _check_schema(schema: dict[str, str] | None) -> dict[str, str] | None:
    if schema is None:
        return None
    for col, typ in schema.items():
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", col):
            raise IngestError(f"schema column {col!r} is not a valid column name")
        base = typ.upper().split("(")[0].strip()
        if base not in DUCKDB_TYPES:
            raise IngestError(f"schema column {col!r}: type {typ!r} is not one of {', '.join(sorted(DUCKDB_TYPES))}")
    return schema


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _run_with_progress(wh: DuckDBWarehouse, sql: str, progress: Progress | None) -> None:
    """Execute ``sql``; while it runs, report DuckDB's own query progress (0..1)."""
    con = wh.connection
    if progress is None:
        con.execute(sql)
        return
    error: list[BaseException] = []

    def work() -> None:
        try:
            con.execute(sql)
        except BaseException as exc:  # re-raised in the caller's thread
            error.append(exc)

    th = threading.Thread(target=work, daemon=True)
    th.start()
    while th.is_alive():
        th.join(0.1)
        try:
            p = con.query_progress()
        except Exception:
            p = -1
        if p is not None and p >= 0:
            progress(min(p / 100.0, 1.0))
    progress(1.0)
    if error:
        raise error[0]


def _write(wh: DuckDBWarehouse, table: str, select_sql: str, mode: Mode, progress: Progress | None) -> None:
    con = wh.connection
    exists = bool(
        con.execute(
            "select count(*) from information_schema.tables "
            "where table_name = ? and table_schema = coalesce(?, current_schema())",
            [table.split(".")[-1], table.split(".")[0] if "." in table else None],
        ).fetchone()[0]
    )
    if "." in table:
        con.execute(f"create schema if not exists {table.split('.')[0]}")
    if mode == "replace" or not exists:
        _run_with_progress(wh, f"create or replace table {table} as {select_sql}", progress)
    else:
        try:
            _run_with_progress(wh, f"insert into {table} by name {select_sql}", progress)
        except Exception as exc:
            raise IngestError(
                f"cannot append to {table}: {str(exc).splitlines()[0]} (use --mode replace, or make the columns match)"
            ) from None


def load_file(
    wh: DuckDBWarehouse,
    path: Path,
    table: str,
    *,
    mode: Mode = "append",
    schema: dict[str, str] | None = None,
    time_column: str | None = None,
    progress: Progress | None = None,
    display_name: str | None = None,
) -> LoadResult:
    """Load a CSV or Parquet file (by extension; ``.csv.gz`` and ``.tsv`` included)."""
    table, schema = _check_table(table), _check_schema(schema)
    if not path.exists():
        raise IngestError(f"file not found: {path}", zh=f"文件不存在：{path}")
    name = display_name or str(path)
    suffixes = "".join(path.suffixes).lower()
    result = LoadResult(table, name, mode)
    con = wh.connection
    tag = f"_ml_rejects_{int(time.time() * 1000)}_{threading.get_ident()}"
    if ".parquet" in suffixes or ".pq" in suffixes:
        source = f"read_parquet({_sql_str(str(path))})"
        if schema:
            casts = ", ".join(f'try_cast("{c}" as {t}) as "{c}"' for c, t in schema.items())
            source = f"(select {casts} from {source})"
        select_sql = f"select * from {source}"
        con.execute("begin")
        try:
            _write(wh, table, select_sql, mode, progress)
            result.rows_loaded = con.execute(f"select count(*) from {source}").fetchone()[0]
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    elif any(s in suffixes for s in (".csv", ".tsv", ".txt")):
        opts = [
            "header=true",
            "store_rejects=true",
            f"rejects_table='{tag}'",
            f"rejects_scan='{tag}_scan'",
            "ignore_errors=true",
        ]
        if ".tsv" in suffixes:
            opts.append("delim='\\t'")
        if schema:
            cols = ", ".join(f"{_sql_str(c)}: {_sql_str(t)}" for c, t in schema.items())
            opts.append(f"columns={{{cols}}}")
        source = f"read_csv({_sql_str(str(path))}, {', '.join(opts)})"
        con.execute("begin")
        try:
            con.execute(f"create temp table {tag}_data as select * from {source}")
            _write(wh, table, f"select * from {tag}_data", mode, progress)
            result.rows_loaded = con.execute(f"select count(*) from {tag}_data").fetchone()[0]
            rows = con.execute(f"select line, column_name, error_message, csv_line from {tag} order by line").fetchall()
            result.rejects = [
                Reject(name, int(r[0]) if r[0] is not None else None, r[1] or None, str(r[2]), r[3]) for r in rows
            ]
            con.execute(f"drop table if exists {tag}_data")
            con.execute("commit")
        except BaseException as exc:
            con.execute("rollback")
            if isinstance(exc, IngestError):
                raise
            raise IngestError(
                f"cannot read {name}: {redact(str(exc)).splitlines()[0]}", zh=f"无法读取 {name}"
            ) from None
        finally:
            for t in (tag, f"{tag}_scan"):
                con.execute(f"drop table if exists {t}")
    else:
        raise IngestError(
            f"cannot load {name}: expected a .csv, .tsv or .parquet file",
            zh=f"无法加载 {name}：只支持 .csv、.tsv、.parquet",
        )
    result.rows_rejected = len(result.rejects)
    _describe(wh, result, time_column)
    return result


def records_from_json(payload: Any, records_path: str | None, source: str) -> list[dict[str, Any]]:
    """The list of records at ``records_path`` (dot-separated keys, e.g. ``data.items``)."""
    node = payload
    walked = []
    for key in [k for k in (records_path or "").split(".") if k]:
        walked.append(key)
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            raise IngestError(
                f"{source}: no '{'.'.join(walked)}' in the JSON payload "
                f"(keys here: {', '.join(map(str, node)) if isinstance(node, dict) else type(node).__name__})"
            )
    if not isinstance(node, list):
        raise IngestError(
            f"{source}: expected a list of records at '{records_path or '(root)'}', got {type(node).__name__}"
        )
    return node


_ARROW = {
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "SMALLINT": pa.int16(),
    "DOUBLE": pa.float64(),
    "FLOAT": pa.float32(),
    "REAL": pa.float32(),
    "DECIMAL": pa.float64(),
    "VARCHAR": pa.string(),
    "TEXT": pa.string(),
    "BOOLEAN": pa.bool_(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
    "HUGEINT": pa.int64(),
    "UBIGINT": pa.uint64(),
    "TIME": pa.time64("us"),
}


def _coerce(value: Any, typ: str) -> Any:
    if value is None:
        return None
    base = typ.upper().split("(")[0]
    if base in ("BIGINT", "INTEGER", "SMALLINT", "HUGEINT", "UBIGINT"):
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"{value!r} is not an integer")
        return int(value)
    if base in ("DOUBLE", "FLOAT", "REAL", "DECIMAL"):
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a number")
        return float(value)
    if base == "BOOLEAN":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "false", "1", "0"):
            return str(value).lower() in ("true", "1")
        raise ValueError(f"{value!r} is not a boolean")
    if base in ("TIMESTAMP", "TIMESTAMPTZ"):
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if base == "DATE":
        return dt.date.fromisoformat(str(value)[:10])
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _infer(records: list[dict[str, Any]]) -> dict[str, str]:
    types: dict[str, str] = {}
    for rec in records[:1000]:
        if not isinstance(rec, dict):
            continue
        for k, v in rec.items():
            if v is None:
                continue
            t = (
                "BOOLEAN"
                if isinstance(v, bool)
                else "BIGINT"
                if isinstance(v, int)
                else "DOUBLE"
                if isinstance(v, float)
                else "VARCHAR"
            )
            if t == "VARCHAR" and isinstance(v, str) and re.match(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}", v):
                t = "TIMESTAMP"
            prev = types.get(k)
            if prev is None or prev == t:
                types[k] = t
            elif {prev, t} == {"BIGINT", "DOUBLE"}:
                types[k] = "DOUBLE"
            else:
                types[k] = "VARCHAR"
    return types


def load_records(
    wh: DuckDBWarehouse,
    records: list[Any],
    table: str,
    *,
    source: str,
    mode: Mode = "append",
    schema: dict[str, str] | None = None,
    time_column: str | None = None,
    progress: Progress | None = None,
) -> LoadResult:
    """Load JSON records; a record that does not fit the schema is rejected (line = its index)."""
    table, schema = _check_table(table), _check_schema(schema)
    columns = schema or _infer(records)
    if not columns:
        raise IngestError(f"{source}: no records with fields to load")
    result = LoadResult(table, source, mode)
    good: dict[str, list[Any]] = {c: [] for c in columns}
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            result.rejects.append(Reject(source, i + 1, None, f"record is a {type(rec).__name__}, not an object"))
            continue
        row: dict[str, Any] = {}
        try:
            for col, typ in columns.items():
                try:
                    row[col] = _coerce(rec.get(col), typ)
                except (ValueError, TypeError) as exc:
                    raise _RowError(col, f"cannot convert to {typ}: {exc}") from None
            extra = set(rec) - set(columns)
            if schema and extra:
                raise _RowError(sorted(extra)[0], "field not in the declared schema")
        except _RowError as err:
            result.rejects.append(
                Reject(source, i + 1, err.column, err.reason, json.dumps(rec, ensure_ascii=False, default=str)[:1000])
            )
            continue
        for col in columns:
            good[col].append(row[col])
        if progress and i % 5000 == 0:
            progress(0.5 * i / max(len(records), 1))
    arrow = pa.table({c: pa.array(v, type=_ARROW[columns[c].upper().split("(")[0]]) for c, v in good.items()})
    con = wh.connection
    view = f"_ml_records_{threading.get_ident()}"
    con.register(view, arrow)
    con.execute("begin")
    try:
        _write(wh, table, f"select * from {view}", mode, None)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.unregister(view)
    if progress:
        progress(1.0)
    result.rows_loaded = arrow.num_rows
    result.rows_rejected = len(result.rejects)
    _describe(wh, result, time_column)
    return result


class _RowError(Exception):
    def __init__(self, column: str, reason: str) -> None:
        self.column, self.reason = column, reason


def fetch_json(url: str, *, timeout: float = 30.0, headers: dict[str, str] | None = None) -> Any:
    import httpx

    try:
        resp = httpx.get(url, timeout=timeout, headers=headers, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise IngestError(f"cannot fetch {redact(url)}: {redact(str(exc))}", zh=f"无法获取 {redact(url)}") from None
    if resp.status_code >= 400:
        raise IngestError(f"cannot fetch {redact(url)}: HTTP {resp.status_code}")
    try:
        return resp.json()
    except ValueError:
        raise IngestError(
            f"{redact(url)} did not return JSON (content-type {resp.headers.get('content-type')})"
        ) from None


def _describe(wh: DuckDBWarehouse, result: LoadResult, time_column: str | None) -> None:
    """Record the table's columns and its freshness (max event time)."""
    rows = wh.connection.execute(f"describe {result.table}").fetchall()
    result.columns = {r[0]: r[1] for r in rows}
    if time_column and time_column not in result.columns:
        raise IngestError(
            f"time column '{time_column}' is not a column of {result.table} (columns: {', '.join(result.columns)})"
        )
    if time_column is None:
        time_column = next((c for c, t in result.columns.items() if t.startswith(("TIMESTAMP", "DATE"))), None)
    result.time_column = time_column
    if time_column:
        value = wh.connection.execute(f'select max("{time_column}") from {result.table}').fetchone()[0]
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            value = dt.datetime(value.year, value.month, value.day)
        result.max_event_time = value
