"""The metric dictionary: search by name or synonym (中文 / English), 口径, owner, metric tree."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from metricloop.access.policy import readable
from metricloop.catalog.models import Metric
from metricloop.catalog.tree import tree
from metricloop.ui.layout import PageContext, page, section_title
from metricloop.ui.texts import unit_text
from metricloop.views.scope import person_name


def _row(ctx: PageContext, m: Metric) -> dict[str, Any]:
    definition = m.business_definition.get(ctx.locale) if m.business_definition else ""
    return {"name": m.name, "label": m.display_label(ctx.locale), "tier": ctx.t(f"tier_{m.tier.value}"),
            "owner": ", ".join(person_name(ctx.ml, p) for p in m.owners.business),
            "unit": unit_text(m.unit, ctx.locale),
            "definition": definition if len(definition) <= 80 else definition[:78] + "…",
            "synonyms": ", ".join(m.synonyms)}


def tree_nodes(ctx: PageContext, root: str) -> list[dict[str, Any]]:
    """A metric tree in the shape ui.tree wants, without metrics the user may not read."""
    catalog = ctx.ml.catalog
    counter = iter(range(1_000_000))

    def node(d: dict[str, Any]) -> dict[str, Any]:
        m = catalog.metrics.get(d["metric"])
        label = f"{m.display_label(ctx.locale) if m else d['metric']} ({d['metric']})"
        if d.get("relation"):
            declared = "" if d.get("derived", True) else f" ({ctx.t('declared')})"
            label += f" · {ctx.t('rel_' + d['relation'])}{declared}"
        return {"id": f"{d['metric']}#{next(counter)}", "label": label, "metric": d["metric"],
                "children": [node(c) for c in d["children"] if readable(catalog, ctx.principal, c["metric"])]}

    return [node(tree(catalog, root).to_dict())]


@page("/dictionary", nav="dictionary")
def dictionary(ctx: PageContext, q: str | None = None) -> None:
    section_title(ctx.t("dictionary_title"))
    columns: list[dict[str, Any]] = [
        {"name": "label", "label": ctx.t("col_metric"), "field": "label", "align": "left", "sortable": True},
        {"name": "name", "label": ctx.t("col_name"), "field": "name", "align": "left", "sortable": True},
        {"name": "tier", "label": ctx.t("col_tier"), "field": "tier", "align": "left"},
        {"name": "owner", "label": ctx.t("col_owner"), "field": "owner", "align": "left"},
        {"name": "unit", "label": ctx.t("col_unit"), "field": "unit", "align": "left"},
        {"name": "definition", "label": ctx.t("col_definition"), "field": "definition", "align": "left",
         "style": "white-space:normal;max-width:420px"},
        {"name": "synonyms", "label": ctx.t("col_synonyms"), "field": "synonyms", "align": "left",
         "style": "white-space:normal;max-width:220px"},
    ]
    with ui.row().classes("w-full items-center gap-4"):
        search = ui.input(placeholder=ctx.t("search_placeholder"), value=q or "").props(
            'outlined dense clearable data-testid="metric-search"').classes("w-[520px]")
        count = ui.label().classes("text-sm text-gray-600")
    table = ui.table(columns=columns, rows=[], row_key="name", pagination=25).classes("w-full cursor-pointer") \
        .props('flat bordered data-testid="metric-table"')

    def refresh() -> None:
        text = (search.value or "").strip()
        metrics = ctx.ml.access.visible_metrics(ctx.principal, ctx.ml.metrics(text or None))
        table.rows = [_row(ctx, m) for m in metrics]
        table.update()
        count.set_text(ctx.t("results", n=len(metrics)))

    search.on_value_change(lambda _: refresh())
    table.on("rowClick", lambda e: ui.navigate.to(f"/dictionary/{e.args[1]['name']}"))
    refresh()

    roots = [m for m in ctx.ml.metrics(tier="north_star") if readable(ctx.ml.catalog, ctx.principal, m.name)]
    if roots:
        with ui.expansion(ctx.t("metric_tree"), icon="account_tree").classes("w-full bg-white"):
            nodes = [n for m in roots for n in tree_nodes(ctx, m.name)]
            ui.tree(nodes, label_key="label", node_key="id",
                    on_select=lambda e: ui.navigate.to(f"/dictionary/{str(e.value).split('#')[0]}") if e.value else None
                    ).expand()
