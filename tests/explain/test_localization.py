"""Localization finds injected root causes (additive and ratio), and says so in both languages."""

from __future__ import annotations

import pandas as pd
import pytest

from metricloop.errors import QueryError
from metricloop.explain import LocalizeConfig, localize
from tests.explain.synth import additive_case, element_mask, ratio_case


@pytest.mark.parametrize("layer", [1, 2, 3])
@pytest.mark.parametrize("count", [1, 2, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ours_finds_injected_additive_causes_exactly(layer: int, count: int, seed: int) -> None:
    frame, causes = additive_case(1000 * seed + 10 * layer + count, layer=layer, count=count)
    result = localize(frame)
    assert {c.element.as_set() for c in result.causes} == set(causes)


@pytest.mark.parametrize("layer", [1, 2, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ours_finds_injected_ratio_causes_exactly(layer: int, seed: int) -> None:
    frame, causes = ratio_case(500 + 1000 * seed + layer, layer=layer, count=2)
    result = localize(frame)
    assert result.kind == "ratio"
    assert {c.element.as_set() for c in result.causes} == set(causes)
    for cause in result.causes:  # the rate fell inside every found slice
        assert cause.actual_ratio is not None
        assert cause.expected_ratio is not None
        assert cause.actual_ratio < cause.expected_ratio


def test_causes_carry_the_numbers_of_their_slice() -> None:
    frame, causes = additive_case(7, layer=2, count=1)
    result = localize(frame)
    (cause,) = result.causes
    m = element_mask(frame, causes[0])
    assert cause.actual == pytest.approx(frame.actual[m].sum())
    assert cause.expected == pytest.approx(frame.expected[m].sum())
    assert cause.change == pytest.approx(cause.actual - cause.expected)
    total_change = frame.actual.sum() - frame.expected.sum()
    assert cause.contribution == pytest.approx(cause.change / total_change)
    assert result.explained_share == pytest.approx(cause.contribution)
    assert cause.leaves == int(m.sum())


def test_no_cause_when_nothing_moved_beyond_noise() -> None:
    frame, _ = additive_case(3, causes=[], noise=0.02)
    result = localize(frame)
    assert result.causes == ()
    assert "No slice" in result.summary.render("en")
    assert "没有" in result.summary.render("zh-CN")


def test_summary_and_json_name_the_slice() -> None:
    frame, causes = additive_case(11, layer=1, count=1)
    result = localize(frame)
    (dim, value), = sorted(causes[0])
    assert f"{dim}={value}" in result.summary.render("en")
    assert f"{dim}={value}" in result.summary.render("zh-CN")
    payload = result.to_dict()
    assert payload["causes"][0]["slice"] == {dim: value}
    assert set(payload["summary"]) == {"en", "zh-CN"}


def test_adtributor_baseline_finds_a_one_dimension_cause() -> None:
    frame, causes = additive_case(5, layer=1, count=1)
    result = localize(frame, algorithm="adtributor", config=LocalizeConfig(adtributor_k=1))
    assert causes[0] in {c.element.as_set() for c in result.causes}


def test_adtributor_cannot_express_a_two_dimension_cause() -> None:
    frame, causes = additive_case(6, layer=2, count=1)
    result = localize(frame, algorithm="adtributor")
    assert all(c.element.layer == 1 for c in result.causes)
    assert causes[0] not in {c.element.as_set() for c in result.causes}


def test_riskloc_reference_finds_a_clear_additive_cause() -> None:
    frame, causes = additive_case(8, layer=2, count=1)
    result = localize(frame, algorithm="riskloc")
    assert [c.element.as_set() for c in result.causes] == causes


def test_unknown_algorithm_and_missing_columns_are_clear_errors() -> None:
    frame, _ = additive_case(1, layer=1, count=1)
    with pytest.raises(QueryError, match="unknown localization algorithm 'nope'"):
        localize(frame, algorithm="nope")
    with pytest.raises(QueryError, match="actual, expected"):
        localize(pd.DataFrame({"region": ["a"], "value": [1.0]}))
    with pytest.raises(QueryError, match="dimension"):
        localize(frame, dims=["region"])
    bad = frame.copy()
    bad.loc[3, "actual"] = None
    with pytest.raises(QueryError, match="row 3"):
        localize(bad)


@pytest.mark.parametrize("seed", [1, 2])
def test_ours_names_several_lone_deepest_leaves(seed: int) -> None:
    """RiskLoc's L shape: a few single leaves of a 4-dimension table move, the rest is Gaussian noise."""
    import numpy as np

    from tests.explain.synth import leaves

    rng = np.random.default_rng(seed)
    frame = leaves({"a": 10, "b": 12, "c": 8, "d": 10})
    expected = rng.lognormal(3.0, 1.0, len(frame))
    frame["expected"] = expected
    frame["actual"] = expected * (1 + rng.normal(0, 0.04, len(frame)))
    picked = rng.choice(len(frame), size=4, replace=False)
    frame.loc[picked, "actual"] = frame.loc[picked, "expected"] * 0.65  # ~10 noise scales
    truth = {frozenset((d, str(frame.loc[i, d])) for d in "abcd") for i in picked}
    found = {c.element.as_set() for c in localize(frame, ["a", "b", "c", "d"]).causes}
    assert found == truth


def test_leaf_table_codes_values_as_sorted_text() -> None:
    from metricloop.explain.frame import leaf_table

    frame = pd.DataFrame({"k": [10, 9, "9", 10], "actual": 1.0, "expected": 1.0})
    table = leaf_table(frame)
    assert list(table.labels[0]) == ["10", "9"]
    assert list(table.codes[:, 0]) == [0, 1, 1, 0]
