"""Load CSV, Parquet and HTTP JSON into the embedded DuckDB warehouse.

Every source goes the same way: it is *staged* as it is (CSV and JSON as text) into a temporary
table, each value is checked against the column's type with ``TRY_CAST`` (a failed cast, a lossy
one such as ``12.7`` into an integer, ``NaN``/``Infinity`` in a number, an empty time or key),
and only then are the good rows written, in the same transaction that staged them. So a load
either commits its good rows and its row counts, or nothing at all; rows that do not fit go to
the reject report with line, column and a reason naming the expected type.

Column policy (also in README, "Loading data"):

* types come from ``--schema`` if given, else from the existing table when appending, else
  they are inferred from the whole file (the most specific type almost every value fits);
* a column of the file that is not in the schema/table is reported and ignored, unless
  ``add_columns`` (``--add-columns``) adds it to the table;
* a missing column is filled with NULL and reported, unless it is the time column or a key
  column of the table, which fails the load (no row could be placed);
* an empty value is NULL, except in the time column and key columns, where the row is rejected.

No text of the request is pasted into SQL: types are parsed by :mod:`metricloop.ingest.types`,
names are quoted identifiers, paths are string literals.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from metricloop.engine.warehouse import DuckDBWarehouse
from metricloop.errors import IngestError
from metricloop.ingest.types import (
    FLOATS,
    INTEGERS,
    canonical_type,
    check_column_name,
    literal,
    parse_schema,
    quote,
    short,
)
from metricloop.secrets import redact

Mode = Literal["append", "replace"]
TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$")
Progress = Callable[[float], None]
MAX_REJECT_DETAILS = 10_000  # reject records kept per load; rows_rejected always counts all
MAX_ERROR = 300  # characters of an underlying error quoted in a message
MAX_RESPONSE_BYTES = 256 * 1024 * 1024
MAX_COLUMNS = 5000
LEDGER = "metricloop_load_ledger"  # warehouse table: one row per committed load, same transaction
INFER_ORDER = ("BIGINT", "DOUBLE", "DATE", "TIMESTAMP", "BOOLEAN")
ROW = "__metricloop_row__"  # position of a staged row in its source (0-based, source order)
_NUMBERED = f"select row_number() over () - 1 as {ROW}, * from"


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
    types: dict[str, str] = field(default_factory=dict)  # type each column was checked against
    types_from: str = "schema"  # schema | table | inferred
    notes: list[str] = field(default_factory=list)  # column policy decisions (extra, missing, added)

    @property
    def status(self) -> str:
        if self.rows_rejected and not self.rows_loaded:
            return "failed"
        return "partial" if self.rows_rejected else "ok"


def bounded(text: str, limit: int = MAX_ERROR, *, first_line: bool = True) -> str:
    """``text`` (its first line by default), redacted, at most ``limit`` characters: what is stored
    and shown of an error or an input line."""
    out = redact(str(text)[: limit * 4]).replace("\x00", "\\0").strip()
    if first_line and out:
        out = out.splitlines()[0]
    return out if len(out) <= limit else out[: limit - 1] + "…"


def _check_table(name: str) -> str:
    if not isinstance(name, str) or not TABLE_NAME.match(name):
        raise IngestError(
            f"table: name {short(name)!r} must be letters, digits and _ (optionally schema.table), at most 63 each",
            zh=f"table：表名 {short(name)!r} 只能包含字母、数字和下划线（可写作 schema.table）",
        )
    return name


def _check_mode(mode: str) -> Mode:
    if mode not in ("append", "replace"):
        raise IngestError(f"mode: {short(mode)!r} must be append or replace", zh="mode：只能是 append 或 replace")
    return mode  # type: ignore[return-value]


def _qtable(table: str) -> str:
    return ".".join(quote(p) for p in table.split("."))


def _run(con: Any, sql: str, progress: Progress | None) -> None:
    """Execute ``sql``; while it runs, report DuckDB's own query progress (0..1)."""
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
    if error:
        raise error[0]


@contextmanager
def _transaction(wh: DuckDBWarehouse, what: str) -> Iterator[Any]:
    """A cursor of its own (own transaction, own temp tables); rollback on any error."""
    import duckdb

    con = wh.connection.cursor()
    con.execute("begin")
    try:
        yield con
        con.execute("commit")
    except BaseException as exc:
        with suppress(Exception):
            con.execute("rollback")
        if isinstance(exc, duckdb.Error):
            raise IngestError(
                f"cannot load {short(what, 200)}: {bounded(str(exc))} (nothing was loaded)",
                zh=f"无法加载 {short(what, 200)}：{bounded(str(exc))}（没有写入任何行）",
            ) from None
        raise
    finally:
        con.close()


def _table_columns(con: Any, table: str) -> dict[str, str] | None:
    schema, _, name = table.rpartition(".")
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_name = ? and table_schema = coalesce(?, current_schema()) order by ordinal_position",
        [name, schema or None],
    ).fetchall()
    return {r[0]: r[1] for r in rows} or None


def _conds(r: str, v: str, typ: str, cast: bool) -> list[str]:
    """SQL conditions under which raw value ``r`` (not NULL) fits ``typ`` exactly as ``v``."""
    out = [f"{v} is not null"] if cast else []
    if cast and typ in INTEGERS:
        out.append(f"try_cast({r} as DOUBLE) = {v}")
    if cast and typ.startswith("DECIMAL"):
        out.append(f"try_cast({r} as DOUBLE) = try_cast({v} as DOUBLE)")
    if typ in FLOATS:
        out.append(f"not isnan({v}) and not isinf({v})")
    if cast and typ == "DATE":
        out.append(f"(try_cast({r} as TIMESTAMP) is null or try_cast({r} as TIMESTAMP) = cast({v} as TIMESTAMP))")
    return out


@dataclass(frozen=True)
class _Col:
    name: str  # column in the table
    source: str | None  # column of the staged file, None when missing (filled with NULL)
    typ: str | None  # type to check against; None: keep the source's type
    cast: bool
    required: bool

    def value(self, raw: str) -> str:
        if self.source is None:
            return f"cast(null as {self.typ})" if self.typ else "null"
        r = f"{raw}.{quote(self.source)}"
        return f"try_cast({r} as {self.typ})" if self.cast else r

    def ok(self, raw: str) -> str:
        if self.source is None:
            return "true"
        r = f"{raw}.{quote(self.source)}"
        conds = _conds(r, self.value(raw), self.typ, self.cast) if self.typ else []
        if self.required:
            return "(" + " and ".join([f"{r} is not null", *conds]) + ")"
        return f"({r} is null or ({' and '.join(conds)}))" if conds else "true"


def _looks(v: str, typ: str) -> list[str]:
    """Inference only: ``12.0`` casts to BIGINT without loss but is written as a decimal number."""
    return [f"regexp_matches({v}, '^\\s*[-+]?[0-9]+\\s*$')"] if typ == "BIGINT" else []


def _infer(con: Any, raw: str, cols: dict[str, str]) -> dict[str, str | None]:
    """Per column, the most specific type that (almost) every value of the file fits exactly.

    Text columns are unpivoted into (column, value) rows so one query of fixed size counts every
    candidate type for every column (a query per column, or a select as wide as the file, is slow
    to plan for wide files); a spread sample of ~5,000 rows first rules out the types that clearly
    do not fit, because a failing cast is DuckDB's slow path.
    """
    out: dict[str, str | None] = {c: canonical_type(t) for c, t in cols.items() if t != "VARCHAR"}
    text = [c for c, t in cols.items() if t == "VARCHAR"]
    if text:
        total = int(con.execute(f"select count(*) from {raw}").fetchone()[0])
        step = max(1, total // 5000)
        names = ", ".join(f"{quote(c)} as {quote(f'c{i}')}" for i, c in enumerate(text))

        def fits(where: str, alive: set[tuple[int, str]] | None) -> dict[int, list[int]]:
            exprs = ["count(v)"]
            for typ in INFER_ORDER:
                cond = " and ".join(_conds("v", f"try_cast(v as {typ})", typ, True) + _looks("v", typ))
                keys = [f"'c{i}'" for i, t in sorted(alive or ()) if t == typ]
                allowed = "true" if alive is None else f"k in ({', '.join(keys)})" if keys else "false"
                exprs.append(f"coalesce(sum(case when ({allowed}) and {cond} then 1 else 0 end), 0)")
            sql = (f"select k, {', '.join(exprs)} from (unpivot (select {names} from {raw} {where}) "
                   f"on columns(*) into name k value v) group by k")
            return {int(r[0][1:]): [int(x) for x in r[1:]] for r in con.execute(sql).fetchall()}

        def by_column(alive: set[tuple[int, str]]) -> dict[int, list[int]]:
            """The same counts as :func:`fits` for a few candidates: a narrow select is faster."""
            pairs = sorted(alive)
            exprs = [f"count({quote(c)})" for c in text]
            for i, typ in pairs:
                r = quote(text[i])
                cond = " and ".join(_conds(r, f"try_cast({r} as {typ})", typ, True) + _looks(r, typ))
                exprs.append(f"coalesce(sum(case when {cond} then 1 else 0 end), 0)")
            got = [int(x) for x in con.execute(f"select {', '.join(exprs)} from {raw}").fetchone()]
            out = {i: [got[i]] + [0] * len(INFER_ORDER) for i in range(len(text))}
            for (i, typ), good in zip(pairs, got[len(text):], strict=True):
                out[i][1 + INFER_ORDER.index(typ)] = good
            return out

        sampled = fits(f"where {ROW} % {step} = 0", None)
        alive = {(i, typ) for i in range(len(text)) for k, typ in enumerate(INFER_ORDER)
                 if i not in sampled or (sampled[i][0] - sampled[i][1 + k]) * 2 < sampled[i][0]}
        full = sampled if step == 1 else by_column(alive) if len(alive) + len(text) <= 64 else fits("", alive)
        for i, c in enumerate(text):
            n, *good_of = full.get(i, [0] * (len(INFER_ORDER) + 1))
            best, best_bad = "VARCHAR", n
            for typ, good in zip(INFER_ORDER, good_of, strict=True):
                bad = n - good
                if (i, typ) in alive and n and bad <= max(1, n // 100) and bad * 2 < n and bad < best_bad:
                    best, best_bad = typ, bad
            out[c] = best
    return {c: out[c] for c in cols}


def _reason(col: _Col, raw: Any, cast: Any, role: str) -> str:
    expected = col.typ or "the table's type"
    if raw is None:
        return f"empty value in {col.name!r}, the {role}: every row needs one ({expected})"
    shown = short(raw)
    if cast is None:
        return f"{shown!r} is not a valid {expected} (column {col.name!r})"
    if isinstance(cast, float) and (math.isnan(cast) or math.isinf(cast)):
        return f"{shown!r} is not a finite number; {expected} accepts no NaN or Infinity (column {col.name!r})"
    if col.typ == "DATE":
        return f"{shown!r} has a time of day that DATE would drop (column {col.name!r})"
    return f"{shown!r} would change to {short(cast)!r} as {expected}: a lossy cast (column {col.name!r})"


def _place(
    con: Any,
    raw: str,
    *,
    name: str,
    table: str,
    mode: Mode,
    declared: dict[str, str] | None,
    time_column: str | None,
    key_columns: Sequence[str],
    add_columns: bool,
    structural: list[Reject],
    line_of: Callable[[int], int | None],
    load_id: int | None,
    progress: Progress | None,
    typed: bool = False,
) -> LoadResult:
    """Check the staged rows against the column types, then write the good ones (same transaction).

    ``typed``: the source carries its own types (Parquet), so a text column is text, not a
    candidate for inference."""
    result = LoadResult(table, name, mode)
    staged = {r[0]: r[1] for r in con.execute(f"describe {raw}").fetchall() if r[0] != ROW}
    if len(staged) > MAX_COLUMNS:
        raise IngestError(f"{short(name, 200)} has {len(staged)} columns; a load takes at most {MAX_COLUMNS}",
                          zh=f"{short(name, 200)} 有 {len(staged)} 列；一次加载最多 {MAX_COLUMNS} 列")
    lower = {c.lower(): c for c in staged}
    existing = _table_columns(con, table)
    append = existing is not None and mode == "append"
    target: dict[str, str | None]
    if declared:
        target, result.types_from = dict(declared), "schema"
    elif append:
        assert existing is not None
        target, result.types_from = {c: canonical_type(t) for c, t in existing.items()}, "table"
    else:
        target = {c: canonical_type(t) for c, t in staged.items()} if typed else _infer(con, raw, staged)
        result.types_from = "inferred"
    known = {c.lower() for c in target}
    extra = [c for c in staged if c.lower() not in known]
    if extra and add_columns:
        added = ({c: canonical_type(staged[c]) for c in extra} if typed
                 else _infer(con, raw, {c: staged[c] for c in extra}))
        for c in extra:
            target[c] = added[c] or "VARCHAR"
            result.notes.append(f"column {c!r} added as {target[c]} (--add-columns)")
    elif extra:
        for c in extra:
            result.notes.append(f"column {c!r} of the file is not in the {'schema' if declared else 'table'}: "
                                f"ignored (--add-columns adds it)")
    if append and existing is not None:  # declared columns the table lacks
        have = {c.lower() for c in existing}
        for c in [c for c in target if c.lower() not in have]:
            if add_columns:
                con.execute(f"alter table {_qtable(table)} add column {quote(c)} {target[c] or 'VARCHAR'}")
                if c not in extra:
                    result.notes.append(f"column {c!r} added to {table} as {target[c]} (--add-columns)")
            else:
                del target[c]
                result.notes.append(f"column {c!r} is not in table {table}: ignored (--add-columns adds it)")
    if time_column is None:
        time_column = next((c for c, t in target.items() if t and t.startswith(("TIMESTAMP", "DATE"))), None)
    elif time_column.lower() not in {c.lower() for c in target}:
        raise IngestError(
            f"time_column: {short(time_column)!r} is not a column of {table} "
            f"(columns: {short(', '.join(target), 200)}); nothing was loaded",
            zh=f"time_column：{short(time_column)!r} 不是 {table} 的列；没有写入任何行",
        )
    required = {k.lower(): "key column" for k in key_columns}
    if time_column:
        required[time_column.lower()] = "time column"
    cols: list[_Col] = []
    for c, typ in target.items():
        src = lower.get(c.lower())
        role = required.get(c.lower())
        if src is None and role:
            raise IngestError(
                f"{name}: column {c!r} is missing; it is the {role} of {table}, so no row can be loaded",
                zh=f"{name}：缺少列 {c!r}（{table} 的{'时间列' if role == 'time column' else '键列'}），无法加载任何行",
            )
        if src is None:
            result.notes.append(f"column {c!r} is not in the file: filled with NULL")
        cast = src is not None and typ is not None and canonical_type(staged[src]) != typ
        cols.append(_Col(c, src, typ, cast, bool(role)))
    if not cols or all(c.source is None for c in cols):
        raise IngestError(
            f"{name}: none of its columns ({short(', '.join(staged), 200)}) is a column to load",
            zh=f"{name}：没有可加载的列",
        )
    result.types = {c.name: c.typ or staged.get(c.source or "", "?") for c in cols}
    ok = " and ".join(c.ok(raw) for c in cols)
    select = ", ".join(f"{c.value(raw)} as {quote(c.name)}" for c in cols)
    good = f"select {select} from {raw} where coalesce({ok}, false)"  # scan order = file order
    if "." in table:
        con.execute(f"create schema if not exists {quote(table.split('.')[0])}")
    if append:
        before = int(con.execute(f"select count(*) from {_qtable(table)}").fetchone()[0])
        try:
            _run(con, f"insert into {_qtable(table)} by name {good}", progress)
        except Exception as exc:
            raise IngestError(
                f"cannot append to {table}: {bounded(str(exc))} (nothing was loaded; the table is unchanged)",
                zh=f"无法追加到 {table}：{bounded(str(exc))}（没有写入任何行，表未改变）",
            ) from None
        result.rows_loaded = int(con.execute(f"select count(*) from {_qtable(table)}").fetchone()[0]) - before
    else:
        _run(con, f"create or replace table {_qtable(table)} as {good}", progress)
        result.rows_loaded = int(con.execute(f"select count(*) from {_qtable(table)}").fetchone()[0])
    staged_rows = int(con.execute(f"select count(*) from {raw}").fetchone()[0])
    bad_count = staged_rows - result.rows_loaded
    checked = [c for c in cols if c.source is not None]
    rejects: list[Reject] = []
    if bad_count:
        details = ", ".join(f"coalesce({c.ok(raw)}, false), cast({raw}.{quote(c.source or '')} as varchar), "
                            f"{c.value(raw)}" for c in checked)
        whole = ", ".join(f"cast({raw}.{quote(c)} as varchar)" for c in staged)
        for row in con.execute(
            f"select {ROW}, {details}, {whole} from {raw} where not coalesce({ok}, false) "
            f"order by {ROW} limit {MAX_REJECT_DETAILS}"
        ).fetchall():
            line = json.dumps(dict(zip(staged, row[1 + 3 * len(checked):], strict=True)), ensure_ascii=False)
            for i, c in enumerate(checked):
                fine, raw_text, cast_value = row[1 + 3 * i : 4 + 3 * i]
                if not fine:
                    reason = _reason(c, raw_text, cast_value, required.get(c.name.lower(), "column"))
                    rejects.append(Reject(name, line_of(int(row[0])), c.name, bounded(reason, 500),
                                          bounded(line, 1000, first_line=False)))
                    break
    result.rejects = sorted(structural + rejects, key=lambda r: r.line or 0)[:MAX_REJECT_DETAILS]
    result.rows_rejected = len(structural) + bad_count
    if result.rows_rejected > len(result.rejects):
        result.notes.append(f"{result.rows_rejected - len(result.rejects)} more rejected rows are counted "
                            f"but not listed (the first {MAX_REJECT_DETAILS} are)")
    if load_id is not None:
        con.execute(f"create table if not exists {LEDGER} (load_id BIGINT, table_name VARCHAR, rows_loaded BIGINT, "
                    "rows_rejected BIGINT, committed_at TIMESTAMP)")
        con.execute(f"insert into {LEDGER} values (?, ?, ?, ?, current_timestamp::TIMESTAMP)",
                    [load_id, table, result.rows_loaded, result.rows_rejected])
    _describe(con, result, time_column)
    return _scrub(result)


def _scrub(result: LoadResult) -> LoadResult:
    """Column names come from the file: a header can hold a secret too, so what is shown is redacted."""
    result.types = {redact(c): t for c, t in result.types.items()}
    result.columns = {redact(c): t for c, t in result.columns.items()}
    result.notes = [redact(n) for n in result.notes]
    result.rejects = [Reject(r.file, r.line, redact(r.column) if r.column else None, r.reason, r.raw)
                      for r in result.rejects]
    return result


def _tag() -> str:
    return f"_ml_load_{uuid.uuid4().hex[:12]}"


def _line_after(rejected_lines: list[int]) -> Callable[[int], int]:
    """Line of the staged row ``k`` (0-based): header is line 1, structural rejects are skipped."""
    skip = sorted(rejected_lines)

    def line_of(k: int) -> int:
        line = k + 2
        for r in skip:
            if r <= line:
                line += 1
        return line

    return line_of


def load_file(
    wh: DuckDBWarehouse,
    path: Path,
    table: str,
    *,
    mode: Mode = "append",
    schema: dict[str, str] | None = None,
    time_column: str | None = None,
    key_columns: Sequence[str] = (),
    add_columns: bool = False,
    progress: Progress | None = None,
    display_name: str | None = None,
    load_id: int | None = None,
) -> LoadResult:
    """Load a CSV or Parquet file (by extension; ``.csv.gz`` and ``.tsv`` included)."""
    table, mode, declared = _check_table(table), _check_mode(mode), parse_schema(schema)
    name = display_name or str(path)
    if not path.is_file():
        raise IngestError(f"file not found: {short(name, 200)}", zh=f"文件不存在：{short(name, 200)}")
    suffixes = "".join(path.suffixes).lower()
    parquet = ".parquet" in suffixes or ".pq" in suffixes
    if not parquet and not any(s in suffixes for s in (".csv", ".tsv", ".txt")):
        raise IngestError(
            f"cannot load {short(name, 200)}: expected a .csv, .tsv or .parquet file",
            zh=f"无法加载 {short(name, 200)}：只支持 .csv、.tsv、.parquet",
        )
    if path.stat().st_size == 0:
        raise IngestError(f"{short(name, 200)} is empty (not even a header line)", zh=f"{short(name, 200)} 是空文件")
    tag = _tag()
    raw = f"{tag}_raw"
    with _transaction(wh, name) as con:
        structural: list[Reject] = []
        if parquet:
            # staged, not a view: DuckDB 2.0 trusts Parquet statistics in isnan() and misses NaN values
            _run(con, f"create temp table {raw} as select file_row_number as {ROW}, * exclude (file_row_number) "
                      f"from read_parquet({literal(str(path))}, file_row_number=true)", progress)
            line_of: Callable[[int], int | None] = lambda k: k + 1  # noqa: E731 - row number in the file
        else:
            opts = ["header=true", "all_varchar=true", "store_rejects=true", f"rejects_table='{tag}_rej'",
                    f"rejects_scan='{tag}_scan'", "ignore_errors=true"]
            if ".tsv" in suffixes:
                opts.append("delim='\\t'")
            _run(con, f"create temp table {raw} as {_NUMBERED} read_csv({literal(str(path))}, {', '.join(opts)})",
                 progress)
            rows = con.execute(f"select line, column_name, error_message, csv_line from {tag}_rej order by line")
            structural = [
                Reject(name, int(r[0]) if r[0] is not None else None, r[1] or None, bounded(str(r[2]), 500),
                       bounded(r[3], 1000, first_line=False) if r[3] is not None else None)
                for r in rows.fetchall()
            ]
            line_of = _line_after([r.line for r in structural if r.line is not None])
        result = _place(con, raw, name=name, table=table, mode=mode, declared=declared, time_column=time_column,
                        key_columns=key_columns, add_columns=add_columns, structural=structural, line_of=line_of,
                        load_id=load_id, progress=progress, typed=parquet)
    if progress:
        progress(1.0)
    return result


def records_from_json(payload: Any, records_path: str | None, source: str) -> list[dict[str, Any]]:
    """The list of records at ``records_path`` (dot-separated keys, e.g. ``data.items``)."""
    node = payload
    walked = []
    if records_path is not None and (len(records_path) > 512 or any(ord(c) < 32 for c in records_path)):
        raise IngestError(f"records_path: {short(records_path)!r} must be dot-separated keys (at most 512 characters)",
                          zh="records_path：必须是用点分隔的键（最多 512 个字符）")
    for key in [k for k in (records_path or "").split(".") if k]:
        walked.append(key)
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            keys = ", ".join(short(k, 40) for k in list(node)[:10]) if isinstance(node, dict) else type(node).__name__
            raise IngestError(
                f"{short(source, 200)}: no {short('.'.join(walked))!r} in the JSON payload (keys here: {keys})",
                zh=f"{short(source, 200)}：JSON 中没有 {short('.'.join(walked))!r}",
            )
    if not isinstance(node, list):
        raise IngestError(
            f"{short(source, 200)}: expected a list of records at {short(records_path or '(root)')!r}, "
            f"got {type(node).__name__}",
            zh=f"{short(source, 200)}：{short(records_path or '(root)')!r} 处应为记录列表",
        )
    return node


def _text(value: Any) -> str | None:
    """A JSON value as the text the staged table holds (typed later by the same checks as CSV)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def load_records(
    wh: DuckDBWarehouse,
    records: list[Any],
    table: str,
    *,
    source: str,
    mode: Mode = "append",
    schema: dict[str, str] | None = None,
    time_column: str | None = None,
    key_columns: Sequence[str] = (),
    add_columns: bool = False,
    progress: Progress | None = None,
    load_id: int | None = None,
) -> LoadResult:
    """Load JSON records; a record that does not fit is rejected (line = its position, from 1)."""
    table, mode, declared = _check_table(table), _check_mode(mode), parse_schema(schema)
    name = redact(source)
    pre: list[Reject] = []
    positions: list[int] = []
    columns: dict[str, str] = {}  # lower-case -> first spelling
    skipped: set[str] = set()
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            pre.append(Reject(name, i + 1, None, f"record is a {type(rec).__name__}, not an object",
                              bounded(json.dumps(rec, ensure_ascii=False, default=str), 1000, first_line=False)))
            continue
        positions.append(i + 1)
        for k in rec:
            if k not in columns.values() and str(k).lower() not in columns and k not in skipped:
                try:
                    columns[check_column_name(k, field="record field").lower()] = k
                except IngestError:
                    skipped.add(k)
    if not columns:
        raise IngestError(f"{short(name, 200)}: no records with fields to load",
                          zh=f"{short(name, 200)}：没有可加载的记录")
    keys = list(columns.values())
    data = {k: [_text(rec.get(k)) for rec in records if isinstance(rec, dict)] for k in keys}
    arrow = pa.table({k: pa.array(v, type=pa.string()) for k, v in data.items()})
    tag = _tag()
    raw = f"{tag}_raw"
    with _transaction(wh, name) as con:
        con.register(f"{tag}_view", arrow)
        con.execute(f"create temp table {raw} as {_NUMBERED} {tag}_view")
        con.unregister(f"{tag}_view")
        result = _place(con, raw, name=name, table=table, mode=mode, declared=declared, time_column=time_column,
                        key_columns=key_columns, add_columns=add_columns, structural=pre,
                        line_of=lambda k: positions[k], load_id=load_id, progress=None)
        result.notes += [f"record field {short(k)!r} is not a usable column name: ignored" for k in sorted(skipped)]
    if progress:
        progress(1.0)
    return result


def fetch_json(url: str, *, timeout: float = 30.0, headers: dict[str, str] | None = None,
               allow_private: bool = True) -> Any:
    """GET ``url`` and parse JSON (at most 256 MB); errors never show the URL's secrets.

    ``allow_private=False`` (API loads) refuses loopback/private/link-local hosts on every hop."""
    import httpx

    from metricloop.ingest.urlguard import PublicOnlyTransport

    shown = short(redact(url), 200)
    transport = None if allow_private else PublicOnlyTransport()
    try:
        with httpx.Client(transport=transport, timeout=timeout, follow_redirects=True) as client, \
                client.stream("GET", url, headers=headers) as resp:
            if resp.status_code >= 400:
                raise IngestError(f"cannot fetch {shown}: HTTP {resp.status_code}",
                                  zh=f"无法获取 {shown}：HTTP {resp.status_code}")
            body = bytearray()
            for chunk in resp.iter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise IngestError(f"cannot fetch {shown}: the answer is larger than 256 MB",
                                      zh=f"无法获取 {shown}：响应超过 256 MB")
            ctype = resp.headers.get("content-type")
    except httpx.HTTPError as exc:
        raise IngestError(f"cannot fetch {shown}: {bounded(str(exc))}", zh=f"无法获取 {shown}") from None
    except httpx.InvalidURL:
        raise IngestError(f"cannot fetch {shown}: not a valid URL", zh=f"无法获取 {shown}：URL 无效") from None
    try:
        return json.loads(bytes(body))
    except (ValueError, RecursionError):
        raise IngestError(f"{shown} did not return JSON (content-type {short(ctype or '-')})",
                          zh=f"{shown} 返回的不是 JSON") from None


def _describe(con: Any, result: LoadResult, time_column: str | None) -> None:
    """Record the table's columns and its freshness (max event time)."""
    rows = con.execute(f"describe {_qtable(result.table)}").fetchall()
    result.columns = {r[0]: r[1] for r in rows}
    if time_column is None:
        time_column = next((c for c, t in result.columns.items() if t.startswith(("TIMESTAMP", "DATE"))), None)
    else:
        time_column = next((c for c in result.columns if c.lower() == time_column.lower()), time_column)
    result.time_column = time_column
    if time_column:
        value = con.execute(f"select max({quote(time_column)}) from {_qtable(result.table)}").fetchone()[0]
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            value = dt.datetime(value.year, value.month, value.day)
        result.max_event_time = value if isinstance(value, dt.datetime) else None
