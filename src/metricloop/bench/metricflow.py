"""MetricFlow conformance: MetricFlow's own integration cases, answered by MetricLoop's engine.

The suite (``../shared/conformance/metricflow``, MetricFlow test fixtures, © dbt Labs,
Apache-2.0) holds semantic manifests, table snapshots and cases. For every case we

1. import the case's manifest with MetricLoop's MetricFlow importer (``interop.metricflow``),
2. translate the case (metrics, group-bys, where filter, order, limit, time constraint) into a
   :class:`~metricloop.engine.query.MetricQuery` and compile it with MetricLoop's compiler,
3. render the hand-written check query for DuckDB (the suite's template helpers) and
4. compare the rows: order-free unless the case orders, numbers with a relative tolerance.

A case MetricLoop cannot express (an unsupported metric type, a query shape the engine lacks)
is *unsupported*, never a pass. Tiers come from the suite's ``case_index.tsv``; they are grouped
as the issue asks: (a) tiers 1–4 simple, ratio, derived; (b) tier 5 cumulative, offsets, time
spine; (c) tier 6 conversion, SCD, multi-hop, metrics in filters.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import functools
import itertools
import math
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pyarrow as pa
import yaml

from metricloop.catalog.catalog import Catalog, build_catalog, leaf_models
from metricloop.catalog.dimensions import dimensions_for_model, resolve
from metricloop.catalog.models import Grain
from metricloop.engine.compiler import Compiler
from metricloop.engine.query import MetricQuery
from metricloop.engine.warehouse import DuckDBWarehouse
from metricloop.errors import MetricLoopError, UnsupportedError
from metricloop.interop.metricflow import ImportResult, read_metricflow, to_native
from metricloop.yamlio import Document

SCHEMA = "mf"
REL_TOL = 1e-6
MODELS = {
    "SIMPLE_MODEL": "simple_manifest",
    "SIMPLE_MODEL_NON_DS": "non_sm_manifest",
    "SCD_MODEL": "scd_manifest",
    "EXTENDED_DATE_MODEL": "extended_date_manifest",
    "UNPARTITIONED_MULTI_HOP_JOIN_MODEL": "multi_hop_join_manifest",
    "PARTITIONED_MULTI_HOP_JOIN_MODEL": "partitioned_multi_hop_join_manifest",
}
#: the table folders each model's cases read (the time spines always)
MODEL_TABLES = {
    "SIMPLE_MODEL": ("simple_model",),
    "SIMPLE_MODEL_NON_DS": ("simple_model",),
    "SCD_MODEL": ("simple_model",),
    "EXTENDED_DATE_MODEL": ("extended_date_model",),
    "UNPARTITIONED_MULTI_HOP_JOIN_MODEL": ("multi_hop_join_model",),
    "PARTITIONED_MULTI_HOP_JOIN_MODEL": ("multi_hop_join_model",),
}
GROUPS = {1: "a", 2: "a", 3: "a", 4: "a", 5: "b", 6: "c"}
GROUP_TITLES = {
    "a": "simple, ratio, derived; group-bys, filters, order, limit",
    "b": "cumulative, offsets, time spine, semi-additive",
    "c": "conversion, SCD, multi-hop, metrics in filters",
}
_TYPES = {"TIME": "TIMESTAMP", "STRING": "VARCHAR", "FLOAT": "DOUBLE", "INT": "BIGINT", "BOOLEAN": "BOOLEAN"}


class CaseUnsupported(Exception):
    """The case needs something MetricLoop cannot express; reported as unsupported."""


@dataclass
class Case:
    file: str
    name: str
    spec: dict[str, Any]
    tier: int = 0

    @property
    def group(self) -> str:
        return GROUPS.get(self.tier, "?")


@dataclass
class CaseResult:
    file: str
    name: str
    tier: int
    group: str
    status: str  # pass | fail | unsupported
    detail: str = ""
    seconds: float = 0.0
    sql: str | None = None

    def row(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "case": self.name,
            "tier": self.tier,
            "group": self.group,
            "status": self.status,
            "detail": self.detail,
            "seconds": round(self.seconds, 4),
        }


# ------------------------------------------------------------------------------------------
# Loading the suite
# ------------------------------------------------------------------------------------------


def _yaml_load(text: str) -> Any:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)


def _yaml_load_all(text: str) -> list[Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return list(yaml.load_all(text, Loader=loader))


@functools.lru_cache(maxsize=64)
def _snapshot(path: Path) -> dict[str, Any]:
    """A parsed snapshot file (the daily time spine is 0.9 MB of YAML: parsed once per process)."""
    return dict(_yaml_load(path.read_text(encoding="utf-8"))["table_snapshot"])


def _table_files(tables_dir: Path, folders: Iterable[str] | None = None) -> list[Path]:
    if folders is None:
        return sorted(tables_dir.rglob("*.yaml"))
    return sorted(p for f in folders for p in (tables_dir / f).rglob("*.yaml"))


def load_tables(wh: DuckDBWarehouse, tables_dir: Path, schema: str = SCHEMA,
                folders: Iterable[str] | None = None) -> int:
    """Create the snapshot tables of ``tables_dir`` (only ``folders`` when given) in ``schema``;
    returns the number of tables."""
    con = wh.connection
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    n = 0
    for path in _table_files(tables_dir, folders):
        snap = _snapshot(path)
        cols = snap["column_definitions"]
        arrays = []
        for j, c in enumerate(cols):
            values = [r[j] for r in snap.get("rows") or []]
            arrays.append(_column(values, c["type"]))
        table = pa.table({c["name"]: a for c, a in zip(cols, arrays, strict=True)})
        con.register("__snap", table)
        select = ", ".join(f'CAST("{c["name"]}" AS {_TYPES[c["type"]]}) AS "{c["name"]}"' for c in cols)
        con.execute(f'CREATE OR REPLACE TABLE {schema}."{snap["table_name"]}" AS SELECT {select} FROM __snap')
        con.unregister("__snap")
        n += 1
    return n


#: column types of the suite's snapshots on each engine (``TIME`` holds dates and timestamps)
ENGINE_TYPES: dict[str, dict[str, str]] = {
    "postgres": {"TIME": "TIMESTAMP", "STRING": "TEXT", "FLOAT": "DOUBLE PRECISION", "INT": "BIGINT",
                 "BOOLEAN": "BOOLEAN"},
    "mysql": {"TIME": "DATETIME(6)", "STRING": "VARCHAR(255)", "FLOAT": "DOUBLE", "INT": "BIGINT",
              "BOOLEAN": "BOOLEAN"},
    "clickhouse": {"TIME": "Nullable(DateTime64(6))", "STRING": "Nullable(String)", "FLOAT": "Nullable(Float64)",
                   "INT": "Nullable(Int64)", "BOOLEAN": "Nullable(Bool)"},
    "spark": {"TIME": "TIMESTAMP", "STRING": "STRING", "FLOAT": "DOUBLE", "INT": "BIGINT", "BOOLEAN": "BOOLEAN"},
}


def snapshots(
    tables_dir: Path, folders: Iterable[str] | None = None
) -> Iterable[tuple[str, list[tuple[str, str]], list[list[Any]]]]:
    """(table name, [(column, suite type)], rows as Python values) for each snapshot of ``tables_dir``."""
    for path in _table_files(tables_dir, folders):
        snap = _snapshot(path)
        cols = [(c["name"], c["type"]) for c in snap["column_definitions"]]
        rows = [[_value(v, kind) for v, (_, kind) in zip(r, cols, strict=True)] for r in snap.get("rows") or []]
        yield snap["table_name"], cols, rows


def _value(v: Any, kind: str) -> Any:
    if v is None:
        return None
    text = str(v)
    if kind == "TIME":
        return dt.datetime.fromisoformat(text)
    if kind == "FLOAT":
        return float(text)
    if kind == "INT":
        return int(text)
    if kind == "BOOLEAN":
        return text.lower() == "true"
    return text


def _column(values: list[Any], kind: str) -> pa.Array:
    if kind == "BOOLEAN":
        return pa.array([None if v is None else str(v).lower() == "true" for v in values], pa.bool_())
    return pa.array([None if v is None else str(v) for v in values], pa.string())


def load_cases(data: Path, extra: Iterable[Path] = ()) -> list[Case]:
    """The suite's cases, then those of the ``extra`` case files (same format; tier 5 unless indexed)."""
    tiers: dict[tuple[str, str], int] = {}
    index = data / "case_index.tsv"
    if index.exists():
        with index.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                tiers[(row["file"], row["name"])] = int(row["tier"])
    cases = []
    for path in [*sorted((data / "cases").glob("itest_*.yaml")), *extra]:
        default = 0 if path.parent == data / "cases" else 5
        for doc in _yaml_load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and "integration_test" in doc:
                spec = doc["integration_test"]
                cases.append(Case(path.name, spec["name"], spec, tiers.get((path.name, spec["name"]), default)))
    return cases


# ------------------------------------------------------------------------------------------
# Template helpers (the suite's README lists them with their meaning)
# ------------------------------------------------------------------------------------------


class _Names:
    """``TimeGranularity.DAY`` / ``DatePart.DOW`` in templates → ``'day'`` / ``'dow'``."""

    def __getattr__(self, name: str) -> str:
        return name.lower()


def _stop_bound(stop: str) -> str:
    if len(stop.strip()) <= 10:
        return (dt.date.fromisoformat(stop.strip()) + dt.timedelta(days=1)).isoformat()
    return (dt.datetime.fromisoformat(stop.strip()) + dt.timedelta(seconds=1)).isoformat(sep=" ")


def check_helpers(schema: str) -> dict[str, Any]:
    """Helpers that render the check queries as DuckDB SQL."""

    def ts(v: str) -> str:
        return f"CAST('{v}' AS TIMESTAMP)"

    def time_constraint(expr: str, start_time: str | None = None, stop_time: str | None = None) -> str:
        parts = []
        if start_time:
            parts.append(f"CAST({expr} AS TIMESTAMP) >= {ts(start_time)}")
        if stop_time:
            parts.append(f"CAST({expr} AS TIMESTAMP) < {ts(_stop_bound(stop_time))}")
        return " AND ".join(parts) or "TRUE"

    def date_trunc(expr: str, grain: Any) -> str:
        return f"DATE_TRUNC('{str(grain).lower()}', CAST({expr} AS TIMESTAMP))"

    def extract(expr: str, part: Any) -> str:
        p = {"dow": "isodow", "day_of_week": "isodow", "doy": "doy", "day_of_year": "doy"}.get(
            str(part).lower(), str(part).lower()
        )
        return f"EXTRACT({p} FROM CAST({expr} AS TIMESTAMP))"

    def date_sub(alias: str, column: str, count: int, grain: Any) -> str:
        g = str(grain).lower()
        n, unit = (int(count) * 3, "month") if g == "quarter" else (int(count), g)
        return f"{alias}.{column} - INTERVAL {n} {unit}"

    def date_add(date_column: str, count_column: str, grain: Any) -> str:
        g = str(grain).lower()
        if g == "quarter":
            return f"{date_column} + INTERVAL (({count_column}) * 3) month"
        return f"{date_column} + INTERVAL ({count_column}) {g}"

    def percentile(
        expr: str, percentile: float, use_discrete_percentile: bool = False, use_approximate_percentile: bool = False
    ) -> str:
        if use_approximate_percentile and not use_discrete_percentile:
            return f"APPROX_QUANTILE({expr}, {percentile})"
        # DuckDB has no approximate *discrete* percentile; the exact one answers an approximate
        # request exactly (what MetricLoop's compiler computes for it on every engine)
        fn = "PERCENTILE_DISC" if use_discrete_percentile else "PERCENTILE_CONT"
        return f"{fn}({percentile}) WITHIN GROUP (ORDER BY {expr})"

    return {
        "source_schema": schema,
        "mf_time_spine_source": f"{schema}.mf_time_spine",
        "cast_to_ts": ts,
        "render_time_constraint": time_constraint,
        "render_date_trunc": date_trunc,
        "render_extract": extract,
        "render_date_sub": date_sub,
        "render_date_add": date_add,
        "render_percentile_expr": percentile,
        "double_data_type_name": "DOUBLE",
        "generate_random_uuid": lambda: "GEN_RANDOM_UUID()",
        "TimeGranularity": _Names(),
        "DatePart": _Names(),
        **_template_helpers(),
    }


def _dotted(name: str, entity_path: Iterable[str] | None) -> str:
    return "__".join([*(entity_path or []), name])


def _template_helpers() -> dict[str, Callable[..., str]]:
    """``render_*_template``: the filter templates MetricFlow's where filters use, kept as text."""

    def dimension(name: str, entity_path: list[str] | None = None) -> str:
        return "{{ Dimension('" + _dotted(name, entity_path) + "') }}"

    def time_dimension(
        name: str,
        time_granularity_name: str | None = None,
        entity_path: list[str] | None = None,
        date_part_name: str | None = None,
    ) -> str:
        if date_part_name:
            raise CaseUnsupported("date_part inside a filter template")
        grain = f", '{time_granularity_name}'" if time_granularity_name else ""
        return "{{ TimeDimension('" + _dotted(name, entity_path) + "'" + grain + ") }}"

    def entity(name: str, entity_path: list[str] | None = None) -> str:
        return "{{ Entity('" + _dotted(name, entity_path) + "') }}"

    def metric(name: str, group_by: list[str] | None = None) -> str:
        return "{{ Metric('" + name + "', " + repr(list(group_by or [])) + ") }}"

    return {
        "render_dimension_template": dimension,
        "render_time_dimension_template": time_dimension,
        "render_entity_template": entity,
        "render_metric_template": metric,
    }


def where_helpers() -> dict[str, Any]:
    """Helpers that render a case's where filter into MetricLoop's filter language."""

    def time_constraint(expr: str, start_time: str | None = None, stop_time: str | None = None) -> str:
        parts = []
        if start_time:
            parts.append(f"{expr} >= '{start_time}'")
        if stop_time:
            parts.append(f"{expr} < '{_stop_bound(stop_time)}'")
        return " and ".join(parts)

    def named(name: str) -> str:  # a bare time dimension name used inside render_time_constraint
        return name

    return {
        "cast_to_ts": lambda v: f"'{v}'",
        "render_time_constraint": time_constraint,
        "TimeGranularity": _Names(),
        "DatePart": _Names(),
        "named": named,
        **_template_helpers(),
    }


_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


def render(template: str, helpers: dict[str, Any]) -> str:
    try:
        return _ENV.from_string(template).render(**helpers)
    except jinja2.UndefinedError as exc:
        raise CaseUnsupported(f"template helper missing: {exc.message}") from None


# ------------------------------------------------------------------------------------------
# Case → MetricQuery
# ------------------------------------------------------------------------------------------


@dataclass
class Translation:
    query: MetricQuery
    min_max: list[str] = field(default_factory=list)  # columns to reduce to MIN/MAX
    order_by: list[str] = field(default_factory=list)
    dedupe: bool = True  # False: apply_group_by false, rows as they are


def _default_grain(catalog: Catalog, metrics: list[str]) -> Grain:
    """metric_time without a grain, as MetricFlow picks it: each metric's ``time_granularity``, else
    its time dimension's grain (day at the finest); across metrics the coarsest wins."""
    grains = []
    for name in metrics:
        metric = catalog.metric(name)
        if metric.time_granularity is not None:
            grains.append(metric.time_granularity)
            continue
        for rm in _resolved(catalog, metric):
            dim = rm.model.dimension(rm.agg_time_dimension or "")
            if dim is not None:
                grains.append(max(dim.grain, Grain.day, key=lambda g: g.order))
    return max(grains, key=lambda g: g.order) if grains else Grain.day


def _resolved(catalog: Catalog, metric: Any) -> list[Any]:
    out = []
    if metric.measure or (metric.semantic_model and metric.agg):
        out.append(catalog.resolve_measure(metric))
    for dep in catalog.inputs(metric):
        out += _resolved(catalog, catalog.metric(dep))
    return out


def _with_grain(catalog: Catalog, metrics: list[str], name: str, grain: str | None) -> str:
    """A group-by name with its grain made explicit, as MetricFlow names the output column."""
    base = name
    parts = name.split("__")
    if parts[-1] in {g.value for g in Grain} or (len(parts) > 1 and catalog.custom_grain(parts[-1])):
        return name
    if parts[0] == "metric_time" and len(parts) == 1:
        return f"metric_time__{grain or _default_grain(catalog, metrics).value}"
    if grain:
        return f"{base}__{grain}"
    # a time dimension named without grain gets its own grain
    for model in [m for n in metrics for m in leaf_models(catalog, catalog.metric(n))] or list(
        catalog.semantic_models.values()
    ):
        try:
            ref = resolve(catalog, model, name)
        except MetricLoopError:
            continue
        if ref.dimension is not None and ref.dimension.type == "time":
            return f"{name}__{ref.dimension.grain.value}"
        return name
    return name


def _full_path(catalog: Catalog, metrics: list[str], name: str) -> str:
    """A group-by whose entity path is shortened (``user__last_login_ts__minute`` reached through
    ``listing``) named as MetricFlow resolves and names it: the one longer path that ends with it
    (``listing__user__last_login_ts__minute``). Names that resolve as given stay as they are."""
    models = [m for n in metrics for m in leaf_models(catalog, catalog.metric(n))]
    if not models or "__" not in name:
        return name
    base, grain = name, ""
    last = name.rsplit("__", 1)[1]
    if last in {g.value for g in Grain}:
        base, grain = name.rsplit("__", 1)[0], "__" + last
    found: set[str] = set()
    for model in models:
        try:
            resolve(catalog, model, name)
            return name
        except MetricLoopError:
            found |= {n for n in dimensions_for_model(catalog, model) if n.endswith("__" + base)}
    return (found.pop() + grain) if len(found) == 1 else name


def custom_grains(document: dict[str, Any]) -> set[str]:
    """Custom granularity names of an imported manifest's project configuration."""
    cfg = document.get("extensions", {}).get("dbt", {}).get("project_configuration") or {}
    return {str(g.get("name")) for t in cfg.get("time_spines") or [] for g in t.get("custom_granularities") or []}


_GROUP_BY_OBJ = re.compile(
    r"^\s*(Dimension|TimeDimension|Entity)\(\s*'([^']+)'(?:\s*,\s*'([^']+)')?\s*\)\s*$"
)


def saved_query_spec(spec: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """A case naming a saved query: the saved query's metrics, group-bys, where, order and limit,
    with the case's own where filter added (MetricFlow applies both)."""
    name = spec["saved_query_name"]
    saved = document.get("extensions", {}).get("dbt", {}).get("saved_queries") or []
    found = next((q for q in saved if q.get("name") == name), None)
    if found is None:
        raise CaseUnsupported(f"saved query '{name}' is not in the manifest")
    params = found.get("query_params") or {}
    out = {k: v for k, v in spec.items() if k != "saved_query_name"}
    out["metrics"] = list(params.get("metrics") or [])
    group_bys = []
    for item in params.get("group_by") or []:
        m = _GROUP_BY_OBJ.match(str(item))
        if m is None:
            raise CaseUnsupported(f"saved query group-by {item!r} is not understood")
        group_bys.append(m.group(2) + (f"__{m.group(3).lower()}" if m.group(3) else ""))
    out["group_bys"] = group_bys
    wheres = params.get("where") or []
    wheres = [wheres] if isinstance(wheres, str) else list(wheres)
    if spec.get("where_filter"):
        wheres.append(render(str(spec["where_filter"]), where_helpers()).strip())
    out.pop("where_filter", None)
    if wheres:  # already MetricLoop filter text (templates are part of its language)
        out["where_text"] = " and ".join(f"({w})" for w in wheres) if len(wheres) > 1 else wheres[0]
    for key in ("order_by", "limit"):
        if params.get(key) is not None and not spec.get(key + "s" if key == "order_by" else key):
            out["order_bys" if key == "order_by" else key] = params[key]
    return out


def translate(
    case: Case, catalog: Catalog, custom: set[str] | None = None, document: dict[str, Any] | None = None
) -> Translation:
    spec = case.spec
    if spec.get("saved_query_name"):
        spec = saved_query_spec(spec, document or {})
    text = " ".join(str(spec.get(k) or "") for k in ("group_bys", "group_by_objs", "where_filter"))
    known = {g.name for spine in catalog.time_spines for g in spine.custom_granularities}
    for grain in sorted(set(custom or ()) - known):
        if re.search(rf"(__|'|\"){re.escape(grain)}\b", text):
            raise CaseUnsupported(f"custom granularity '{grain}' is not supported yet")
    metrics = list(spec.get("metrics") or [])
    missing = [m for m in metrics if m not in catalog.metrics]
    if missing:
        raise CaseUnsupported(f"metric(s) not imported (unsupported): {', '.join(missing)}")
    group_by: list[str] = []
    renames: dict[str, str] = {}
    for name in spec.get("group_bys") or []:
        out = _with_grain(catalog, metrics, _full_path(catalog, metrics, name), None)
        renames[name] = out
        group_by.append(out)
    for obj in spec.get("group_by_objs") or []:
        name = _dotted(obj["name"], obj.get("entity_path"))
        if obj.get("date_part"):
            out = f"{name}__extract_{obj['date_part']}"
        else:
            out = _with_grain(catalog, metrics, name, obj.get("grain"))
        renames[name] = out
        group_by.append(out)
    where = spec.get("where_text")
    if spec.get("where_filter"):
        where = render(str(spec["where_filter"]), where_helpers()).strip()
    order = []
    for item in spec.get("order_bys") or []:
        desc = item.startswith("-")
        col = item.lstrip("-")
        col = renames.get(col, _with_grain(catalog, metrics, col, None) if col not in metrics else col)
        order.append(("-" if desc else "") + col)
    start = end = None
    if spec.get("time_constraint"):
        start, end = (str(v) for v in spec["time_constraint"])
    try:
        query = MetricQuery(
            metrics=metrics,
            group_by=group_by,
            where=where,
            start=start,
            end=end,
            order_by=order,
            limit=spec.get("limit"),
        )
    except ValueError as exc:
        raise CaseUnsupported(f"cannot express as a MetricQuery: {exc}") from None
    min_max = group_by if spec.get("min_max_only") else []
    return Translation(query, min_max, order, spec.get("apply_group_by") is not False)


# ------------------------------------------------------------------------------------------
# Comparing rows
# ------------------------------------------------------------------------------------------


def _norm(v: Any) -> Any:
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, dt.datetime):
        return v.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day).isoformat(sep=" ")
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return float(v)
    return v


def _sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for v in row:
        if v is None:
            out.append((0, ""))
        elif isinstance(v, float):
            out.append((1, float(f"{v:.6g}")))
        else:
            out.append((2, str(v)))
    return tuple(out)


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-9)
    return bool(a == b)


def compare(expected: pa.Table, got: pa.Table, order_by: list[str] | None = None) -> str | None:
    """None when the rows match; otherwise a short reason."""
    exp_cols = [c.lower() for c in expected.column_names]
    got_cols = [c.lower() for c in got.column_names]
    if sorted(exp_cols) != sorted(got_cols):
        return f"columns differ: expected {sorted(exp_cols)}, got {sorted(got_cols)}"
    cols = sorted(exp_cols)
    exp_rows = [tuple(_norm(r[expected.column_names[exp_cols.index(c)]]) for c in cols) for r in expected.to_pylist()]
    got_list = got.to_pylist()
    got_rows = [tuple(_norm(r[got.column_names[got_cols.index(c)]]) for c in cols) for r in got_list]
    if len(exp_rows) != len(got_rows):
        return f"row count differs: expected {len(exp_rows)}, got {len(got_rows)}"
    for e, g in zip(sorted(exp_rows, key=_sort_key), sorted(got_rows, key=_sort_key), strict=True):
        if not all(_same(x, y) for x, y in zip(e, g, strict=True)):
            return (
                f"rows differ, e.g. expected {dict(zip(cols, e, strict=True))}, got {dict(zip(cols, g, strict=True))}"
            )
    if order_by:
        keys = [(o.lstrip("-").lower(), o.startswith("-")) for o in order_by]
        for prev, cur in itertools.pairwise(got_list):
            for col, desc in keys:
                name = got.column_names[got_cols.index(col)] if col in got_cols else None
                if name is None:
                    break
                a, b = _norm(prev[name]), _norm(cur[name])
                if a is None or b is None or a == b:
                    if a == b:
                        continue
                    break
                if (a > b) if not desc else (a < b):
                    return f"rows not ordered by {', '.join(order_by)}"
                break
    return None


def _min_max(table: pa.Table, columns: list[str]) -> pa.Table:
    data: dict[str, list[Any]] = {}
    for c in columns:
        values = [v for v in table.column(c).to_pylist() if v is not None]
        data[f"{c}__min"] = [min(values) if values else None]
        data[f"{c}__max"] = [max(values) if values else None]
    return pa.table(data)


# ------------------------------------------------------------------------------------------
# Running
# ------------------------------------------------------------------------------------------


@dataclass
class Manifest:
    name: str
    imported: ImportResult
    catalog: Catalog | None
    compiler: Compiler | None
    error: str | None = None


def import_manifest(path: Path, schema: str = SCHEMA, dialect: str = "duckdb") -> Manifest:
    result = to_native(read_metricflow(path), substitutions={"$source_schema": schema}, source_uri=str(path))
    try:
        catalog = build_catalog([Document(f"{path.name}.yaml", result.document)])
    except MetricLoopError as exc:
        return Manifest(path.name, result, None, None, str(exc).splitlines()[0])
    return Manifest(path.name, result, catalog, Compiler(catalog, dialect))


ENGINES = ("duckdb", "postgres", "mysql", "clickhouse", "spark")


class Target:
    """The engine a run compiles for and executes on, holding the suite's tables in ``schema``.

    DuckDB is always the reference: the suite's check queries are DuckDB SQL, so the expected
    rows come from an in-memory DuckDB with the same tables, whatever engine answers.
    PostgreSQL gets a schema, MySQL/MariaDB a database, ClickHouse (chdb or a server) a database
    and Spark a database; each is dropped by :meth:`close`.
    """

    def __init__(self, engine: str, url: str | None = None, schema: str | None = None) -> None:
        import uuid

        from metricloop.engine.warehouse import open_warehouse

        if engine not in ENGINES:
            raise UnsupportedError(f"engine '{engine}': expected one of {', '.join(ENGINES)}")
        self.engine = engine
        self.schema = schema or (SCHEMA if engine == "duckdb" else f"mf_{uuid.uuid4().hex[:8]}")
        self.reference = DuckDBWarehouse(":memory:")
        self.warehouse: Any = self.reference if engine == "duckdb" else open_warehouse(engine, url)
        self.dialect = self.warehouse.dialect
        self._url = url
        self._sa: Any = None
        self._created = False

    def load(self, tables_dir: Path, folders: Iterable[str] | None = None,
             only_tables: Iterable[str] | None = None) -> None:
        """Load the snapshot tables (of ``folders`` only, when given) into the reference and the target
        (into the target only ``only_tables`` when given: a Spark table write takes a second or two)."""
        folders = None if folders is None else sorted(set(folders))
        wanted = None if only_tables is None else set(only_tables)
        load_tables(self.reference, tables_dir, self.schema, folders)
        if self.engine == "duckdb":
            return
        self._ddl([f"CREATE {'DATABASE' if self.engine != 'postgres' else 'SCHEMA'} {self.schema}"])
        self._created = True
        types = ENGINE_TYPES[self.engine]
        for name, cols, rows in snapshots(tables_dir, folders):
            if wanted is not None and name not in wanted:
                continue
            table = f"{self.schema}.{name}"
            if self.engine == "spark":
                self.warehouse.create_table(table, [(c, types[k]) for c, k in cols], rows)
                continue
            q = "`" if self.engine in ("mysql", "clickhouse") else '"'
            coldefs = ", ".join(f"{q}{c}{q} {types[k]}" for c, k in cols)
            engine = " ENGINE = Memory" if self.engine == "clickhouse" else ""
            stmts = [f"CREATE TABLE {table} ({coldefs}){engine}"]
            if rows:
                values = ", ".join("(" + ", ".join(_sql_literal(v) for v in r) + ")" for r in rows)
                stmts.append(f"INSERT INTO {table} VALUES {values}")
            self._ddl(stmts)

    def _ddl(self, statements: list[str]) -> None:
        if self.engine in ("postgres", "mysql"):
            import sqlalchemy as sa

            if self._sa is None:
                self._sa = sa.create_engine(self._url or "")
            with self._sa.begin() as con:
                for sql in statements:
                    con.exec_driver_sql(sql)
            return
        for sql in statements:
            self.warehouse.execute(sql)

    def close(self) -> None:
        try:
            if self._created:
                kind = "SCHEMA" if self.engine == "postgres" else "DATABASE"
                cascade = " CASCADE" if self.engine in ("postgres", "spark") else ""
                self._ddl([f"DROP {kind} IF EXISTS {self.schema}{cascade}"])
        finally:
            if self._sa is not None:
                self._sa.dispose()
            if self.warehouse is not self.reference:
                self.warehouse.close()
            self.reference.close()


def _sql_literal(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, dt.datetime):
        return f"'{v.isoformat(sep=' ')}'"
    return "'" + str(v).replace("'", "''") + "'"


def run_case(
    case: Case, manifest: Manifest, wh: Any, schema: str = SCHEMA, reference: DuckDBWarehouse | None = None
) -> CaseResult:
    """Answer ``case`` on ``wh``; the expected rows come from ``reference`` (DuckDB; ``wh`` by default)."""
    t0 = time.perf_counter()
    res = CaseResult(case.file, case.name, case.tier, case.group, "fail")
    try:
        if manifest.catalog is None or manifest.compiler is None:
            raise CaseUnsupported(f"manifest did not import: {manifest.error}")
        tr = translate(case, manifest.catalog, custom_grains(manifest.imported.document), manifest.imported.document)
        compiled = manifest.compiler.compile(tr.query, dedupe=tr.dedupe)
        res.sql = compiled.sql
        got = wh.execute(compiled.sql)
        if tr.min_max:
            got = _min_max(got, tr.min_max)
        expected = (reference or wh).execute(render(str(case.spec["check_query"]), check_helpers(schema)))
        problem = compare(expected, got, tr.order_by)
        res.status, res.detail = ("pass", "") if problem is None else ("fail", problem)
    except (CaseUnsupported, UnsupportedError) as exc:
        res.status, res.detail = "unsupported", str(exc).splitlines()[0]
    except MetricLoopError as exc:
        res.status, res.detail = "fail", str(exc).splitlines()[0][:300]
    except Exception as exc:  # an engine bug is a failure of this case, not of the whole run
        res.status, res.detail = "fail", f"internal error {type(exc).__name__}: {str(exc).splitlines()[0][:250]}"
    res.seconds = time.perf_counter() - t0
    return res


def run(
    data: Path,
    *,
    only: Callable[[Case], bool] | None = None,
    schema: str = SCHEMA,
    extra_cases: Iterable[Path] = (),
    engine: str = "duckdb",
    url: str | None = None,
    only_tables: Iterable[str] | None = None,
) -> list[CaseResult]:
    """Run the suite in ``data`` on ``engine`` (``url`` for a server); ``only`` selects cases (e.g. by
    tier); ``extra_cases`` adds case files in the suite's format; ``only_tables`` limits the tables
    copied to the engine (the cases must read no other)."""
    target = Target(engine, url, schema if engine == "duckdb" else None)
    schema = target.schema
    try:
        cases = [c for c in load_cases(data, extra_cases) if only is None or only(c)]
        folders = {"time_spine_table"} | {f for c in cases for f in MODEL_TABLES.get(c.spec.get("model", ""), ())}
        target.load(data / "tables", folders, only_tables)
        manifests: dict[str, Manifest] = {}
        results = []
        for case in cases:
            folder = MODELS.get(case.spec.get("model", ""))
            if folder is None:
                results.append(
                    CaseResult(
                        case.file,
                        case.name,
                        case.tier,
                        case.group,
                        "unsupported",
                        f"unknown model {case.spec.get('model')}",
                    )
                )
                continue
            if folder not in manifests:
                manifests[folder] = import_manifest(data / "manifests" / folder, schema, target.dialect)
            results.append(run_case(case, manifests[folder], target.warehouse, schema, target.reference))
        return results
    finally:
        target.close()


# ------------------------------------------------------------------------------------------
# Summaries
# ------------------------------------------------------------------------------------------


def _tally(results: list[CaseResult]) -> dict[str, Any]:
    n = len(results)
    passed = sum(r.status == "pass" for r in results)
    failed = sum(r.status == "fail" for r in results)
    unsup = sum(r.status == "unsupported" for r in results)
    return {
        "cases": n,
        "pass": passed,
        "fail": failed,
        "unsupported": unsup,
        "pass_rate": round(passed / n, 4) if n else None,
    }


def summary(results: list[CaseResult]) -> dict[str, Any]:
    """Pass / fail / unsupported per file, per tier, per group and overall."""
    by_file = {f: _tally([r for r in results if r.file == f]) for f in sorted({r.file for r in results})}
    by_tier = {str(t): _tally([r for r in results if r.tier == t]) for t in sorted({r.tier for r in results})}
    by_group = {
        g: {**_tally([r for r in results if r.group == g]), "covers": GROUP_TITLES.get(g, "")}
        for g in sorted({r.group for r in results})
    }
    return {"overall": _tally(results), "groups": by_group, "tiers": by_tier, "files": by_file}


def failure_causes(results: list[CaseResult], top: int = 15) -> list[dict[str, Any]]:
    """The most frequent reasons for fail/unsupported (details with names and numbers stripped)."""
    counts: dict[tuple[str, str], int] = {}
    for r in results:
        if r.status == "pass":
            continue
        reason = re.sub(r"'[^']*'|\"[^\"]*\"|\d+(\.\d+)?", "…", r.detail)[:120]
        counts[(r.status, reason)] = counts.get((r.status, reason), 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:top]
    return [{"status": s, "cases": n, "reason": why} for (s, why), n in ranked]
