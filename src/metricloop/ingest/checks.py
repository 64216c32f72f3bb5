"""Table checks run after each load: freshness SLA, row-count drop, null rate, duplicate keys.

The verdicts are computed from observed numbers by :func:`evaluate` (pure); the warehouse
queries that observe them live in :func:`observe`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from metricloop.engine.warehouse import DuckDBWarehouse
from metricloop.project import TableSpec, parse_duration


@dataclass(frozen=True)
class CheckResult:
    table: str
    check: str
    status: str  # pass | fail | error
    observed: float | None
    threshold: str | None
    detail: str


@dataclass(frozen=True)
class Observation:
    rows: int  # rows in the table now
    previous_rows: int | None  # rows of the previous load (append) or of the table before (replace)
    load_rows: int | None
    max_event_time: dt.datetime | None
    null_rates: dict[str, float]
    duplicate_keys: int | None
    errors: dict[str, str]


def observe(
    wh: DuckDBWarehouse,
    table: str,
    spec: TableSpec,
    previous_rows: int | None,
    time_column: str | None,
    load_rows: int | None = None,
) -> Observation:
    con = wh.connection
    errors: dict[str, str] = {}
    rows = int(con.execute(f"select count(*) from {table}").fetchone()[0])
    max_time = None
    tcol = spec.time_column or time_column
    if tcol:
        try:
            max_time = con.execute(f'select max("{tcol}") from {table}').fetchone()[0]
            if isinstance(max_time, dt.date) and not isinstance(max_time, dt.datetime):
                max_time = dt.datetime(max_time.year, max_time.month, max_time.day)
        except Exception as exc:
            errors["freshness"] = str(exc).splitlines()[0]
    nulls: dict[str, float] = {}
    for col in spec.max_null_rate:
        try:
            n = con.execute(f'select count(*) filter (where "{col}" is null) from {table}').fetchone()[0]
            nulls[col] = n / rows if rows else 0.0
        except Exception as exc:
            errors[f"null_rate:{col}"] = str(exc).splitlines()[0]
    dups = None
    if spec.unique_key:
        cols = ", ".join(f'"{c}"' for c in spec.unique_key)
        try:
            dups = int(con.execute(f"select count(*) - count(distinct ({cols})) from {table}").fetchone()[0])
        except Exception as exc:
            errors["duplicate_keys"] = str(exc).splitlines()[0]
    return Observation(rows, previous_rows, load_rows, max_time, nulls, dups, errors)


def evaluate(table: str, spec: TableSpec, obs: Observation, now: dt.datetime) -> list[CheckResult]:
    """Verdicts for every configured check (pure: numbers in, verdicts out)."""
    out: list[CheckResult] = []
    for check, err in obs.errors.items():
        out.append(CheckResult(table, check.split(":")[0], "error", None, None, err))
    if spec.freshness_sla and "freshness" not in obs.errors:
        sla = parse_duration(spec.freshness_sla)
        if obs.max_event_time is None:
            out.append(CheckResult(table, "freshness", "fail", None, spec.freshness_sla, "no rows with an event time"))
        else:
            age = now - obs.max_event_time
            hours = age.total_seconds() / 3600
            out.append(
                CheckResult(
                    table,
                    "freshness",
                    "pass" if age <= sla else "fail",
                    round(hours, 3),
                    spec.freshness_sla,
                    f"newest row {obs.max_event_time.isoformat(sep=' ')}, {hours:.1f} h old",
                )
            )
    if spec.max_row_drop is not None and obs.previous_rows and obs.load_rows is not None:
        drop = 1 - obs.load_rows / obs.previous_rows
        out.append(
            CheckResult(
                table,
                "row_count_drop",
                "fail" if drop > spec.max_row_drop else "pass",
                round(drop, 4),
                f"<= {spec.max_row_drop:.0%}",
                f"{obs.load_rows} rows loaded vs {obs.previous_rows} in the previous load",
            )
        )
    for col, limit in spec.max_null_rate.items():
        if col in obs.null_rates:
            rate = obs.null_rates[col]
            out.append(
                CheckResult(
                    table,
                    "null_rate",
                    "fail" if rate > limit else "pass",
                    round(rate, 6),
                    f"{col} <= {limit:.2%}",
                    f"{rate:.2%} of {col} is NULL",
                )
            )
    if spec.unique_key and obs.duplicate_keys is not None:
        out.append(
            CheckResult(
                table,
                "duplicate_keys",
                "fail" if obs.duplicate_keys else "pass",
                float(obs.duplicate_keys),
                f"unique ({', '.join(spec.unique_key)})",
                f"{obs.duplicate_keys} duplicate key(s)",
            )
        )
    return out
