"""The metric center's definitions: semantic models and metrics.

Calculation keys follow dbt MetricFlow's names (``agg``, ``expr``, ``numerator``,
``input_metrics``, ``offset_window``, ``grain_to_date`` ...) so that dbt semantic-layer files map
1:1; around them sits the governance envelope Chinese metric platforms treat as first-class:
bilingual labels, 业务口径, unit, polarity, tier, owners, synonyms, lifecycle.

Every model forbids unknown keys: a typo is an error naming the file, line and field, never a
silently ignored setting.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from metricloop.catalog.grain import Grain as Grain  # defined apart (catalog/grain.py), re-exported

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=128)]


class Strict(BaseModel):
    """Base for every definition: unknown keys are errors, values are immutable. Validators are
    built on first validation: a catalog read from its cache (catalog/cache.py) validates nothing,
    so a CLI call does not pay for building them."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


class Agg(StrEnum):
    sum = "sum"
    count = "count"  # type: ignore[assignment]  # shadows str.count on purpose: MetricFlow's name
    count_distinct = "count_distinct"
    sum_boolean = "sum_boolean"
    min = "min"
    max = "max"
    average = "average"
    median = "median"
    percentile = "percentile"


#: Aggregations whose values add up across slices (drill-down attribution is exact for them).
ADDITIVE_AGGS = frozenset({Agg.sum, Agg.count, Agg.sum_boolean})
#: Aggregations that produce a total (not a rate); the only ones allowed as ratio parts.
TOTAL_AGGS = frozenset({Agg.sum, Agg.count, Agg.sum_boolean, Agg.count_distinct})


def _i18n(value: Any) -> Any:
    """Accept ``"GMV"`` or ``{"zh-CN": "成交额", "en": "GMV"}``; store the mapping."""
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, str):
        return {"en": value}
    return value


class I18nText(Strict):
    """A text in both languages. A plain string in YAML is taken as the English text."""

    zh_cn: str | None = Field(default=None, alias="zh-CN")
    en: str | None = None

    def get(self, locale: str | None = None) -> str:
        if locale and locale.lower().startswith("zh"):
            return self.zh_cn or self.en or ""
        return self.en or self.zh_cn or ""


Label = Annotated[I18nText | None, BeforeValidator(_i18n)]


# --------------------------------------------------------------------------------------------
# Semantic models
# --------------------------------------------------------------------------------------------


class NodeRelation(Strict):
    """MetricFlow's ``node_relation``: where a semantic model's rows live."""

    alias: str
    schema_name: str | None = None
    database: str | None = None
    relation_name: str | None = None


class Entity(Strict):
    """A join key. ``primary``/``unique`` entities make a model joinable without fan-out."""

    name: Name
    type: Literal["primary", "unique", "foreign", "natural"]
    expr: str | None = Field(default=None, description="Column or SQL expression; defaults to the name.")
    role: str | None = None
    label: Label = None
    description: Label = None
    extensions: dict[str, Any] = Field(default_factory=dict, description="Vendor keys kept verbatim (e.g. dbt).")


class TimeTypeParams(Strict):
    time_granularity: Grain = Grain.day
    validity_params: dict[str, Any] | None = None


class Dimension(Strict):
    """A column to slice by: categorical (region, channel) or time (order_time)."""

    name: Name
    type: Literal["categorical", "time"]
    expr: str | None = Field(default=None, description="Column or SQL expression; defaults to the name.")
    type_params: TimeTypeParams | None = None
    is_partition: bool = False
    label: Label = None
    description: Label = None
    synonyms: list[str] = Field(default_factory=list)
    extensions: dict[str, Any] = Field(default_factory=dict, description="Vendor keys kept verbatim (e.g. dbt).")

    @property
    def grain(self) -> Grain:
        return self.type_params.time_granularity if self.type_params else Grain.day


class NonAdditiveDimension(Strict):
    """Semi-additive measures (balances, inventory): aggregate only the rows at the first (``min``)
    or last (``max``) value of the time dimension ``name``, per output period and per
    ``window_groupings`` entity (MetricFlow's semantics); never summed over time."""

    name: str = Field(description="A time dimension of the measure's semantic model.")
    window_choice: Literal["min", "max"] = "max"
    window_groupings: list[str] = Field(
        default_factory=list, description="Entities of the model: the min/max is taken per value of each."
    )


class AggParams(Strict):
    percentile: float | None = Field(default=None, ge=0, le=1)
    use_discrete_percentile: bool = False
    use_approximate_percentile: bool = False


class Measure(Strict):
    """An aggregation over a model's column, reusable by several metrics."""

    name: Name
    agg: Agg
    expr: str | None = Field(default=None, description="Column or SQL expression; defaults to the name.")
    agg_params: AggParams | None = None
    non_additive_dimension: NonAdditiveDimension | None = None
    agg_time_dimension: str | None = None
    create_metric: bool = False
    label: Label = None
    description: Label = None
    extensions: dict[str, Any] = Field(default_factory=dict, description="Vendor keys kept verbatim (e.g. dbt).")


class ModelDefaults(Strict):
    agg_time_dimension: str | None = None


class SemanticModel(Strict):
    """A table (or SQL) with its entities, dimensions and measures."""

    name: Name
    table: str | None = Field(default=None, description="Source table in the warehouse (schema.table allowed).")
    sql: str | None = Field(default=None, description="Source SELECT, used as a subquery.")
    node_relation: NodeRelation | None = None
    warehouse: str | None = Field(default=None, description="Named warehouse from metricloop.yaml.")
    defaults: ModelDefaults | None = None
    primary_entity: str | None = None
    entities: list[Entity] = Field(default_factory=list)
    dimensions: list[Dimension] = Field(default_factory=list)
    measures: list[Measure] = Field(default_factory=list)
    label: Label = None
    description: Label = None
    extensions: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> SemanticModel:
        given = [k for k in ("table", "sql", "node_relation") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "exactly one of table, sql, node_relation is required" + (f" (got {', '.join(given)})" if given else "")
            )
        return self

    @property
    def agg_time_dimension(self) -> str | None:
        if self.defaults and self.defaults.agg_time_dimension:
            return self.defaults.agg_time_dimension
        times = [d.name for d in self.dimensions if d.type == "time"]
        return times[0] if len(times) == 1 else None

    def dimension(self, name: str) -> Dimension | None:
        return next((d for d in self.dimensions if d.name == name), None)

    def entity(self, name: str) -> Entity | None:
        return next((e for e in self.entities if e.name == name), None)

    def measure(self, name: str) -> Measure | None:
        return next((m for m in self.measures if m.name == name), None)


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


class MetricType(StrEnum):
    simple = "simple"
    ratio = "ratio"
    derived = "derived"
    cumulative = "cumulative"
    conversion = "conversion"


class Polarity(StrEnum):
    higher_is_better = "higher_is_better"
    lower_is_better = "lower_is_better"
    neutral = "neutral"


class Tier(StrEnum):
    north_star = "north_star"
    primary = "primary"
    secondary = "secondary"
    diagnostic = "diagnostic"


class Lifecycle(StrEnum):
    draft = "draft"
    active = "active"
    deprecated = "deprecated"
    retired = "retired"


class Additivity(StrEnum):
    additive = "additive"
    semi_additive = "semi_additive"
    non_additive = "non_additive"


class Relation(StrEnum):
    """Metric-tree edge kinds: exact ones derive from formulas, ``influence`` is declared."""

    additive = "additive"
    multiplicative = "multiplicative"
    ratio_numerator = "ratio_numerator"
    ratio_denominator = "ratio_denominator"
    ratio = "ratio"
    formula = "formula"
    influence = "influence"


def _metric_ref(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


class MetricInput(Strict):
    """A reference to another metric, optionally filtered, aliased or shifted in time."""

    name: Name
    alias: Name | None = None
    filter: str | None = Field(default=None, description="Filter expression applied to this input only.")
    offset_window: str | None = Field(default=None, description="Shift back in time, e.g. '7 days', '1 year'.")
    offset_to_grain: Grain | None = None

    @field_validator("offset_window")
    @classmethod
    def _window(cls, v: str | None) -> str | None:
        if v is not None:
            parse_window(v)
        return v

    @property
    def ref(self) -> str:
        return self.alias or self.name


MetricRef = Annotated[MetricInput, BeforeValidator(_metric_ref)]


class Owners(Strict):
    business: list[str] = Field(default_factory=list, description="Owns the number and acts on it.")
    technical: list[str] = Field(default_factory=list, description="Owns the calculation and data.")


class Driver(Strict):
    """A declared metric-tree edge: this metric is driven by ``metric``."""

    metric: Name
    relation: Relation = Relation.influence
    sign: Literal[1, -1] = 1
    note: Label = None


class ConstantProperty(Strict):
    """A conversion counts only when the base and the conversion event agree on this property
    (e.g. the same session)."""

    base_property: Name
    conversion_property: Name


class Metric(Strict):
    """One governed metric: MetricFlow calculation keys plus the governance envelope."""

    # identity
    name: Name
    type: MetricType = MetricType.simple
    label: Label = None
    description: Label = None
    # calculation: simple
    measure: Name | None = Field(default=None, description="Measure of a semantic model (simple, cumulative).")
    semantic_model: Name | None = Field(default=None, description="Model for an inline agg/expr (simple).")
    agg: Agg | None = None
    expr: str | None = Field(default=None, description="Column expression (simple) or formula (derived).")
    agg_params: AggParams | None = None
    agg_time_dimension: str | None = None
    non_additive_dimension: NonAdditiveDimension | None = Field(
        default=None, description="Semi-additive inline agg (simple): the min/max period's rows only, as on a measure."
    )
    # ratio
    numerator: MetricRef | None = None
    denominator: MetricRef | None = None
    # derived
    input_metrics: list[MetricRef] = Field(default_factory=list)
    # cumulative
    input_metric: MetricRef | None = None
    window: str | None = Field(default=None, description="Cumulative or conversion window, e.g. '7 days'.")
    grain_to_date: Grain | None = None
    period_agg: Literal["first", "last", "average"] = Field(
        default="last",
        description="A cumulative value at a grain coarser than its time dimension's: the value of the period's "
        "last day (default), first day, or their average. MetricFlow's default is first (the importer writes it).",
    )
    # conversion: base events (visits) that convert (a buy by the same entity within the window)
    base_measure: Name | None = Field(default=None, description="Measure counting the base events (conversion).")
    conversion_measure: Name | None = Field(default=None, description="Measure of the conversion events.")
    entity: Name | None = Field(default=None, description="Entity both events share, e.g. user (conversion).")
    calculation: Literal["conversion_rate", "conversions"] = "conversion_rate"
    constant_properties: list[ConstantProperty] = Field(default_factory=list)
    # shared
    filter: str | None = Field(default=None, description="Filter expression applied to this metric.")
    time_granularity: Grain | None = Field(default=None, description="Default grain for queries.")
    fill_nulls_with: float | None = None
    join_to_timespine: bool = False
    # governance envelope
    business_definition: Label = Field(default=None, description="业务口径: what is counted, what is excluded.")
    unit: str | None = Field(default=None, description="currency:CNY, percent, count, seconds ...")
    format: str | None = Field(default=None, description="Python format spec for display, e.g. ',.0f' or '.2%'.")
    polarity: Polarity = Polarity.higher_is_better
    tier: Tier = Tier.secondary
    owners: Owners = Field(default_factory=Owners)
    tags: list[str] = Field(default_factory=list)
    synonyms: list[str] = Field(default_factory=list)
    lifecycle: Lifecycle = Lifecycle.active
    replaced_by: Name | None = None
    drivers: list[Driver] = Field(default_factory=list)
    domain: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    extensions: dict[str, Any] = Field(default_factory=dict)

    @field_validator("window")
    @classmethod
    def _window(cls, v: str | None) -> str | None:
        if v is not None:
            parse_window(v)
        return v

    @field_validator("format")
    @classmethod
    def _format(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                format(1234.5, v)
            except ValueError:
                raise ValueError(f"{v!r} is not a Python format spec (e.g. ',.0f', '.2%')") from None
        return v

    @model_validator(mode="after")
    def _shape(self) -> Metric:
        need: dict[MetricType, tuple[str, ...]] = {
            MetricType.ratio: ("numerator", "denominator"),
            MetricType.derived: ("expr", "input_metrics"),
        }
        for key in need.get(self.type, ()):
            if not getattr(self, key):
                raise ValueError(f"a {self.type.value} metric needs '{key}'")
        if self.type is MetricType.simple and not self.measure and not (self.semantic_model and self.agg):
            raise ValueError("a simple metric needs 'measure', or 'semantic_model' with 'agg' (and 'expr')")
        if self.type is MetricType.conversion:
            for key in ("base_measure", "conversion_measure", "entity"):
                if not getattr(self, key):
                    raise ValueError(f"a conversion metric needs '{key}'")
        if self.type is MetricType.cumulative:
            if not (self.measure or self.input_metric):
                raise ValueError("a cumulative metric needs 'input_metric' (or 'measure')")
            if self.window and self.grain_to_date:
                raise ValueError("a cumulative metric takes 'window' or 'grain_to_date', not both")
        if self.lifecycle in (Lifecycle.deprecated, Lifecycle.retired) and self.replaced_by == self.name:
            raise ValueError("'replaced_by' cannot name the metric itself")
        return self

    def display_label(self, locale: str | None = None) -> str:
        return (self.label.get(locale) if self.label else "") or self.name


_WINDOW = re.compile(r"^\s*(\d+)\s*(millisecond|second|minute|hour|day|week|month|quarter|year)s?\s*$", re.IGNORECASE)


def parse_window(text: str) -> tuple[int, Grain]:
    """``'7 days'`` → ``(7, Grain.day)``; anything else is an error saying what is expected."""
    m = _WINDOW.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a window like '7 days', '1 month', '1 year'")
    return int(m.group(1)), Grain(m.group(2).lower())


class CustomGranularity(Strict):
    """A calendar of the business's own (fiscal quarters, retail weeks, MetricFlow's custom
    granularities): a column of the time spine giving each period the start of its custom period."""

    name: Name
    column: str | None = Field(default=None, description="Spine column; defaults to the name.")

    @property
    def column_name(self) -> str:
        return self.column or self.name


class TimeSpine(Strict):
    """A calendar table with one row per period: lets periods without any data still appear
    (queries of metric_time alone, cumulative windows over gaps), as MetricFlow's time spine."""

    table: str = Field(description="Table in the warehouse (schema.table allowed).")
    column: str = Field(description="The period-start column.")
    grain: Grain = Grain.day
    custom_granularities: list[CustomGranularity] = Field(
        default_factory=list,
        description="Custom grains read from this spine: group or filter by `<time dim>__<name>`.",
    )

    @field_validator("custom_granularities")
    @classmethod
    def _no_standard_names(cls, v: list[CustomGranularity]) -> list[CustomGranularity]:
        clash = [g.name for g in v if g.name in Grain.__members__]
        if clash:
            raise ValueError(f"custom granularity {clash[0]!r} has the name of a standard grain")
        return v


class ModelsFile(Strict):
    """The shape of one ``models/*.yaml`` file."""

    semantic_models: list[dict[str, Any]] = Field(default_factory=list)
    metrics: list[dict[str, Any]] = Field(default_factory=list)
    time_spines: list[dict[str, Any]] = Field(default_factory=list)
    extensions: dict[str, Any] = Field(
        default_factory=dict,
        description="Imported objects with no MetricLoop meaning yet (saved queries, time spines, unsupported "
        "definitions), kept verbatim so that export restores them.",
    )
