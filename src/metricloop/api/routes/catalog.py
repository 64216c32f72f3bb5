"""Catalog: list and search metrics, one metric, its revisions and tree, write definitions.

Hidden metrics (metric permissions) are left out of listings and answer 404, so their
existence does not leak.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query

from metricloop.access.authoring import AUTHORED_DIR, save_metric
from metricloop.access.policy import Principal, readable
from metricloop.access.roles import Action
from metricloop.api.deps import get_ml, require
from metricloop.api.errors import ERROR_RESPONSES
from metricloop.api.pagination import Page, PageParams, page_params, paginate
from metricloop.api.schemas.catalog import (
    MetricDetail,
    MetricSummary,
    Revision,
    SaveMetricRequest,
    SaveMetricResponse,
    SemanticModelSummary,
    TreeEdge,
    TreeNode,
    i18n,
)
from metricloop.catalog.models import Tier
from metricloop.errors import ConfigError
from metricloop.service import MetricLoop

router = APIRouter(prefix="/api/v1", tags=["catalog"], responses=ERROR_RESPONSES)
MetricName = Path(min_length=1, max_length=128, description="Metric name, e.g. gmv.")


def prune(node: dict[str, Any], ok: Any) -> dict[str, Any]:
    """Drop the branches of a tree that the caller may not read."""
    return {**node, "children": [prune(c, ok) for c in node["children"] if ok(c["metric"])]}


@router.get("/metrics", response_model=Page[MetricSummary])
def list_metrics(
    search: str | None = Query(None, max_length=200, description="Name, label, synonym or tag (中文 or English)."),
    tier: Tier | None = Query(None),
    include_retired: bool = Query(False),
    page: PageParams = Depends(page_params),
    principal: Principal = Depends(require(Action.catalog_read)),
    ml: MetricLoop = Depends(get_ml),
) -> Page[MetricSummary]:
    """The metric dictionary, best matches first when searching."""
    items = ml.metrics(search.strip() or None if search else None, tier.value if tier else None, include_retired)
    return paginate(ml.access.visible_metrics(principal, items), page, MetricSummary.of)


@router.get("/metrics/{name}", response_model=MetricDetail)
def get_metric(name: str = MetricName, principal: Principal = Depends(require(Action.catalog_read)),
               ml: MetricLoop = Depends(get_ml)) -> MetricDetail:
    """口径, calculation, owners, dimensions, revisions and tree of one metric."""
    metric = ml.access.require_metric(principal, name)
    detail = ml.metric_detail(name)
    catalog = ml.catalog

    def ok(n: str) -> bool:
        return readable(catalog, principal, n)

    source = detail["source"] or ""
    revs = [Revision(**{**r, "calc_hash": r["calc_hash"], "meta_hash": r["meta_hash"]}) for r in detail["revisions"]]
    return MetricDetail(
        **MetricSummary.of(metric).model_dump(),
        business_definition=i18n(metric.business_definition),
        technical_owners=list(metric.owners.technical),
        definition=detail["definition"], additivity=detail["additivity"],
        semantic_models=detail["semantic_models"], dimensions=detail["dimensions"],
        calc_hash=detail["calc_hash"], meta_hash=detail["meta_hash"], source=detail["source"],
        editable=source.startswith(AUTHORED_DIR + "/"),
        version=revs[-1].version if revs else None, revisions=revs,
        parents=[TreeEdge(**e) for e in detail["parents"] if ok(e["parent"])],
        tree=TreeNode.model_validate(prune(detail["tree"], ok)),
    )


@router.get("/metrics/{name}/revisions", response_model=list[Revision])
def metric_revisions(name: str = MetricName, principal: Principal = Depends(require(Action.catalog_read)),
                     ml: MetricLoop = Depends(get_ml)) -> list[Revision]:
    """Every revision of the metric, oldest first (calculation vs metadata changes)."""
    ml.access.require_metric(principal, name)
    return [Revision(**r) for r in ml.metric_detail(name)["revisions"]]


@router.get("/metrics/{name}/tree", response_model=TreeNode)
def metric_tree(name: str = MetricName, principal: Principal = Depends(require(Action.catalog_read)),
                ml: MetricLoop = Depends(get_ml)) -> TreeNode:
    """The metrics this one is computed from (exact) or driven by (declared), recursively."""
    ml.access.require_metric(principal, name)
    from metricloop.catalog import tree

    catalog = ml.catalog
    return TreeNode.model_validate(prune(tree.tree(catalog, name).to_dict(),
                                         lambda n: readable(catalog, principal, n)))


@router.put("/metrics/{name}", response_model=SaveMetricResponse)
def put_metric(body: SaveMetricRequest, name: str = MetricName,
               principal: Principal = Depends(require(Action.catalog_write)),
               ml: MetricLoop = Depends(get_ml)) -> SaveMetricResponse:
    """Create or update a metric through the same validator as the project files; recorded as a
    revision. Metrics defined in hand-written files answer 409 (edit the file)."""
    definition = dict(body.definition)
    given = definition.setdefault("name", name)
    if given != name:
        raise ConfigError(f"definition.name '{given}' differs from the URL's '{name}'",
                          zh=f"definition.name '{given}' 与 URL 中的 '{name}' 不一致")
    r = save_metric(ml.access, principal, definition, base_version=body.base_version, reason=body.reason)
    return SaveMetricResponse(name=r.name, created=r.created, change=r.change, version=r.version, file=r.file)


@router.get("/semantic-models", response_model=Page[SemanticModelSummary])
def list_models(page: PageParams = Depends(page_params), principal: Principal = Depends(require(Action.catalog_read)),
                ml: MetricLoop = Depends(get_ml)) -> Page[SemanticModelSummary]:
    """Tables (or SQL) the metrics are computed from, with their dimensions and measures."""
    models = sorted(ml.catalog.semantic_models.values(), key=lambda m: m.name)
    return paginate(models, page, SemanticModelSummary.of)
