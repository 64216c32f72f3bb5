"""MetricFlow (dbt semantic layer) definitions ↔ MetricLoop's native catalog documents.

Three inputs are accepted: the legacy YAML spec (``semantic_model(s)`` / ``metric(s)`` /
``saved_query(ies)`` / ``project_configuration`` documents), dbt's compiled
``semantic_manifest.json``, and the latest spec (``models[].semantic_model`` with ``columns``
carrying ``entity``/``dimension`` and ``type: simple`` metrics with ``agg``/``expr``).

The mapping is pure: dicts in, a native document plus a per-object report out. The rule is
"nothing silently dropped":

- what maps to a native field is mapped (calculation keys keep MetricFlow's names);
- what has no MetricLoop meaning (``config``, ``meta``, saved queries, time spines, unknown
  keys) is kept verbatim under ``extensions.dbt`` so that export restores it;
- what MetricLoop cannot evaluate yet (conversion metrics, custom-granularity windows, ...) is
  kept verbatim under the document's ``extensions.dbt.unsupported`` and reported, together with
  every metric that depends on it.

Export is the inverse: the calculation block is emitted 1:1, governance fields go under
``config.meta.metricloop`` so the dbt project stays valid.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from metricloop.errors import ConfigError

Level = Literal["mapped", "kept", "unsupported", "error"]
NS = "metricloop"  # config.meta namespace of the governance envelope on export

# native Metric fields that carry governance (everything MetricFlow has no key for)
GOVERNANCE_FIELDS = (
    "business_definition",
    "unit",
    "format",
    "polarity",
    "tier",
    "owners",
    "tags",
    "synonyms",
    "lifecycle",
    "replaced_by",
    "drivers",
    "domain",
    "meta",
)
GRAINS = ("millisecond", "second", "minute", "hour", "day", "week", "month", "quarter", "year")
AGGS = ("sum", "count", "count_distinct", "sum_boolean", "min", "max", "average", "median", "percentile")
_WINDOW = re.compile(r"^\s*(\d+)\s+([a-z_]+?)s?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Note:
    """One line of the import/export report, about one object."""

    obj: str  # "metric:bookings", "semantic_model:orders", "saved_query:x", "file:..."
    level: Level
    message: str

    def row(self) -> dict[str, str]:
        return {"object": self.obj, "level": self.level, "message": self.message}


@dataclass
class MfProject:
    """MetricFlow objects as read from disk, normalised to the legacy YAML shapes."""

    semantic_models: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    saved_queries: list[dict[str, Any]] = field(default_factory=list)
    project_configuration: dict[str, Any] | None = None
    source_format: str = "metricflow_legacy"
    notes: list[Note] = field(default_factory=list)


@dataclass
class ImportResult:
    """A native catalog document (``models/*.yaml`` content) and what happened to each object."""

    document: dict[str, Any]
    notes: list[Note]

    @property
    def unsupported(self) -> list[Note]:
        return [n for n in self.notes if n.level == "unsupported"]

    def counts(self) -> dict[str, int]:
        ext = self.document.get("extensions", {}).get("dbt", {})
        return {
            "semantic_models": len(self.document.get("semantic_models", [])),
            "metrics": len(self.document.get("metrics", [])),
            "saved_queries": len(ext.get("saved_queries", [])),
            "unsupported": len(ext.get("unsupported", {}).get("metrics", [])),
        }


# ============================================================================================
# Reading
# ============================================================================================

_PLURAL = {"semantic_model": "semantic_models", "metric": "metrics", "saved_query": "saved_queries"}


def read_metricflow(path: Path) -> MfProject:
    """Read a folder of MetricFlow YAML, one YAML file, or a ``semantic_manifest.json``."""
    if not path.exists():
        raise ConfigError(f"not found: {path}", zh=f"路径不存在：{path}")
    if path.is_file() and path.suffix == ".json":
        return _read_manifest_json(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
    manifest = path / "semantic_manifest.json" if path.is_dir() else None
    if manifest is not None and manifest.exists() and not files:
        return _read_manifest_json(manifest)
    project = MfProject()
    for f in files:
        rel = str(f.relative_to(path)) if path.is_dir() else f.name
        try:
            docs = list(yaml.safe_load_all(f.read_text(encoding="utf-8")))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{rel}: invalid YAML: {exc}", zh=f"{rel}：YAML 语法错误") from None
        for doc in docs:
            if isinstance(doc, dict):
                _collect(project, doc, rel)
    return project


def _collect(project: MfProject, doc: dict[str, Any], rel: str) -> None:
    for key, value in doc.items():
        if key in _PLURAL:  # legacy single-object documents
            getattr(project, _PLURAL[key]).append(value)
        elif key in _PLURAL.values():
            getattr(project, key).extend(v for v in value or [] if isinstance(v, dict))
        elif key == "project_configuration":
            project.project_configuration = value
        elif key == "models":  # latest spec: semantic models embedded in dbt model properties
            for model in value or []:
                if isinstance(model, dict) and model.get("semantic_model"):
                    _latest_model(project, model, rel)
        elif key == "version":
            continue
        else:
            project.notes.append(
                Note(
                    f"file:{rel}",
                    "kept",
                    f"top-level key '{key}' is not part of the semantic layer; ignored by the import",
                )
            )


def _latest_model(project: MfProject, model: dict[str, Any], rel: str) -> None:
    """Latest spec (dbt 1.12): a dbt model with ``semantic_model``, annotated ``columns`` and metrics."""
    project.source_format = "dbt_latest"
    sm_cfg = model["semantic_model"] if isinstance(model["semantic_model"], dict) else {}
    if sm_cfg.get("enabled") is False:
        return
    name = sm_cfg.get("name") or model["name"]
    sm: dict[str, Any] = {"name": name, "model": f"ref('{model['name']}')"}
    for k in ("description", "label"):
        if model.get(k) or sm_cfg.get(k):
            sm[k] = sm_cfg.get(k) or model.get(k)
    atd = model.get("agg_time_dimension") or sm_cfg.get("agg_time_dimension")
    if atd:
        sm["defaults"] = {"agg_time_dimension": atd}
    if sm_cfg.get("config"):
        sm["config"] = sm_cfg["config"]
    entities, dims = [], []
    for col in model.get("columns") or []:
        if not isinstance(col, dict):
            continue
        ent = col.get("entity")
        if ent:
            e = {"type": ent} if isinstance(ent, str) else dict(ent)
            e.setdefault("name", col["name"])
            if e["name"] != col["name"]:
                e.setdefault("expr", col["name"])
            entities.append(e)
        dim = col.get("dimension")
        if dim:
            d = {"type": dim} if isinstance(dim, str) else dict(dim)
            d.setdefault("name", col["name"])
            if d["name"] != col["name"]:
                d.setdefault("expr", col["name"])
            if d.get("type") == "time":
                d.setdefault("type_params", {"time_granularity": col.get("granularity", "day")})
            dims.append(d)
    for d in (
        model.get("derived_semantics", {}).get("dimensions", [])
        if isinstance(model.get("derived_semantics"), dict)
        else []
    ):
        dims.append(d)
    sm["entities"], sm["dimensions"] = entities, dims
    if sm_cfg.get("primary_entity"):
        sm["primary_entity"] = sm_cfg["primary_entity"]
    project.semantic_models.append(sm)
    for m in [*(model.get("metrics") or []), *(sm_cfg.get("metrics") or [])]:
        if isinstance(m, dict):
            m = dict(m)
            if (m.get("type") or "simple").lower() == "simple":
                m.setdefault("semantic_model", name)
            project.metrics.append(m)


def _read_manifest_json(path: Path) -> MfProject:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path.name}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    project = MfProject(source_format="semantic_manifest")
    for sm in data.get("semantic_models") or []:
        project.semantic_models.append(_json_clean(sm))
    for m in data.get("metrics") or []:
        project.metrics.append(_json_metric(_json_clean(m)))
    for q in data.get("saved_queries") or []:
        project.saved_queries.append(_json_clean(q))
    if data.get("project_configuration"):
        project.project_configuration = data["project_configuration"]
    return project


def _json_clean(obj: Any) -> Any:
    """Drop the nulls, empty containers and dbt-computed fields a compiled manifest carries."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k in ("metadata", "input_measures", "semantic_model_reference"):
                continue  # file positions and derived lists: recomputed by dbt, no meaning of their own
            v = _json_clean(v)
            if v is None or v == {} or v == []:
                continue
            out[k] = v
        return out
    if isinstance(obj, list):
        return [_json_clean(v) for v in obj]
    return obj


def _json_window(value: Any) -> Any:
    if isinstance(value, dict) and "count" in value:
        return f"{value['count']} {value.get('granularity', 'day')}"
    return value


def _json_filter(value: Any) -> Any:
    if isinstance(value, dict) and "where_filters" in value:
        texts = [w["where_sql_template"] for w in value["where_filters"]]
        return texts[0] if len(texts) == 1 else texts
    return value


def _json_input(ref: Any) -> Any:
    if isinstance(ref, dict):
        ref = dict(ref)
        if "filter" in ref:
            ref["filter"] = _json_filter(ref["filter"])
        if "offset_window" in ref:
            ref["offset_window"] = _json_window(ref["offset_window"])
        if ref.get("join_to_timespine") is False:
            ref.pop("join_to_timespine")
    return ref


def _json_metric(m: dict[str, Any]) -> dict[str, Any]:
    """semantic_manifest.json metric → the legacy YAML shape (filters as text, windows as '7 days')."""
    if "filter" in m:
        m["filter"] = _json_filter(m["filter"])
    tp = m.get("type_params") or {}
    for k in ("measure", "numerator", "denominator"):
        if k in tp:
            tp[k] = _json_input(tp[k])
    if "metrics" in tp:
        tp["metrics"] = [_json_input(i) for i in tp["metrics"]]
    if "window" in tp:
        tp["window"] = _json_window(tp["window"])
    ctp = tp.get("cumulative_type_params")
    if isinstance(ctp, dict) and "window" in ctp:
        ctp["window"] = _json_window(ctp["window"])
    conv = tp.get("conversion_type_params")
    if isinstance(conv, dict):
        for k in ("base_measure", "conversion_measure"):
            if k in conv:
                conv[k] = _json_input(conv[k])
        if "window" in conv:
            conv["window"] = _json_window(conv["window"])
    return m


# ============================================================================================
# MetricFlow → native
# ============================================================================================


class Unsupported(Exception):
    """An object MetricLoop cannot evaluate; it is kept verbatim and reported."""


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _label(value: Any) -> Any:
    return {"en": str(value)} if isinstance(value, str | int | float) else value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _filter_text(value: Any) -> str | None:
    """MetricFlow filters are one template string or a list of them (all must hold)."""
    if value is None:
        return None
    if isinstance(value, list):
        parts = [str(v).strip() for v in value if v]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else " and ".join(f"({p})" for p in parts)
    return str(value).strip()


def _checked(text: str | None) -> str | None:
    """A filter MetricLoop's filter language can evaluate, else Unsupported naming the problem."""
    if text is None:
        return None
    from metricloop.engine.filters import parse_filter
    from metricloop.errors import QueryError

    try:
        parse_filter(text)
    except QueryError as exc:
        raise Unsupported(f"filter {text!r} cannot be evaluated: {exc.message}") from None
    return text


def _window(text: Any, what: str) -> str:
    m = _WINDOW.match(str(text))
    if not m:
        raise Unsupported(f"{what} {text!r} is not '<count> <granularity>'")
    unit = m.group(2).lower()
    if unit not in GRAINS:
        raise Unsupported(f"{what} {text!r} uses custom granularity '{unit}' (not supported yet)")
    return f"{m.group(1)} {unit}"


def _grain(value: Any, what: str) -> str:
    g = str(value).lower()
    if g not in GRAINS:
        raise Unsupported(f"{what} '{value}' is a custom granularity (not supported yet)")
    return g


def _split_config(obj: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``config`` → (governance from ``config.meta.metricloop``, the rest kept for dbt)."""
    cfg = copy.deepcopy(obj.get("config") or {})
    meta = cfg.get("meta") or {}
    gov = meta.pop(NS, None) or {}
    if not meta:
        cfg.pop("meta", None)
    return gov, cfg


def _dbt_ext(obj: dict[str, Any], known: Iterable[str], cfg: dict[str, Any]) -> dict[str, Any]:
    """Keys with no MetricLoop meaning, kept for export (``config`` minus our namespace, unknowns)."""
    extra = {k: copy.deepcopy(v) for k, v in obj.items() if k not in known and k != "config"}
    if cfg:
        extra["config"] = cfg
    return extra


_ENTITY_KEYS = ("name", "type", "expr", "role", "label", "description")
_DIM_KEYS = ("name", "type", "expr", "type_params", "is_partition", "label", "description")
_MEASURE_KEYS = (
    "name",
    "agg",
    "expr",
    "agg_params",
    "non_additive_dimension",
    "agg_time_dimension",
    "create_metric",
    "label",
    "description",
)
_SM_KEYS = (
    "name",
    "node_relation",
    "model",
    "defaults",
    "primary_entity",
    "entities",
    "dimensions",
    "measures",
    "label",
    "description",
)


def _with_ext(out: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    if extra:
        out["extensions"] = {"dbt": extra}
    return out


def _entity(e: dict[str, Any]) -> dict[str, Any]:
    _, cfg = _split_config(e)
    out: dict[str, Any] = {"name": e["name"], "type": _lower(e.get("type"))}
    for k in ("expr", "role"):
        if e.get(k) is not None:
            out[k] = _text(e[k])
    for k in ("label", "description"):
        if e.get(k):
            out[k] = _label(e[k])
    return _with_ext(out, _dbt_ext(e, _ENTITY_KEYS, cfg))


def _dimension(d: dict[str, Any], sm_name: str) -> dict[str, Any]:
    _, cfg = _split_config(d)
    out: dict[str, Any] = {"name": d["name"], "type": _lower(d.get("type"))}
    if d.get("expr") is not None:
        out["expr"] = _text(d["expr"])
    tp = d.get("type_params")
    if tp:
        tp = dict(tp)
        if "time_granularity" in tp:
            tp["time_granularity"] = _grain(
                tp["time_granularity"], f"dimension '{sm_name}.{d['name']}' time_granularity"
            )
        out["type_params"] = tp
    if d.get("is_partition"):
        out["is_partition"] = True
    for k in ("label", "description"):
        if d.get(k):
            out[k] = _label(d[k])
    return _with_ext(out, _dbt_ext(d, _DIM_KEYS, cfg))


def _measure(m: dict[str, Any]) -> dict[str, Any]:
    _, cfg = _split_config(m)
    agg = _lower(m.get("agg"))
    if agg not in AGGS:
        raise Unsupported(f"measure '{m.get('name')}' aggregation '{m.get('agg')}' is not supported")
    out: dict[str, Any] = {"name": m["name"], "agg": agg}
    if m.get("expr") is not None:
        out["expr"] = _text(m["expr"])
    for k in ("agg_params", "non_additive_dimension", "agg_time_dimension"):
        if m.get(k) is not None:
            out[k] = copy.deepcopy(m[k])
    if isinstance(out.get("non_additive_dimension"), dict):
        nad = out["non_additive_dimension"]
        if "window_choice" in nad:
            nad["window_choice"] = _lower(nad["window_choice"])
    if m.get("create_metric"):
        out["create_metric"] = True
    for k in ("label", "description"):
        if m.get(k):
            out[k] = _label(m[k])
    return _with_ext(out, _dbt_ext(m, _MEASURE_KEYS, cfg))


def _semantic_model(sm: dict[str, Any], subst: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """One semantic model; returns the native dict and the names of measures that could not map."""
    _, cfg = _split_config(sm)
    out: dict[str, Any] = {"name": sm["name"]}
    extra = _dbt_ext(sm, _SM_KEYS, cfg)
    if sm.get("node_relation"):
        nr = {k: v for k, v in sm["node_relation"].items() if v is not None}
        for k, v in list(nr.items()):
            for old, new in subst.items():
                if isinstance(v, str):
                    v = v.replace(old, new)
            nr[k] = v
        if "relation_name" in nr and subst:
            nr.pop("relation_name")
        out["node_relation"] = nr
    elif sm.get("model"):
        ref = re.match(r"""^\s*ref\(\s*['"]([^'"]+)['"]\s*\)\s*$""", str(sm["model"]))
        out["table"] = ref.group(1) if ref else str(sm["model"])
        extra["model"] = sm["model"]
    else:
        raise Unsupported("no node_relation or model: cannot tell which table holds the rows")
    for k in ("label", "description"):
        if sm.get(k):
            out[k] = _label(sm[k])
    if sm.get("defaults"):
        out["defaults"] = dict(sm["defaults"])
    if sm.get("primary_entity"):
        if any(e.get("name") == sm["primary_entity"] for e in sm.get("entities") or []):
            extra["primary_entity"] = sm["primary_entity"]  # redundant with the declared entity (SCD style)
        else:
            out["primary_entity"] = sm["primary_entity"]
    out["entities"] = [_entity(e) for e in sm.get("entities") or []]
    out["dimensions"] = [_dimension(d, sm["name"]) for d in sm.get("dimensions") or []]
    measures, bad = [], []
    for m in sm.get("measures") or []:
        try:
            measures.append(_measure(m))
        except Unsupported:
            bad.append(m)
    out["measures"] = measures
    if bad:
        extra["unsupported_measures"] = bad
    for k in ("entities", "dimensions", "measures"):
        if not out[k]:
            out.pop(k)
    return _with_ext(out, extra), [m.get("name", "?") for m in bad]


def _input(ref: Any, *, allow_offset: bool = True) -> dict[str, Any]:
    if isinstance(ref, str):
        return {"name": ref}
    out: dict[str, Any] = {"name": ref["name"]}
    if ref.get("alias"):
        out["alias"] = ref["alias"]
    f = _checked(_filter_text(ref.get("filter")))
    if f:
        out["filter"] = f
    if ref.get("offset_window"):
        out["offset_window"] = _window(ref["offset_window"], "offset_window")
    if ref.get("offset_to_grain"):
        out["offset_to_grain"] = _grain(ref["offset_to_grain"], "offset_to_grain")
    unknown = set(ref) - {"name", "alias", "filter", "offset_window", "offset_to_grain"}
    if unknown:
        raise Unsupported(
            f"input metric '{ref['name']}' has keys MetricLoop cannot represent: {', '.join(sorted(unknown))}"
        )
    return out


_METRIC_KEYS = (
    "name",
    "type",
    "type_params",
    "filter",
    "label",
    "description",
    "time_granularity",
    # latest spec: simple metric keys at top level
    "agg",
    "expr",
    "agg_params",
    "agg_time_dimension",
    "semantic_model",
    "percentile",
    "percentile_type",
    "non_additive_dimension",
    "join_to_timespine",
    "fill_nulls_with",
    "numerator",
    "denominator",
    "input_metrics",
    "input_metric",
    "window",
    "grain_to_date",
    "period_agg",
    "metrics",
)


def _metric(m: dict[str, Any], measure_names: set[str]) -> dict[str, Any]:
    """One MetricFlow metric → native metric dict; raises Unsupported for what cannot be evaluated."""
    gov, cfg = _split_config(m)
    mtype = _lower(m.get("type") or "simple")
    tp = dict(m.get("type_params") or {})
    out: dict[str, Any] = {"name": m["name"], "type": mtype}
    for k in ("label", "description"):
        if m.get(k):
            out[k] = _label(m[k])
    extra = _dbt_ext(m, _METRIC_KEYS, cfg)
    metric_filter = _checked(_filter_text(m.get("filter")))
    measure_filter: str | None = None

    if mtype == "conversion":
        out.update(_conversion(tp.get("conversion_type_params") or {}))
    if tp.get("is_private") is not None:
        extra["is_private"] = tp.pop("is_private")
    if mtype in ("simple", "cumulative"):
        meas = tp.get("measure")
        if meas is None and mtype == "simple":  # latest spec: agg/expr on the metric itself
            if not m.get("agg"):
                raise Unsupported("simple metric without measure or agg")
            out["semantic_model"] = m.get("semantic_model")
            out["agg"] = _lower(m["agg"])
            if m.get("expr") is not None:
                out["expr"] = _text(m["expr"])
            if m.get("percentile") is not None:
                out["agg_params"] = {
                    "percentile": m["percentile"],
                    "use_discrete_percentile": m.get("percentile_type") == "discrete",
                }
            for k in ("agg_time_dimension", "join_to_timespine", "fill_nulls_with"):
                if m.get(k) is not None:
                    out[k] = m[k]
            if isinstance(m.get("non_additive_dimension"), dict):
                nad = copy.deepcopy(m["non_additive_dimension"])
                if "window_choice" in nad:
                    nad["window_choice"] = _lower(nad["window_choice"])
                out["non_additive_dimension"] = nad
        elif meas is None and m.get("input_metric"):
            out["input_metric"] = _input(m["input_metric"])
        elif meas is None:
            raise Unsupported("no measure")
        else:
            name = meas if isinstance(meas, str) else meas["name"]
            if name not in measure_names:
                raise Unsupported(f"measure '{name}' is not available (unknown or unsupported)")
            out["measure"] = name
            if isinstance(meas, dict):
                measure_filter = _checked(_filter_text(meas.get("filter")))
                for k in ("join_to_timespine", "fill_nulls_with"):
                    if meas.get(k) is not None and meas.get(k) is not False:
                        out[k] = meas[k]
                if meas.get("alias"):
                    extra["measure_alias"] = meas["alias"]
    if mtype == "cumulative":
        ctp = dict(tp.get("cumulative_type_params") or {})
        window = ctp.get("window", tp.get("window", m.get("window")))
        gtd = ctp.get("grain_to_date", tp.get("grain_to_date", m.get("grain_to_date")))
        if window:
            out["window"] = _window(window, "cumulative window")
        if gtd:
            out["grain_to_date"] = _grain(gtd, "grain_to_date")
        period_agg = _lower(ctp.get("period_agg", m.get("period_agg")))
        # MetricFlow's default (first) differs from MetricLoop's (last): always explicit here
        out["period_agg"] = period_agg or "first"
        if period_agg:
            extra.setdefault("period_agg_given", True)
    elif mtype == "ratio":
        out["numerator"] = _input(tp.get("numerator", m.get("numerator")))
        out["denominator"] = _input(tp.get("denominator", m.get("denominator")))
    elif mtype == "derived":
        out["expr"] = _text(tp.get("expr", m.get("expr")))
        inputs = tp.get("metrics", m.get("input_metrics", m.get("metrics"))) or []
        out["input_metrics"] = [_input(i) for i in inputs]
    elif mtype not in ("simple", "conversion"):
        raise Unsupported(f"metric type '{mtype}' is not supported")

    # measure-level and metric-level filters both restrict the rows; kept split for export
    filters = [f for f in (metric_filter, measure_filter) if f]
    if filters:
        out["filter"] = filters[0] if len(filters) == 1 else " and ".join(f"({f})" for f in filters)
    if measure_filter:
        extra["filter_split"] = {"metric": metric_filter, "measure": measure_filter}
    if m.get("time_granularity"):
        out["time_granularity"] = _grain(m["time_granularity"], "time_granularity")
    leftover = set(tp) - {
        "measure",
        "numerator",
        "denominator",
        "expr",
        "metrics",
        "window",
        "grain_to_date",
        "cumulative_type_params",
        "conversion_type_params",
    }
    if leftover:
        extra["type_params"] = {k: tp[k] for k in sorted(leftover)}
    # governance envelope, as exported by MetricLoop (config.meta.metricloop)
    for k, v in gov.items():
        out[k] = v
    if "owners" not in gov:
        meta = cfg.get("meta") or {}
        owner = meta.get("owner") or meta.get("owners")
        if owner:
            out["owners"] = {"technical": [owner] if isinstance(owner, str) else list(owner)}
    return _with_ext(out, extra)


def _conversion(ctp: dict[str, Any]) -> dict[str, Any]:
    """``conversion_type_params`` → the native conversion fields."""
    out: dict[str, Any] = {}
    for key in ("base_measure", "conversion_measure"):
        ref = ctp.get(key)
        if isinstance(ref, dict):
            extra = sorted(set(ref) - {"name"})
            if extra:
                raise Unsupported(f"{key} with {', '.join(extra)} is not supported yet")
            ref = ref.get("name")
        if not ref:
            raise Unsupported(f"conversion metric without {key}")
        out[key] = str(ref)
    if not ctp.get("entity"):
        raise Unsupported("conversion metric without entity")
    out["entity"] = str(ctp["entity"])
    out["calculation"] = _lower(ctp.get("calculation") or "conversion_rate")
    if ctp.get("window"):
        out["window"] = _window(ctp["window"], "conversion window")
    props = ctp.get("constant_properties") or []
    if props:
        out["constant_properties"] = [
            {"base_property": p["base_property"], "conversion_property": p["conversion_property"]} for p in props
        ]
    unknown = sorted(set(ctp) - {"base_measure", "conversion_measure", "entity", "calculation", "window",
                                 "constant_properties"})
    if unknown:
        raise Unsupported(f"conversion_type_params {', '.join(unknown)} not supported")
    return out


def _metric_deps(m: dict[str, Any]) -> set[str]:
    tp = m.get("type_params") or {}
    deps: set[str] = set()
    for k in ("numerator", "denominator"):
        ref = tp.get(k, m.get(k))
        if ref:
            deps.add(ref if isinstance(ref, str) else ref.get("name", ""))
    for ref in tp.get("metrics") or m.get("input_metrics") or []:
        deps.add(ref if isinstance(ref, str) else ref.get("name", ""))
    texts = [m.get("filter")] + [
        (ref or {}).get("filter") if isinstance(ref, dict) else None
        for ref in [tp.get("numerator"), tp.get("denominator"), tp.get("measure"), *(tp.get("metrics") or [])]
    ]
    for t in texts:
        for piece in t if isinstance(t, list) else [t]:
            deps.update(re.findall(r"Metric\(\s*['\"]([A-Za-z0-9_]+)['\"]", str(piece or "")))
    return deps


def to_native(
    project: MfProject,
    *,
    substitutions: dict[str, str] | None = None,
    source_uri: str | None = None,
    existing: Iterable[str] = (),
) -> ImportResult:
    """Map a MetricFlow project to one native catalog document plus a per-object report.

    ``existing`` names measures and metrics the target project already has, which imported
    metrics may build on.
    """
    subst = substitutions or {}
    notes = list(project.notes)
    known = set(existing)
    models, measure_names = [], set(known)
    unsupported_models: list[dict[str, Any]] = []
    for sm in project.semantic_models:
        try:
            native, bad = _semantic_model(sm, subst)
        except Unsupported as exc:
            notes.append(Note(f"semantic_model:{sm.get('name')}", "unsupported", str(exc)))
            unsupported_models.append(sm)
            continue
        models.append(native)
        measure_names.update(m["name"] for m in native.get("measures", []))
        for b in bad:
            notes.append(
                Note(
                    f"measure:{sm['name']}.{b}",
                    "unsupported",
                    "aggregation not supported; kept under extensions.dbt.unsupported_measures",
                )
            )
        notes.append(Note(f"semantic_model:{sm['name']}", "mapped", _summary(native)))

    metrics: dict[str, dict[str, Any]] = {}
    failed: dict[str, tuple[dict[str, Any], str]] = {}
    for m in project.metrics:
        try:
            metrics[m["name"]] = _metric(m, measure_names)
        except Unsupported as exc:
            failed[m["name"]] = (m, str(exc))
        except (KeyError, TypeError) as exc:
            failed[m.get("name", "?")] = (m, f"malformed definition ({exc})")
    # a metric built on an unsupported one cannot be evaluated either
    raw = {m["name"]: m for m in project.metrics if "name" in m}
    created = {ms["name"] for sm in models for ms in sm.get("measures", []) if ms.get("create_metric")}
    changed = True
    while changed:
        changed = False
        for name in list(metrics):
            bad = sorted(
                d
                for d in _metric_deps(raw[name])
                if d in failed or (d not in raw and d not in created and d not in known)
            )
            if bad:
                metrics.pop(name)
                why = ", ".join(f"'{b}'" + ("" if b in raw or b in created else " (unknown)") for b in bad)
                failed[name] = (raw[name], f"depends on unsupported metric {why}")
                changed = True
    _lower_rate_ratios(metrics, models, notes)
    for name, (_, why) in failed.items():
        notes.append(Note(f"metric:{name}", "unsupported", why + "; kept verbatim under extensions.dbt.unsupported"))
    for name, native in metrics.items():
        kept = sorted(native.get("extensions", {}).get("dbt", {}))
        notes.append(
            Note(
                f"metric:{name}", "mapped", f"{native['type']}" + (f"; kept for dbt: {', '.join(kept)}" if kept else "")
            )
        )

    ext: dict[str, Any] = {"source": {"format": project.source_format}}
    if source_uri:
        ext["source"]["uri"] = source_uri
    if subst:
        ext["substitutions"] = dict(subst)
    if project.saved_queries:
        ext["saved_queries"] = project.saved_queries
        for q in project.saved_queries:
            notes.append(
                Note(
                    f"saved_query:{q.get('name')}",
                    "kept",
                    "saved queries have no MetricLoop object yet; kept under extensions.dbt.saved_queries",
                )
            )
    spines: list[dict[str, Any]] = []
    if project.project_configuration:
        ext["project_configuration"] = project.project_configuration
        spines = _time_spines(project.project_configuration, subst, notes)
        notes.append(
            Note(
                "project_configuration",
                "kept",
                f"{len(spines)} time spine(s) mapped to time_spines; the "
                "original kept under extensions.dbt.project_configuration",
            )
        )
    if failed or unsupported_models:
        ext["unsupported"] = {}
        if unsupported_models:
            ext["unsupported"]["semantic_models"] = unsupported_models
        if failed:
            ext["unsupported"]["metrics"] = [m for m, _ in failed.values()]
    document: dict[str, Any] = {"semantic_models": models, "metrics": list(metrics.values())}
    if spines:
        document["time_spines"] = spines
    document["extensions"] = {"dbt": ext}
    return ImportResult(document, notes)


def _time_spines(cfg: dict[str, Any], subst: dict[str, str], notes: list[Note]) -> list[dict[str, Any]]:
    """``project_configuration`` time spines (both MetricFlow forms) → native ``time_spines``."""

    def sub(text: str) -> str:
        for old, new in subst.items():
            text = text.replace(old, new)
        return text

    out: list[dict[str, Any]] = []
    found: list[tuple[str, Any, Any, list[dict[str, Any]]]] = []
    for t in cfg.get("time_spines") or []:
        nr, col = t.get("node_relation") or {}, t.get("primary_column") or {}
        table = ".".join(p for p in (nr.get("schema_name"), nr.get("alias")) if p)
        customs = []
        for cg in t.get("custom_granularities") or []:
            custom = {"name": str(cg.get("name"))}
            if cg.get("column_name"):
                custom["column"] = str(cg["column_name"])
            customs.append(custom)
        found.append((table, col.get("name"), col.get("time_granularity", "day"), customs))
    for t in cfg.get("time_spine_table_configurations") or []:
        found.append((t.get("location", ""), t.get("column_name"), t.get("grain", "day"), []))
    for table, column, grain, customs in found:
        g = str(grain).lower()
        if g not in GRAINS:
            notes.append(
                Note(
                    f"time_spine:{table}",
                    "unsupported",
                    f"granularity '{grain}' is finer than MetricLoop supports (millisecond); kept in extensions",
                )
            )
            continue
        if not column:
            continue
        spine: dict[str, Any] = {"table": sub(table), "column": column, "grain": g}
        same = next((o for o in out if {k: o[k] for k in ("table", "column", "grain")} == spine), None)
        if same is None:
            out.append(spine)
            same = spine
        for custom in customs:  # both MetricFlow forms may name the same spine: merge its custom grains
            if custom not in same.setdefault("custom_granularities", []):
                same["custom_granularities"].append(custom)
    return out


TOTALS = {"sum", "count", "count_distinct", "sum_boolean"}


def _lower_rate_ratios(metrics: dict[str, dict[str, Any]], models: list[dict[str, Any]], notes: list[Note]) -> None:
    """Ratios of non-totals (e.g. average / max) become derived ``CAST(a AS DOUBLE) / NULLIF(b, 0)``.

    MetricLoop only accepts totals as ratio parts (so that ratios can be decomposed and rolled up);
    the derived form computes the same number. ``extensions.dbt.original_type`` restores the type on export.
    """
    aggs = {ms["name"]: ms["agg"] for sm in models for ms in sm.get("measures", [])}

    def leaf_aggs(name: str, depth: int = 0) -> set[str]:
        m = metrics.get(name)
        if m is None or depth > 20:
            return {aggs[name]} if name in aggs else {"?"}
        if m.get("measure"):
            return {aggs.get(m["measure"], "?")}
        if m.get("agg"):
            return {m["agg"]}
        refs = [r["name"] for r in (m.get("numerator"), m.get("denominator")) if r] + [
            r["name"] for r in m.get("input_metrics", [])
        ]
        out = {"ratio"} if m["type"] == "ratio" else set()
        for r in refs:
            out |= leaf_aggs(r, depth + 1)
        return out

    for name, m in metrics.items():
        if m["type"] != "ratio":
            continue
        parts = [m["numerator"], m["denominator"]]
        if all(leaf_aggs(p["name"]) <= TOTALS for p in parts):
            continue
        num, den = (dict(p) for p in parts)
        num.setdefault("alias", num["name"])
        den.setdefault("alias", den["name"] if den["name"] != num["alias"] else f"{den['name']}_denominator")
        m["type"] = "derived"
        m["expr"] = f"CAST({num['alias']} AS DOUBLE) / NULLIF({den['alias']}, 0)"
        m["input_metrics"] = [num, den]
        m.pop("numerator")
        m.pop("denominator")
        dbt = m.setdefault("extensions", {}).setdefault("dbt", {})
        dbt["original_type"] = {"type": "ratio", "numerator": parts[0], "denominator": parts[1]}
        notes.append(
            Note(
                f"metric:{name}",
                "mapped",
                "ratio of non-totals lowered to an equivalent derived "
                "metric (MetricLoop ratios take totals only); exported back as a ratio",
            )
        )


def _summary(sm: dict[str, Any]) -> str:
    return (
        f"{len(sm.get('entities', []))} entities, {len(sm.get('dimensions', []))} dimensions, "
        f"{len(sm.get('measures', []))} measures"
    )


# ============================================================================================
# native → MetricFlow
# ============================================================================================


def _unlabel(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("en") or value.get("zh-CN")
    return value


def _i18n_only(value: Any) -> bool:
    return isinstance(value, dict) and bool(value.get("zh-CN"))


def _restore(out: dict[str, Any], native: dict[str, Any]) -> dict[str, Any]:
    """Put back what the import kept under extensions.dbt (config, unknown keys)."""
    extra = copy.deepcopy(native.get("extensions", {}).get("dbt", {}))
    for k, v in extra.items():
        if k == "config":
            cfg = out.setdefault("config", {})
            for ck, cv in v.items():
                if ck == "meta":
                    cfg.setdefault("meta", {}).update(cv)
                else:
                    cfg[ck] = cv
        elif k not in out:
            out[k] = v
    other = {k: v for k, v in native.get("extensions", {}).items() if k != "dbt"}
    if other:
        out.setdefault("config", {}).setdefault("meta", {}).setdefault(NS, {})["extensions"] = other
    return out


def _export_simple_fields(native: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in keys:
        if k in native:
            v = native[k]
            out[k] = _unlabel(v) if k in ("label", "description") else copy.deepcopy(v)
    return out


def _export_sm(native: dict[str, Any]) -> dict[str, Any]:
    dbt = native.get("extensions", {}).get("dbt", {})
    out: dict[str, Any] = {"name": native["name"]}
    if native.get("description"):
        out["description"] = _unlabel(native["description"])
    if native.get("label"):
        out["label"] = _unlabel(native["label"])
    if "node_relation" in native:
        out["node_relation"] = copy.deepcopy(native["node_relation"])
    elif "model" in dbt:
        pass  # restored below
    elif native.get("table"):
        out["model"] = f"ref('{native['table'].split('.')[-1]}')"
    else:
        raise Unsupported(f"semantic model '{native['name']}' is defined by SQL; dbt needs a model")
    for k in ("defaults", "primary_entity"):
        if native.get(k):
            out[k] = copy.deepcopy(native[k])
    out["entities"] = [_restore(_export_simple_fields(e, _ENTITY_KEYS), e) for e in native.get("entities", [])]
    out["dimensions"] = [_restore(_export_simple_fields(d, _DIM_KEYS), d) for d in native.get("dimensions", [])]
    out["measures"] = [_restore(_export_simple_fields(m, _MEASURE_KEYS), m) for m in native.get("measures", [])]
    out["measures"] += copy.deepcopy(dbt.get("unsupported_measures", []))
    for k in ("entities", "dimensions", "measures"):
        if not out[k]:
            out.pop(k)
    gov = {k: native[k] for k in ("label", "description") if _i18n_only(native.get(k))}
    if gov:
        out.setdefault("config", {}).setdefault("meta", {})[NS] = gov
    restored = _restore(
        out,
        {
            **native,
            "extensions": {
                **native.get("extensions", {}),
                "dbt": {k: v for k, v in dbt.items() if k != "unsupported_measures"},
            },
        },
    )
    return restored


def _export_input(ref: Any) -> Any:
    if isinstance(ref, str):
        return {"name": ref}
    return {k: v for k, v in ref.items() if v is not None}


def _export_metric(native: dict[str, Any]) -> dict[str, Any]:
    dbt = copy.deepcopy(native.get("extensions", {}).get("dbt", {}))
    original = dbt.pop("original_type", None)
    if original and native.get("type") == "derived":
        native = {k: v for k, v in native.items() if k not in ("expr", "input_metrics")}
        native.update(type="ratio", numerator=original["numerator"], denominator=original["denominator"])
    mtype = native.get("type", "simple")
    out: dict[str, Any] = {"name": native["name"]}
    if native.get("description"):
        out["description"] = _unlabel(native["description"])
    if native.get("label"):
        out["label"] = _unlabel(native["label"])
    out["type"] = mtype
    tp: dict[str, Any] = {}
    metric_filter = native.get("filter")
    split = dbt.pop("filter_split", None)
    measure_filter = None
    if split and metric_filter == _filter_text([split.get("metric"), split.get("measure")]):
        metric_filter, measure_filter = split.get("metric"), split.get("measure")
    if native.get("measure"):
        meas: dict[str, Any] = {"name": native["measure"]}
        if measure_filter:
            meas["filter"] = measure_filter
        if dbt.get("measure_alias"):
            meas["alias"] = dbt.pop("measure_alias")
        for k in ("join_to_timespine", "fill_nulls_with"):
            if native.get(k) is not None and native.get(k) is not False:  # 0 is a value, not "off"
                meas[k] = native[k]
        tp["measure"] = meas["name"] if len(meas) == 1 else meas
    elif mtype == "simple":  # inline agg/expr: the latest spec's simple metric
        for k in ("agg", "expr", "agg_time_dimension", "join_to_timespine", "fill_nulls_with"):
            if native.get(k) is not None:
                out[k] = native[k]
        ap = native.get("agg_params") or {}
        if ap.get("percentile") is not None:
            out["percentile"] = ap["percentile"]
            out["percentile_type"] = "discrete" if ap.get("use_discrete_percentile") else "continuous"
        if native.get("semantic_model"):
            dbt.setdefault("semantic_model", native["semantic_model"])
    if mtype == "cumulative":
        ctp: dict[str, Any] = {}
        if native.get("input_metric"):
            out["input_metric"] = _export_input(native["input_metric"])
        if native.get("window"):
            ctp["window"] = native["window"]
        if native.get("grain_to_date"):
            ctp["grain_to_date"] = native["grain_to_date"]
        # MetricFlow's default is first, MetricLoop's last: write it unless it is MetricFlow's default
        period_agg = native.get("period_agg", "last")
        if dbt.pop("period_agg_given", False) or period_agg != "first":
            ctp["period_agg"] = period_agg
        if ctp:
            tp["cumulative_type_params"] = ctp
    elif mtype == "ratio":
        tp["numerator"] = _export_input(native["numerator"])
        tp["denominator"] = _export_input(native["denominator"])
    elif mtype == "conversion":
        conv = {k: native[k] for k in ("base_measure", "conversion_measure", "entity") if native.get(k)}
        conv["calculation"] = native.get("calculation", "conversion_rate")
        for k in ("window", "constant_properties"):
            if native.get(k):
                conv[k] = copy.deepcopy(native[k])
        tp["conversion_type_params"] = conv
    elif mtype == "derived":
        tp["expr"] = native["expr"]
        tp["metrics"] = [_export_input(i) for i in native.get("input_metrics", [])]
    if "is_private" in dbt:
        tp["is_private"] = dbt.pop("is_private")
    tp.update(dbt.pop("type_params", {}))
    if tp:
        out["type_params"] = tp
    if metric_filter:
        out["filter"] = metric_filter
    if native.get("time_granularity"):
        out["time_granularity"] = native["time_granularity"]
    gov = {k: copy.deepcopy(native[k]) for k in GOVERNANCE_FIELDS if native.get(k) not in (None, [], {})}
    gov.update({k: native[k] for k in ("label", "description") if _i18n_only(native.get(k))})
    if gov:
        out.setdefault("config", {}).setdefault("meta", {})[NS] = gov
    return _restore(out, {**native, "extensions": {**native.get("extensions", {}), "dbt": dbt}})


def to_metricflow(documents: Iterable[dict[str, Any]]) -> tuple[dict[str, list[dict[str, Any]]], list[Note]]:
    """Native documents → MetricFlow legacy YAML documents grouped by output file name.

    Returns ``{"semantic_models/<name>.yaml": [docs], "metrics.yaml": [...], ...}`` and notes
    for what could not be written (e.g. a semantic model defined by raw SQL).
    """
    files: dict[str, list[dict[str, Any]]] = {}
    notes: list[Note] = []
    for doc in documents:
        ext = doc.get("extensions", {}).get("dbt", {})
        subst = {v: k for k, v in (ext.get("substitutions") or {}).items()}
        for sm in doc.get("semantic_models", []):
            try:
                out = _export_sm(sm)
            except Unsupported as exc:
                notes.append(Note(f"semantic_model:{sm['name']}", "unsupported", str(exc)))
                continue
            if subst and "node_relation" in out:
                for k, v in out["node_relation"].items():
                    for new, old in subst.items():
                        if isinstance(v, str) and v == new:
                            out["node_relation"][k] = old
            files.setdefault(f"semantic_models/{sm['name']}.yaml", []).append({"semantic_model": out})
        for m in doc.get("metrics", []):
            files.setdefault("metrics.yaml", []).append({"metric": _export_metric(m)})
        unsupported = ext.get("unsupported", {})
        for sm in unsupported.get("semantic_models", []):
            files.setdefault(f"semantic_models/{sm['name']}.yaml", []).append({"semantic_model": sm})
        for m in unsupported.get("metrics", []):
            files.setdefault("metrics.yaml", []).append({"metric": m})
        for q in ext.get("saved_queries", []):
            files.setdefault("saved_queries.yaml", []).append({"saved_query": q})
        if ext.get("project_configuration"):
            files.setdefault("project_configuration.yaml", []).append(
                {"project_configuration": ext["project_configuration"]}
            )
    return files, notes


def dump_yaml_documents(docs: list[dict[str, Any]]) -> str:
    """Several YAML documents separated by ``---`` (the legacy spec's one-object-per-document style)."""
    return "".join("---\n" + yaml.safe_dump(d, sort_keys=False, allow_unicode=True) for d in docs)
