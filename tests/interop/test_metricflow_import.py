"""MetricFlow → native import: the mapping, what is reported, and the round trip back."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from metricloop.catalog.catalog import build_catalog, definition_dict
from metricloop.catalog.models import Additivity, MetricType
from metricloop.interop.metricflow import (
    dump_yaml_documents,
    read_metricflow,
    to_metricflow,
    to_native,
)
from metricloop.yamlio import Document

MANIFESTS = [
    "simple_manifest",
    "non_sm_manifest",
    "scd_manifest",
    "extended_date_manifest",
    "multi_hop_join_manifest",
    "partitioned_multi_hop_join_manifest",
]


def _catalog(document: dict[str, Any]):  # type: ignore[no-untyped-def]
    return build_catalog([Document("imported.yaml", document)])


def _write(files: dict[str, list[dict[str, Any]]], root: Path) -> None:
    for name, docs in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump_yaml_documents(docs), encoding="utf-8")


@pytest.mark.parametrize("name", MANIFESTS)
def test_every_suite_manifest_imports_into_a_valid_catalog(suite: Path, name: str) -> None:
    result = to_native(read_metricflow(suite / "manifests" / name), substitutions={"$source_schema": "mf"})
    catalog = _catalog(result.document)
    raw_metrics = {m["name"] for m in read_metricflow(suite / "manifests" / name).metrics}
    unsupported = {
        n.obj.split(":", 1)[1] for n in result.notes if n.level == "unsupported" and n.obj.startswith("metric:")
    }
    # nothing silently dropped: every metric is either in the catalog or reported (and kept)
    assert raw_metrics <= set(catalog.metrics) | unsupported
    kept = {m["name"] for m in result.document["extensions"]["dbt"].get("unsupported", {}).get("metrics", [])}
    assert kept == unsupported


def test_simple_manifest_mapping(suite: Path) -> None:
    result = to_native(read_metricflow(suite / "manifests" / "simple_manifest"), substitutions={"$source_schema": "mf"})
    catalog = _catalog(result.document)
    bookings = catalog.model("bookings_source")
    assert bookings.node_relation is not None and bookings.node_relation.schema_name == "mf"
    assert bookings.measure("bookings") is not None and bookings.measure("bookings").expr == "1"
    assert catalog.metric("booking_value").measure == "booking_value"
    # measure-level and metric-level filters both restrict the rows
    assert catalog.metric("instant_bookings_with_measure_filter").filter == (
        "({{ Entity('listing') }} IS NOT NULL) and ({{ Dimension('booking__is_instant') }})"
    )
    # create_metric measures become metrics; cumulative window and derived offsets map 1:1
    assert "new_users" in catalog.metrics
    assert catalog.metric("every_two_days_bookers").window == "2 day"
    growth = catalog.metric("bookings_growth_2_weeks")
    assert [i.offset_window for i in growth.input_metrics] == [None, "14 day"]
    # a ratio of non-totals is lowered to the equivalent derived metric, restorable on export
    lowered = catalog.metric("instant_booking_fraction_of_max_value")
    assert lowered.type is MetricType.derived
    assert lowered.extensions["dbt"]["original_type"]["type"] == "ratio"
    assert catalog.additivity(catalog.metric("bookings")) is Additivity.additive
    # what cannot be evaluated is reported per object and kept verbatim
    notes = {n.obj: n for n in result.notes}
    assert notes["metric:visit_buy_conversion_rate_by_session"].level == "mapped"
    conv = catalog.metric("visit_buy_conversion_rate_by_session")
    assert (conv.base_measure, conv.conversion_measure, conv.entity, conv.window) == ("visits", "buys", "user", "7 day")
    assert [(p.base_property, p.conversion_property) for p in conv.constant_properties] == [("session", "session_id")]
    assert notes["metric:visit_buy_conversions"].level == "unsupported"  # fill_nulls_with on a conversion measure
    assert "alien_day" in notes["metric:bookings_offset_alien_day"].message
    assert notes["metric:active_listings"].level == "mapped"  # Metric() inside a filter
    assert catalog.metric("active_listings").filter == "{{ Metric('bookings', ['listing']) }} > 2"
    assert len(result.document["extensions"]["dbt"]["saved_queries"]) == 5
    # the daily spine is named twice (both MetricFlow forms): one spine, with its custom granularity
    daily = [s for s in result.document["time_spines"] if s["table"] == "mf.mf_time_spine"]
    assert daily == [
        {"table": "mf.mf_time_spine", "column": "ds", "grain": "day", "custom_granularities": [{"name": "alien_day"}]}
    ]
    assert catalog.custom_grain("alien_day") is not None
    assert catalog.time_spines[0].table.startswith("mf.")


@pytest.mark.parametrize("name", MANIFESTS)
def test_round_trip_import_export_import_gives_the_same_catalog(suite: Path, tmp_path: Path, name: str) -> None:
    first = to_native(read_metricflow(suite / "manifests" / name))
    files, notes = to_metricflow([first.document])
    assert notes == []
    _write(files, tmp_path / "mf")
    second = to_native(read_metricflow(tmp_path / "mf"))
    a, b = _catalog(first.document), _catalog(second.document)
    assert {k: definition_dict(v) for k, v in a.metrics.items()} == {
        k: definition_dict(v) for k, v in b.metrics.items()
    }
    assert {k: definition_dict(v) for k, v in a.semantic_models.items()} == {
        k: definition_dict(v) for k, v in b.semantic_models.items()
    }
    ext_a = {k: v for k, v in first.document["extensions"]["dbt"].items() if k != "source"}
    ext_b = {k: v for k, v in second.document["extensions"]["dbt"].items() if k != "source"}
    assert ext_a == ext_b  # saved queries, time spines, unsupported objects all survive


def test_export_restores_the_original_metricflow_objects(suite: Path, tmp_path: Path) -> None:
    src = suite / "manifests" / "simple_manifest"
    files, _ = to_metricflow([to_native(read_metricflow(src)).document])
    out = {d["metric"]["name"]: d["metric"] for d in files["metrics.yaml"]}
    assert out["instant_booking_fraction_of_max_value"]["type"] == "ratio"
    assert out["instant_booking_fraction_of_max_value"]["type_params"]["numerator"]["filter"] == (
        "{{ Dimension('booking__is_instant') }}"
    )
    measure = out["instant_bookings_with_measure_filter"]["type_params"]["measure"]
    assert measure == {
        "name": "bookings",
        "filter": "{{ Dimension('booking__is_instant') }}",
        "join_to_timespine": True,
    }
    assert out["instant_bookings_with_measure_filter"]["filter"] == "{{ Entity('listing') }} IS NOT NULL"
    assert out["visit_buy_conversion_rate_7days"]["type_params"]["conversion_type_params"] == {
        "base_measure": "visits", "conversion_measure": "buys", "entity": "user", "calculation": "conversion_rate",
        "window": "7 day"}
    assert out["visit_buy_conversions"]["type"] == "conversion"  # unsupported, restored verbatim
    sm = files["semantic_models/bookings_source.yaml"][0]["semantic_model"]
    assert sm["node_relation"] == {"schema_name": "$source_schema", "alias": "fct_bookings"}


def test_governance_fields_travel_under_config_meta(tmp_path: Path) -> None:
    native = {
        "semantic_models": [
            {
                "name": "orders",
                "table": "shop.orders",
                "defaults": {"agg_time_dimension": "ts"},
                "dimensions": [{"name": "ts", "type": "time"}, {"name": "region", "type": "categorical"}],
                "measures": [{"name": "amount", "agg": "sum"}],
            }
        ],
        "metrics": [
            {
                "name": "gmv",
                "measure": "amount",
                "label": {"zh-CN": "成交额", "en": "GMV"},
                "tier": "north_star",
                "owners": {"business": ["王芳"], "technical": ["data-team"]},
                "unit": "currency:CNY",
                "polarity": "higher_is_better",
                "synonyms": ["销售额"],
            }
        ],
    }
    files, _ = to_metricflow([native])
    metric = files["metrics.yaml"][0]["metric"]
    assert metric["label"] == "GMV"
    meta = metric["config"]["meta"]["metricloop"]
    assert meta["tier"] == "north_star" and meta["owners"]["business"] == ["王芳"]
    assert meta["label"] == {"zh-CN": "成交额", "en": "GMV"}
    assert files["semantic_models/orders.yaml"][0]["semantic_model"]["model"] == "ref('orders')"
    _write(files, tmp_path)
    back = _catalog(to_native(read_metricflow(tmp_path)).document).metric("gmv")
    assert back.label is not None and back.label.zh_cn == "成交额"
    assert back.owners.business == ["王芳"] and back.tier.value == "north_star" and back.synonyms == ["销售额"]


def test_dbt_meta_owner_becomes_technical_owner_and_config_is_kept(tmp_path: Path) -> None:
    (tmp_path / "m.yml").write_text(
        textwrap.dedent("""\
        semantic_models:
          - name: orders
            model: ref('fct_orders')
            defaults: {agg_time_dimension: ordered_at}
            config: {meta: {domain: sales}}
            entities: [{name: order, type: primary, expr: order_id, config: {meta: {pii: false}}}]
            dimensions: [{name: ordered_at, type: time, type_params: {time_granularity: day}}]
            measures: [{name: order_total, agg: sum, expr: amount}]
        metrics:
          - name: revenue
            type: simple
            type_params: {measure: order_total}
            config: {meta: {owner: "ana@example.com", team: finance}}
        """),
        encoding="utf-8",
    )
    result = to_native(read_metricflow(tmp_path / "m.yml"))
    catalog = _catalog(result.document)
    revenue = catalog.metric("revenue")
    assert revenue.owners.technical == ["ana@example.com"]
    assert revenue.extensions["dbt"]["config"]["meta"]["team"] == "finance"
    assert catalog.model("orders").table == "fct_orders"
    assert catalog.model("orders").entities[0].extensions["dbt"]["config"] == {"meta": {"pii": False}}
    files, _ = to_metricflow([result.document])
    sm = files["semantic_models/orders.yaml"][0]["semantic_model"]
    assert sm["model"] == "ref('fct_orders')" and sm["config"] == {"meta": {"domain": "sales"}}
    assert sm["entities"][0]["config"] == {"meta": {"pii": False}}


def test_semantic_manifest_json(tmp_path: Path) -> None:
    manifest = {
        "semantic_models": [
            {
                "name": "orders",
                "description": None,
                "node_relation": {
                    "alias": "orders",
                    "schema_name": "shop",
                    "database": None,
                    "relation_name": "shop.orders",
                },
                "defaults": {"agg_time_dimension": "ds"},
                "primary_entity": None,
                "entities": [{"name": "order", "type": "primary", "expr": "order_id", "role": None}],
                "dimensions": [
                    {
                        "name": "ds",
                        "type": "time",
                        "is_partition": False,
                        "type_params": {"time_granularity": "day", "validity_params": None},
                        "metadata": {"repo_file_path": "models/orders.yml"},
                    }
                ],
                "measures": [
                    {
                        "name": "amount",
                        "agg": "sum",
                        "expr": None,
                        "agg_params": None,
                        "non_additive_dimension": None,
                        "create_metric": False,
                    }
                ],
                "metadata": None,
            }
        ],
        "metrics": [
            {
                "name": "gmv",
                "type": "simple",
                "filter": None,
                "type_params": {
                    "measure": {
                        "name": "amount",
                        "filter": None,
                        "alias": None,
                        "join_to_timespine": False,
                        "fill_nulls_with": None,
                    },
                    "input_measures": [{"name": "amount"}],
                },
            },
            {
                "name": "gmv_7d",
                "type": "cumulative",
                "filter": {"where_filters": [{"where_sql_template": "{{ Dimension('order__ds') }} >= '2024-01-01'"}]},
                "type_params": {"measure": {"name": "amount"}, "window": {"count": 7, "granularity": "day"}},
            },
            {
                "name": "gmv_wow",
                "type": "derived",
                "type_params": {
                    "expr": "gmv - prev",
                    "metrics": [
                        {"name": "gmv"},
                        {
                            "name": "gmv",
                            "alias": "prev",
                            "offset_window": {"count": 1, "granularity": "week"},
                            "filter": None,
                        },
                    ],
                },
            },
        ],
        "saved_queries": [],
        "project_configuration": {
            "time_spine_table_configurations": [{"location": "shop.days", "column_name": "ds", "grain": "day"}]
        },
    }
    path = tmp_path / "semantic_manifest.json"
    path.write_text(json.dumps(manifest), encoding="utf-8")
    result = to_native(read_metricflow(path))
    catalog = _catalog(result.document)
    assert catalog.metric("gmv_7d").window == "7 day"
    assert catalog.metric("gmv_7d").filter == "{{ Dimension('order__ds') }} >= '2024-01-01'"
    assert catalog.metric("gmv_wow").input_metrics[1].offset_window == "1 week"
    assert catalog.time_spines[0].table == "shop.days"
    assert result.document["extensions"]["dbt"]["source"]["format"] == "semantic_manifest"
    assert "metadata" not in yaml.safe_dump(result.document)  # file positions are dbt's, not ours


def test_latest_spec_models_with_simple_metrics(tmp_path: Path) -> None:
    (tmp_path / "orders.yml").write_text(
        textwrap.dedent("""\
        models:
          - name: orders
            semantic_model: {enabled: true}
            agg_time_dimension: ordered_at
            columns:
              - {name: order_id, entity: {type: primary, name: order}}
              - {name: customer_id, entity: {type: foreign, name: customer}}
              - {name: ordered_at, granularity: day, dimension: {type: time}}
              - {name: status, dimension: {type: categorical}}
            metrics:
              - {name: order_total, type: simple, agg: sum, expr: amount}
              - {name: order_count, type: simple, agg: count, expr: order_id, label: Orders}
        metrics:
          - name: avg_order_value
            type: ratio
            numerator: order_total
            denominator: order_count
        """),
        encoding="utf-8",
    )
    result = to_native(read_metricflow(tmp_path))
    catalog = _catalog(result.document)
    total = catalog.metric("order_total")
    assert (total.semantic_model, total.agg.value if total.agg else None, total.expr) == ("orders", "sum", "amount")
    assert catalog.model("orders").entity("order") is not None
    assert catalog.model("orders").entity("order").expr == "order_id"
    assert catalog.metric("avg_order_value").type is MetricType.ratio
    assert result.document["extensions"]["dbt"]["source"]["format"] == "dbt_latest"


def test_a_metric_built_on_an_unsupported_one_is_reported_too(tmp_path: Path) -> None:
    (tmp_path / "m.yml").write_text(
        textwrap.dedent("""\
        semantic_models:
          - name: visits
            node_relation: {alias: visits}
            defaults: {agg_time_dimension: ds}
            entities: [{name: user, type: foreign, expr: user_id}]
            dimensions: [{name: ds, type: time, type_params: {time_granularity: day}}]
            measures: [{name: visits, agg: sum, expr: "1"}, {name: buys, agg: sum, expr: "1"}]
        metrics:
          - name: conv
            type: cumulative
            type_params: {measure: visits, window: 2 fortnight}
          - name: conv_x2
            type: derived
            type_params: {expr: conv * 2, metrics: [conv]}
        """),
        encoding="utf-8",
    )
    result = to_native(read_metricflow(tmp_path))
    notes = {n.obj: n for n in result.notes}
    assert notes["metric:conv_x2"].level == "unsupported" and "'conv'" in notes["metric:conv_x2"].message
    assert [m["name"] for m in result.document["extensions"]["dbt"]["unsupported"]["metrics"]] == ["conv", "conv_x2"]
    assert result.document["metrics"] == []
