"""Definitions are validated with errors a user can act on: file, line, field, what was expected."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from metricloop.catalog.catalog import load_catalog
from metricloop.errors import ConfigError, DefinitionError


def write(root: Path, text: str, name: str = "m.yaml") -> Path:
    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "models" / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return root


BASE = """\
semantic_models:
  - name: orders
    table: orders
    defaults: {agg_time_dimension: t}
    dimensions:
      - {name: t, type: time}
      - {name: region, type: categorical}
    measures:
      - {name: amount, agg: sum}
      - {name: n, agg: count, expr: id}
      - {name: avg_amount, agg: average, expr: amount}
"""


def issues_of(root: Path) -> list[str]:
    with pytest.raises(DefinitionError) as err:
        load_catalog(root)
    return [str(i) for i in err.value.issues]


def test_bad_aggregation_names_file_line_field_and_choices(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        BASE.replace("{name: amount, agg: sum}", "{name: amount, agg: summ}")
        + "metrics:\n  - {name: gmv, measure: amount}\n",
    )
    assert issues_of(root) == [
        "models/m.yaml:9 semantic_models[0].measures[0].agg: 'summ' is not one of sum, count, count_distinct, "
        "sum_boolean, min, max, average, median, percentile"
    ]


def test_unknown_key_is_rejected_not_ignored(tmp_path: Path) -> None:
    root = write(tmp_path, BASE + "metrics:\n  - name: gmv\n    measure: amount\n    colour: red\n")
    (msg,) = issues_of(root)
    assert msg.startswith("models/m.yaml:15 metrics[0].colour: unknown key")


def test_unknown_references_suggest_the_closest_name(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        BASE
        + textwrap.dedent("""\
        metrics:
          - {name: gmv, measure: amout}
          - {name: orders, measure: n}
          - {name: aov, type: ratio, numerator: gmv, denominator: order}
        """),
    )
    assert issues_of(root) == [
        "models/m.yaml:13 metrics[0].measure: unknown measure 'amout' (did you mean 'amount'?)",
        "models/m.yaml:15 metrics[2].denominator: unknown metric 'order' (did you mean 'orders'?)",
    ]


def test_cycles_among_derived_metrics_are_named(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        BASE
        + textwrap.dedent("""\
        metrics:
          - {name: a, type: derived, expr: b + 1, input_metrics: [b]}
          - {name: b, type: derived, expr: a * 2, input_metrics: [a]}
        """),
    )
    msgs = issues_of(root)
    assert any("cycle among metrics: a → b → a" in m for m in msgs)


def test_ratio_of_rates_is_rejected(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        BASE
        + textwrap.dedent("""\
        metrics:
          - {name: n, measure: n}
          - {name: avg, measure: avg_amount}
          - {name: bad, type: ratio, numerator: avg, denominator: n}
        """),
    )
    (msg,) = issues_of(root)
    assert "metrics[2].numerator: ratio of non-additive parts: 'avg' is aggregated with average" in msg


def test_duplicate_names_and_duplicate_yaml_keys(tmp_path: Path) -> None:
    root = write(tmp_path, BASE + "metrics:\n  - {name: gmv, measure: amount}\n")
    write(root, "metrics:\n  - name: gmv\n    measure: amount\n    measure: n\n", name="z.yaml")
    msgs = issues_of(root)
    assert "models/z.yaml:4 metrics[0].measure: duplicate key 'measure'" in msgs
    assert any(
        m.startswith("models/z.yaml:2 metrics[0].name: duplicate metric 'gmv' (first defined at models/m.yaml:13")
        for m in msgs
    )


def test_filter_must_use_known_dimensions_and_valid_syntax(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        BASE
        + textwrap.dedent("""\
        metrics:
          - {name: east, measure: amount, filter: "regon = 'east'"}
          - {name: broken, measure: amount, filter: "region = "}
        """),
    )
    msgs = issues_of(root)
    assert (
        msgs[0] == "models/m.yaml:13 metrics[0].filter: filter uses unknown dimension 'regon' (did you mean 'region'?)"
    )
    assert msgs[1].startswith("models/m.yaml:14 metrics[1].filter: expected a value")


def test_yaml_syntax_error_has_the_line(tmp_path: Path) -> None:
    root = write(tmp_path, "metrics:\n  - name: a\n   bad: [\n")
    with pytest.raises(ConfigError) as err:
        load_catalog(root)
    assert str(err.value).startswith("models/m.yaml:3: invalid YAML")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        BASE
        + textwrap.dedent("""\
        metrics:
          - {name: Bad-Name, measure: amount}
          - {name: x, type: ratio, numerator: gmv}
          - {name: y, type: derived, expr: "a +", input_metrics: [x]}
        """),
    )
    msgs = issues_of(root)
    assert len(msgs) == 3
    assert "metrics[0].name: 'Bad-Name' is not a valid name" in msgs[0]
    assert "a ratio metric needs 'denominator'" in msgs[1]
    assert "cannot parse formula" in msgs[2]


def test_demo_catalog_is_valid_and_has_the_governance_envelope() -> None:
    from metricloop.catalog.models import Tier
    from metricloop.scaffold import DEMO_TEMPLATE

    catalog = load_catalog(DEMO_TEMPLATE)
    assert len(catalog.metrics) >= 15
    gmv = catalog.metric("gmv")
    assert gmv.tier is Tier.north_star
    assert gmv.label
    assert gmv.label.zh_cn == "成交额"
    assert gmv.business_definition
    assert gmv.business_definition.zh_cn
    assert gmv.business_definition.en
    assert gmv.owners.business
    assert {m.type.value for m in catalog.metrics.values()} >= {"simple", "ratio", "derived", "cumulative"}
    hits = [m.name for m in catalog.search("销售额")]
    assert hits[0] == "gmv"
    assert "net_gmv" in hits
