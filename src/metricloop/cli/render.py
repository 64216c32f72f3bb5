"""Output for every CLI listing: a Rich table for people, CSV or JSON for scripts."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from metricloop.catalog.catalog import Catalog
    from metricloop.engine.compiler import OutputColumn

# metricloop.localtime (it loads pydantic) is imported where an aware time is shown: the fast
# `metricloop query` door renders naive periods and numbers without it

Format = Literal["table", "csv", "json"]
FORMATS = ("table", "csv", "json")

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

def wall_clock(value: Any) -> Any:
    """Naive times of the project's wall clock (detection windows, the warehouse's data) made aware
    in the display timezone, anywhere in dicts and lists, so they print with their offset too."""
    if isinstance(value, dt.datetime):
        from metricloop.localtime import display_timezone

        tz = display_timezone()
        return value.replace(tzinfo=tz) if value.tzinfo is None and tz else value
    if isinstance(value, Mapping):
        return {k: wall_clock(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [wall_clock(v) for v in value]
    return value


def when(value: Any) -> str:
    """A time for a line of text: ``2026-09-02 10:00 +08:00``; anything else as ``str``; None as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, dt.datetime):
        from metricloop.localtime import shown, table_time

        return table_time(shown(value))
    return str(value)


def jsonable(value: Any) -> Any:
    """Turn dates, decimals, numpy scalars, NaN and enums into plain JSON values."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dt.datetime) and value.tzinfo:
        from metricloop.localtime import iso, shown

        return iso(shown(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if hasattr(value, "item"):  # numpy scalar
        return jsonable(value.item())
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    return str(value)


def dumps(value: Any) -> str:
    return json.dumps(jsonable(value), ensure_ascii=False, indent=2)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime) and value.tzinfo:
        from metricloop.localtime import shown, table_time

        return table_time(shown(value))
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:,.4f}".rstrip("0").rstrip(".") if abs(value) < 1e15 else f"{value:.6g}"
    return str(jsonable(value))


def emit(
    rows: Sequence[Mapping[str, Any]],
    fmt: str = "table",
    *,
    columns: Sequence[str] | None = None,
    title: str | None = None,
    payload: Any = None,
    formatters: Mapping[str, Callable[[Any], str]] | None = None,
) -> None:
    """Print ``rows`` in ``fmt``; with json, ``payload`` (if given) is printed instead of the rows.

    ``formatters`` shape table cells only (e.g. ``.2%`` for a rate); CSV and JSON keep raw values.
    """
    cols = list(columns) if columns else (list(rows[0].keys()) if rows else [])
    if fmt == "json":
        sys.stdout.write(dumps(payload if payload is not None else list(rows)) + "\n")
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(cols)
        for r in rows:
            writer.writerow([jsonable(r.get(c)) for c in cols])
        sys.stdout.write(buf.getvalue())
    else:
        fmts = formatters or {}
        cells = [
            [fmts[c](r.get(c)) if c in fmts and r.get(c) is not None else _cell(r.get(c)) for c in cols] for r in rows
        ]
        table = Table(title=title, show_lines=False, header_style="bold")
        for _i, c in enumerate(cols):
            numeric = any(isinstance(r.get(c), int | float) and not isinstance(r.get(c), bool) for r in rows[:20])
            table.add_column(c, no_wrap=True, justify="right" if numeric else "left")
        for row in cells:
            table.add_row(*row)
        # never squeeze numbers into unreadable columns: widen past the terminal if needed
        widths = [max([len(c)] + [_display_width(row[i]) for row in cells]) + 3 for i, c in enumerate(cols)]
        needed = sum(widths) + 1
        (console if needed <= console.width else Console(width=needed, file=sys.stdout)).print(table)


PERIOD_FORMATS: dict[str, Callable[[Any], str]] = {
    "hour": lambda v: v.strftime("%Y-%m-%d %H:00"),
    "day": lambda v: v.strftime("%Y-%m-%d"),
    "week": lambda v: v.strftime("%Y-%m-%d") + " W" + v.strftime("%V"),
    "month": lambda v: v.strftime("%Y-%m"),
    "quarter": lambda v: f"{v.year}-Q{(v.month - 1) // 3 + 1}",
    "year": lambda v: str(v.year),
}


def format_specs(catalog: Catalog, columns: Sequence[OutputColumn]) -> dict[str, list[Any]]:
    """How each column of a metric query's result is shown, as plain data (the fast query door
    keeps it with the compiled SQL): ``["metric", format, unit]`` (each metric's own format and
    unit, also for its previous value and change), ``["pct"]`` for a change in percent,
    ``["period", grain]`` for a time column."""
    out: dict[str, list[Any]] = {}
    for c in columns:
        if c.kind == "metric" or (c.kind == "compare" and c.name.endswith(("__prev", "__delta"))):
            metric = catalog.metric(c.metric) if c.metric else None
            out[c.name] = ["metric", metric.format if metric else None, metric.unit if metric else None]
        elif c.kind == "compare" and c.name.endswith("__pct"):
            out[c.name] = ["pct"]
        elif c.kind == "dimension" and "__" in c.name:
            grain = c.name.rsplit("__", 1)[1]
            if grain in PERIOD_FORMATS:
                out[c.name] = ["period", grain]
    return out


def cell_formats(specs: Mapping[str, Sequence[Any]]) -> dict[str, Callable[[Any], str]]:
    """Cell formatters for :func:`emit` from :func:`format_specs`."""
    from metricloop.catalog.display import format_number

    def number(spec: str | None, unit: str | None) -> Callable[[Any], str]:
        return lambda v: format_number(v, spec, unit)

    out: dict[str, Callable[[Any], str]] = {}
    for name, spec in specs.items():
        if spec[0] == "metric":
            out[name] = number(spec[1], spec[2])
        elif spec[0] == "pct":
            out[name] = lambda v: f"{v:+.1%}"
        elif spec[0] == "period":
            out[name] = PERIOD_FORMATS[spec[1]]
    return out


def _display_width(text: str) -> int:
    """Terminal cells: CJK characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
