"""Cause analysis on real data: ``ml.explain.explain(metric, ...)``.

The warehouse computes the aggregates (one GROUP BY over the chosen dimensions, for the
period and its baseline in the same query); the pure functions of this package rank the
slices, localize the smallest set of causes and split the change over the metric tree.
Raw rows never leave the warehouse.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
from sqlalchemy import desc, select

from metricloop.catalog.catalog import available_dimensions, formula_edges, leaf_models
from metricloop.catalog.models import Additivity, Grain, Metric, MetricType, Relation
from metricloop.engine.compiler import floor_to_grain, shift_by
from metricloop.engine.filters import parse_filter
from metricloop.engine.query import MetricQuery
from metricloop.errors import NotFoundError, QueryError
from metricloop.explain import attribution
from metricloop.explain.baseline import monitor_expected_total
from metricloop.explain.drilldown import drill_down, drill_down_values
from metricloop.explain.localization import localize
from metricloop.i18n import Text
from metricloop.store.explain_models import Explanation

if TYPE_CHECKING:
    from metricloop.context import Context

Versus = Literal["previous_period", "last_week", "last_year"]
MIN_CONTRIBUTION = 0.05  # causes explaining less than 5% of the move are counted, not listed
VERSUS: tuple[str, ...] = ("previous_period", "last_week", "last_year")


@dataclass
class ExplainResult:
    """Everything the owner needs to see why a metric moved, JSON-ready via :meth:`to_dict`."""

    metric: str
    label: str
    start: dt.datetime
    end: dt.datetime  # exclusive
    baseline_start: dt.datetime
    baseline_end: dt.datetime
    dimensions: list[str]
    actual: float | None
    expected: float | None
    localization: dict[str, Any] | None
    drilldown: dict[str, Any] | None
    attribution: dict[str, Any] | None
    notes: list[Text] = field(default_factory=list)
    summary: Text | None = None
    id: int | None = None
    expected_from: str = "baseline"  # baseline | monitor (the detector's expected total)

    @property
    def change(self) -> float | None:
        if self.actual is None or self.expected is None:
            return None
        return self.actual - self.expected

    def top_causes(self, n: int = 3) -> list[dict[str, Any]]:
        return list((self.localization or {}).get("causes", []))[:n]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "metric": self.metric,
            "label": self.label,
            "period": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "baseline": {"start": self.baseline_start.isoformat(), "end": self.baseline_end.isoformat()},
            "dimensions": self.dimensions,
            "actual": self.actual,
            "expected": self.expected,
            "change": self.change,
            "relative_change": (self.change / abs(self.expected))
            if self.change is not None and self.expected
            else None,
            "summary": self.summary.to_dict() if self.summary else None,
            "localization": self.localization,
            "drilldown": self.drilldown,
            "attribution": self.attribution,
            "notes": [n.to_dict() for n in self.notes],
            "expected_from": self.expected_from,
        }


def _num(v: Any) -> float:
    return 0.0 if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


class ExplainService:
    """Drill-down, localization and tree attribution for one metric move (needs only the
    shared :class:`~metricloop.context.Context`: catalog, query, state store)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # ------------------------------------------------------------------ dimensions
    def default_dimensions(self, metric: Metric) -> list[str]:
        """Categorical dimensions every leaf model of the metric has (no entity keys, no time).

        Dimensions the metric's own definition filters on are left out: within one of their
        values the metric is degenerate (``new_buyer_share`` is 1 for new buyers and 0 for the
        others), so splitting by them explains nothing.
        """
        catalog = self.ctx.catalog
        reachable = available_dimensions(catalog, metric)
        filtered = self._filter_dimensions(metric)
        out: list[str] = []
        for model in leaf_models(catalog, metric):
            for d in model.dimensions:
                if d.type == "categorical" and d.name in reachable and d.name not in out and d.name not in filtered:
                    out.append(d.name)
        return out

    def _filter_dimensions(self, metric: Metric, seen: set[str] | None = None) -> set[str]:
        """Dimension names used in the filters of the metric and of every metric it is built from."""
        seen = seen if seen is not None else set()
        if metric.name in seen:
            return set()
        seen.add(metric.name)
        texts = [metric.filter] if metric.filter else []
        for ref in (metric.numerator, metric.denominator, metric.input_metric, *metric.input_metrics):
            if ref is not None and ref.filter:
                texts.append(ref.filter)
        out: set[str] = set()
        for text in texts:
            for ident in parse_filter(text).identifiers():
                out.add(ident)
                out.add(ident.split("__")[-1])
        for dep in self.ctx.catalog.inputs(metric):
            out |= self._filter_dimensions(self.ctx.catalog.metric(dep), seen)
        return out

    # ------------------------------------------------------------------ the main call
    def explain(
        self,
        metric: str,
        *,
        at: dt.datetime | None = None,
        grain: Grain = Grain.day,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        baseline: dt.datetime | None = None,
        vs: Versus = "last_week",
        by: list[str] | None = None,
        where: str | None = None,
        expected_total: float | None = None,
        monitor_deviations: Sequence[tuple[float | None, float | None, float | None]] = (),
        anomaly_fingerprint: str | None = None,
        store: bool = True,
    ) -> ExplainResult:
        """Why did ``metric`` move in the period (``at`` at ``grain``, or ``start``..``end`` exclusive)?

        The baseline is the same period shifted (``vs``) or starting at ``baseline``. When a
        detector's ``expected_total`` is known it replaces the baseline's total and each slice's
        expectation is the baseline slice scaled to it. ``monitor_deviations`` (per alert on the
        explained slice: actual and expected at its peak, impact) give that total for an additive
        metric: the actual total minus what the monitor measured
        (:func:`~metricloop.explain.baseline.monitor_expected_total`).
        """
        catalog = self.ctx.catalog
        m = catalog.metric(metric)
        if vs not in VERSUS:
            raise QueryError(f"--vs must be one of {', '.join(VERSUS)}, not {vs!r}")
        if start is None:
            if at is None:
                raise QueryError("give --at TS (with --grain) or --start/--end", zh="请指定 --at 或 --start/--end")
            start = floor_to_grain(at, grain)
            end = shift_by(start, 1, grain)
        if end is None or end <= start:
            raise QueryError("the period's end must be after its start", zh="结束时间必须晚于开始时间")
        length = end - start
        if baseline is not None:
            b_start = baseline
        elif vs == "last_week":
            b_start = start - dt.timedelta(days=7)
        elif vs == "last_year":
            b_start = shift_by(start, -1, Grain.year)
        else:
            b_start = start - length
        b_end = b_start + length
        dims = list(by) if by else self.default_dimensions(m)
        notes: list[Text] = []

        actual, expected = self._totals(m, start, end, b_start, b_end, where)
        if expected_total is None and monitor_deviations and self._kind(m) == "additive":
            expected_total = monitor_expected_total(actual, monitor_deviations)
        scale = None
        if expected_total is not None and expected:
            scale = expected_total / expected
            expected = expected_total
            notes.append(
                Text(
                    en="Expectation per slice = last period's slice scaled to the detector's expected total.",
                    zh="各切片的期望值 = 基期切片值按检测器期望总量等比缩放。",
                )
            )

        localization = drill = None
        kind = self._kind(m)
        if kind is None:
            notes.append(
                Text(
                    en=f"{m.name} is not additive ({catalog.additivity(m).value}): slices do not add up to the total, "
                    "so the drill-down computes it per dimension in the warehouse and there is no "
                    "multi-dimensional localization; contributions do not sum to 100 %.",
                    zh=f"{m.name} 不可加（{catalog.additivity(m).value}），切片之和不等于总量：单维下钻在数仓中按维度"
                    "分别计算，不做多维定位；各值贡献之和不等于 100%。",
                )
            )
            if dims and actual is not None and expected is not None:
                per_dim = self._value_frames(m, dims, start, end, b_start, b_end, where, scale)
                drill = drill_down_values(per_dim, actual, expected).to_dict()
        elif dims:
            frame = self._leaf_frame(m, kind, dims, start, end, b_start, b_end, where, scale)
            if len(frame):
                found = localize(frame, dims)
                notes.extend(found.notes)
                localization = found.to_dict()
                # the owner reads causes by how much of the move they explain; slivers go to "others"
                causes = sorted(localization["causes"], key=lambda c: -(c.get("contribution") or 0.0))
                for c in causes:
                    if kind == "ratio":  # show the rate the owner knows, not its parts
                        c["actual"], c["expected"] = c.get("actual_ratio"), c.get("expected_ratio")
                        if c["actual"] is not None and c["expected"] is not None:
                            c["change"] = c["actual"] - c["expected"]
                major = [c for c in causes if (c.get("contribution") or 0.0) >= MIN_CONTRIBUTION]
                localization["causes"] = major or causes[:3]
                localization["minor_causes"] = len(causes) - len(localization["causes"])
                drill = drill_down(frame, dims).to_dict()
        tree = self._attribution(m, start, end, b_start, b_end, where)

        label = m.display_label("zh-CN")
        result = ExplainResult(
            metric, label, start, end, b_start, b_end, dims, actual, expected, localization, drill, tree, notes
        )
        result.expected_from = "monitor" if scale is not None else "baseline"
        result.summary = self._summary(result, m)
        if store:
            result.id = self._store(result, anomaly_fingerprint)
        return result

    # ------------------------------------------------------------------ queries
    def _kind(self, m: Metric) -> Literal["additive", "ratio"] | None:
        catalog = self.ctx.catalog
        if catalog.additivity(m) is Additivity.additive:
            return "additive"
        if m.type is MetricType.ratio and m.numerator and m.denominator:
            parts = [catalog.metric(m.numerator.name), catalog.metric(m.denominator.name)]
            if all(catalog.additivity(p) is Additivity.additive for p in parts) and not (
                m.numerator.filter or m.denominator.filter or m.filter
            ):
                return "ratio"
        return None

    def _window_rows(
        self, metrics: list[str], dims: list[str], start: dt.datetime, end: dt.datetime, where: str | None
    ) -> pd.DataFrame:
        # the query's end is inclusive: the last hour of the window (a range with hours snaps to hours)
        q = MetricQuery(metrics=metrics, group_by=dims, where=where, start=start, end=end - dt.timedelta(hours=1))
        return self.ctx.query(q).to_pandas()

    def _totals(
        self,
        m: Metric,
        start: dt.datetime,
        end: dt.datetime,
        b_start: dt.datetime,
        b_end: dt.datetime,
        where: str | None,
    ) -> tuple[float | None, float | None]:
        now = self._window_rows([m.name], [], start, end, where)
        then = self._window_rows([m.name], [], b_start, b_end, where)
        a = now[m.name].iloc[0] if len(now) else None
        b = then[m.name].iloc[0] if len(then) else None
        return (None if a is None or pd.isna(a) else float(a)), (None if b is None or pd.isna(b) else float(b))

    def _leaf_frame(
        self,
        m: Metric,
        kind: str,
        dims: list[str],
        start: dt.datetime,
        end: dt.datetime,
        b_start: dt.datetime,
        b_end: dt.datetime,
        where: str | None,
        scale: float | None,
    ) -> pd.DataFrame:
        """One row per combination of ``dims`` with the actual and expected values (or parts)."""
        if kind == "ratio":
            assert m.numerator and m.denominator
            parts = [m.numerator.name, m.denominator.name]
        else:
            parts = [m.name]
        now = self._window_rows(parts, dims, start, end, where)
        then = self._window_rows(parts, dims, b_start, b_end, where)
        if now.empty or then.empty:  # a filter that matches nothing: Arrow-typed empty keys cannot be merged
            for frame_ in (now, then):
                for d in dims:
                    frame_[d] = frame_[d].astype(object)
        frame = now.merge(then, on=dims, how="outer", suffixes=("_a", "_e"))
        for d in dims:
            frame[d] = frame[d].astype(object).where(frame[d].notna(), "(空)")
            frame[d] = frame[d].astype(str)
        k = scale if scale is not None else 1.0
        if kind == "ratio":
            num, den = parts
            return pd.DataFrame(
                {
                    **{d: frame[d] for d in dims},
                    "actual_num": frame[f"{num}_a"].fillna(0.0).astype(float),
                    "expected_num": frame[f"{num}_e"].fillna(0.0).astype(float),
                    "actual_den": frame[f"{den}_a"].fillna(0.0).astype(float),
                    "expected_den": frame[f"{den}_e"].fillna(0.0).astype(float),
                }
            )
        return pd.DataFrame(
            {
                **{d: frame[d] for d in dims},
                "actual": frame[f"{m.name}_a"].fillna(0.0).astype(float),
                "expected": frame[f"{m.name}_e"].fillna(0.0).astype(float) * k,
            }
        )

    def _value_frames(
        self,
        m: Metric,
        dims: list[str],
        start: dt.datetime,
        end: dt.datetime,
        b_start: dt.datetime,
        b_end: dt.datetime,
        where: str | None,
        scale: float | None,
    ) -> dict[str, pd.DataFrame]:
        """Per dimension, the metric per value in the period and the baseline.

        Used for metrics that do not add up over slices, where leaves cannot be summed into
        coarser slices and every cuboid must be computed by the warehouse itself: one statement
        per period groups by each dimension (GROUPING SETS, or UNION ALL where the dialect has
        none), so the rows out are the dimensions' values.
        """
        k = scale if scale is not None else 1.0
        out: dict[str, pd.DataFrame] = {}
        sets = [(d,) for d in dims]
        # the query's end is inclusive: the last hour of the window, as in _window_rows
        now_sets = self.ctx.query_sets(MetricQuery(metrics=[m.name], where=where, start=start,
                                                   end=end - dt.timedelta(hours=1)), sets)
        then_sets = self.ctx.query_sets(MetricQuery(metrics=[m.name], where=where, start=b_start,
                                                    end=b_end - dt.timedelta(hours=1)), sets)
        for d, now_t, then_t in zip(dims, now_sets, then_sets, strict=True):
            now, then = now_t.to_pandas(), then_t.to_pandas()
            frame = now.merge(then, on=[d], how="outer", suffixes=("_a", "_e"))
            out[d] = pd.DataFrame(
                {
                    "value": frame[d].astype(object).where(frame[d].notna(), "(空)").astype(str),
                    "actual": frame[f"{m.name}_a"].astype(float).fillna(0.0),
                    "expected": frame[f"{m.name}_e"].astype(float).fillna(0.0) * k,
                }
            )
        return out

    def _attribution(
        self,
        m: Metric,
        start: dt.datetime,
        end: dt.datetime,
        b_start: dt.datetime,
        b_end: dt.datetime,
        where: str | None,
    ) -> dict[str, Any] | None:
        """Split the change over the metric's tree: formula inputs exactly, declared drivers as checked."""
        children: list[tuple[str, str, int]] = []
        exactness = True
        if m.type is MetricType.ratio and m.numerator and m.denominator:
            children = [(m.numerator.name, "multiplicative", 1), (m.denominator.name, "multiplicative", -1)]
        elif m.type is MetricType.derived:
            refs = {i.ref: i for i in m.input_metrics}
            if any(i.offset_window or i.filter for i in m.input_metrics):
                return None  # offsets/filters of inputs: the formula is not over plain metric values
            children = [(refs[r].name, rel, s) for r, rel, s in formula_edges(m)]
        else:
            declared = [d for d in m.drivers if d.relation is Relation.multiplicative]
            if declared:
                children = [(d.metric, "multiplicative", d.sign) for d in declared]
                exactness = False  # to be checked: the product of the drivers must equal the metric
        if not children:
            return None
        names = sorted({c for c, _, _ in children} | {m.name})
        try:
            now = self._window_rows(names, [], start, end, where)
            then = self._window_rows(names, [], b_start, b_end, where)
        except QueryError:
            return None
        if not len(now) or not len(then):
            return None
        pairs = {n: (_num(then[n].iloc[0]), _num(now[n].iloc[0])) for n in names}
        relation = children[0][1]
        if all(r == "additive" for _, r, _ in children):
            result = attribution.additive(
                {c: pairs[c] for c, _, _ in children}, signs={c: s for c, _, s in children}, parent=pairs[m.name]
            )
        elif all(r == "multiplicative" for _, r, _ in children):
            factors = {c: (pairs[c][0] ** s, pairs[c][1] ** s) if all(pairs[c]) else pairs[c] for c, _, s in children}
            product_then = math.prod(v[0] for v in factors.values())
            product_now = math.prod(v[1] for v in factors.values())
            if not exactness:
                close = math.isclose(product_then, pairs[m.name][0], rel_tol=1e-6) and math.isclose(
                    product_now, pairs[m.name][1], rel_tol=1e-6
                )
                if not close:
                    return None  # declared drivers that do not multiply to the metric: not an identity
            result = attribution.product(factors)
        else:
            assert m.expr is not None
            formula_expr = m.expr
            inputs = {i.ref: i.name for i in m.input_metrics}

            def formula(values: Mapping[str, float]) -> float:
                return _eval_formula(formula_expr, {ref: values[name] for ref, name in inputs.items()})

            result = attribution.shapley(
                formula, {n: pairs[n][0] for n in inputs.values()}, {n: pairs[n][1] for n in inputs.values()}
            )
        out = result.to_dict()
        out["relation"] = relation
        for d in out["drivers"]:  # a divisor enters as 1/x; show the owner the metric's own values
            sign = next((s for c, _, s in children if c == d["name"]), 1)
            if sign == -1 and relation == "multiplicative":
                d["before"], d["after"] = pairs[d["name"]]
                d["role"] = "divisor"
        return out

    # ------------------------------------------------------------------ summary and storage
    def _summary(self, r: ExplainResult, m: Metric) -> Text:
        if r.actual is None or r.expected is None:
            return Text(
                en=f"No data for {m.name} in the period or its baseline.",
                zh=f"{m.display_label('zh-CN')} 在本期或基期没有数据。",
            )
        fmt = m.format or ",.2f"
        rel = f" ({r.change / abs(r.expected):+.1%})" if r.expected and r.change is not None else ""
        head = Text(
            en=f"{m.display_label('en')} was {format(r.actual, fmt)} vs {format(r.expected, fmt)} expected{rel}.",
            zh=f"{m.display_label('zh-CN')} 为 {format(r.actual, fmt)}，期望 {format(r.expected, fmt)}{rel}。",
        )
        causes = r.top_causes(3)
        if not causes:
            return head
        en = "; ".join(
            f"{c['element']} {c['relative_change']:+.0%}" if c.get("relative_change") is not None else c["element"]
            for c in causes
        )
        zh = "；".join(
            f"{c['element']} {c['relative_change']:+.0%}" if c.get("relative_change") is not None else c["element"]
            for c in causes
        )
        return Text(en=f"{head.en} Top causes: {en}.", zh=f"{head.zh} 主要原因：{zh}。")

    def _store(self, r: ExplainResult, fingerprint: str | None) -> int:
        params = {
            "metric": r.metric,
            "start": r.start.isoformat(),
            "end": r.end.isoformat(),
            "baseline": r.baseline_start.isoformat(),
            "dims": r.dimensions,
        }
        key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
        payload = _jsonable(r.to_dict())
        # the row policies it was computed under: who may read it back (the API checks this)
        from metricloop.access.context import current_principal

        acting = current_principal()
        payload["scope"] = sorted(acting.policy_filters()) if acting is not None else []
        with self.ctx.store.session() as s:
            row = Explanation(
                metric=r.metric,
                period_start=r.start,
                period_end=r.end,
                params_hash=key,
                anomaly_fingerprint=fingerprint,
                result=payload,
            )
            s.add(row)
            s.flush()
            return row.id

    def get(self, explanation_id: int) -> dict[str, Any]:
        with self.ctx.store.session() as s:
            row = s.get(Explanation, explanation_id)
            if row is None:
                raise NotFoundError(f"no explanation {explanation_id}", zh=f"没有编号为 {explanation_id} 的归因结果")
            return {**row.result, "id": row.id}

    def for_anomaly(self, fingerprint: str) -> dict[str, Any] | None:
        with self.ctx.store.session() as s:
            row = s.scalars(
                select(Explanation)
                .where(Explanation.anomaly_fingerprint == fingerprint)
                .order_by(desc(Explanation.id))
                .limit(1)
            ).first()
            return {**row.result, "id": row.id} if row else None


def _jsonable(value: Any) -> Any:
    """NaN/inf become null so the stored JSON is valid on every database."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item"):
        return _jsonable(value.item())
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _eval_formula(expr: str, values: dict[str, float]) -> float:
    """Evaluate a derived metric's formula on numbers (arithmetic and NULLIF/COALESCE only)."""
    from sqlglot import exp

    from metricloop.catalog.catalog import parse_formula

    def ev(node: exp.Expr) -> float:
        if isinstance(node, exp.Paren):
            return ev(node.this)
        if isinstance(node, exp.Column):
            return values[node.name]
        if isinstance(node, exp.Literal):
            return float(node.this)
        if isinstance(node, exp.Neg):
            return -ev(node.this)
        if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div):
            a, b = ev(node.this), ev(node.expression)
            if isinstance(node, exp.Add):
                return a + b
            if isinstance(node, exp.Sub):
                return a - b
            if isinstance(node, exp.Mul):
                return a * b
            return a / b if b else math.nan
        if isinstance(node, exp.Nullif):
            a, b = ev(node.this), ev(node.expression)
            return math.nan if a == b else a
        if isinstance(node, exp.Coalesce):
            for item in [node.this, *node.expressions]:
                v = ev(item)
                if not math.isnan(v):
                    return v
            return math.nan
        raise QueryError(f"cannot attribute over formula {expr!r}: {node.sql()} is not arithmetic")

    return ev(parse_formula(expr))
