"""Catalog: the metric dictionary, one metric's definition and history, the metric tree."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from metricloop.catalog.models import Metric, SemanticModel
from metricloop.localtime import Instant


class I18n(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    zh_cn: str | None = Field(default=None, alias="zh-CN")
    en: str | None = None


def i18n(value: Any) -> I18n | None:
    return I18n(**{"zh-CN": value.zh_cn, "en": value.en}) if value is not None else None


class MetricSummary(BaseModel):
    """One line of the metric dictionary."""

    name: str
    label: I18n | None
    description: I18n | None
    type: str
    tier: str
    unit: str | None
    format: str | None
    polarity: str
    lifecycle: str
    domain: str | None
    owners: list[str] = Field(description="Business owners.")
    synonyms: list[str]
    tags: list[str]

    @classmethod
    def of(cls, m: Metric) -> MetricSummary:
        return cls(name=m.name, label=i18n(m.label), description=i18n(m.description), type=m.type.value,
                   tier=m.tier.value, unit=m.unit, format=m.format, polarity=m.polarity.value,
                   lifecycle=m.lifecycle.value, domain=m.domain, owners=list(m.owners.business),
                   synonyms=list(m.synonyms), tags=list(m.tags))


class Revision(BaseModel):
    version: int
    change: str = Field(description="created | calculation | metadata | removed | restored")
    calc_hash: str
    meta_hash: str
    author: str | None
    reason: str | None
    created_at: Instant


class TreeEdge(BaseModel):
    parent: str
    child: str
    relation: str
    sign: int
    derived: bool


class TreeNode(BaseModel):
    """A metric and the metrics it is computed from or driven by."""

    metric: str
    relation: str | None = None
    sign: int = 1
    derived: bool = True
    repeated: bool = False
    children: list[TreeNode] = Field(default_factory=list)


class MetricDetail(MetricSummary):
    """Everything about one metric: 口径, calculation, owners, dimensions, revisions, tree."""

    business_definition: I18n | None
    technical_owners: list[str]
    definition: dict[str, Any] = Field(description="The definition as stored (MetricFlow keys + governance).")
    additivity: str
    semantic_models: list[str]
    dimensions: list[str]
    calc_hash: str
    meta_hash: str
    source: str | None = Field(description="File and line the definition lives in.")
    editable: bool = Field(description="True when written through the UI/API (models/authored/); "
                                       "hand-written files are edited in the project.")
    version: int | None
    revisions: list[Revision]
    parents: list[TreeEdge]
    tree: TreeNode


class SaveMetricRequest(BaseModel):
    """Create or update a metric definition (written to models/authored/<name>.yaml)."""

    model_config = ConfigDict(extra="forbid")

    definition: dict[str, Any] = Field(description="The metric in the same keys as models/*.yaml.",
                                       examples=[{"name": "app_orders", "measure": "order_count",
                                                  "filter": "channel = 'app'"}])
    base_version: int | None = Field(default=None, ge=1, description="Revision this edit starts from "
                                     "(required to update; omit to create).")
    reason: str | None = Field(default=None, max_length=2000, description="Why (kept in the revision).")


class SaveMetricResponse(BaseModel):
    name: str
    created: bool
    change: str | None = Field(description="created | calculation | metadata, or null when nothing changed.")
    version: int
    file: str


class SemanticModelSummary(BaseModel):
    name: str
    label: I18n | None
    description: I18n | None
    source: str = Field(description="Table, SQL or relation the rows come from.")
    dimensions: list[str]
    measures: list[str]
    entities: list[str]

    @classmethod
    def of(cls, m: SemanticModel) -> SemanticModelSummary:
        source = m.table or (m.node_relation.alias if m.node_relation else None) or "sql"
        return cls(name=m.name, label=i18n(m.label), description=i18n(m.description), source=source,
                   dimensions=[d.name for d in m.dimensions], measures=[x.name for x in m.measures],
                   entities=[e.name for e in m.entities])
