"""Exact attributions add up to the parent's change (property tests); estimates say so."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metricloop.errors import QueryError
from metricloop.explain import attribution as attr

money = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-3, max_value=1e4, allow_nan=False, allow_infinity=False)
names = st.lists(st.text("abcdefgh", min_size=1, max_size=4), min_size=1, max_size=6, unique=True)


def close(a: float, b: float, scale: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, scale)


@given(names.flatmap(lambda ns: st.fixed_dictionaries({n: st.tuples(money, money) for n in ns})))
def test_additive_children_sum_exactly(children: dict[str, tuple[float, float]]) -> None:
    res = attr.additive(children)
    assert res.exact
    scale = sum(abs(v) for pair in children.values() for v in pair)
    assert close(sum(d.effect for d in res.drivers), res.change, scale)


def test_additive_signs_and_residual() -> None:
    # ARR = start + new - churn; the given parent is 5 higher than the children explain
    res = attr.additive({"new": (10.0, 30.0), "churn": (5.0, 8.0)}, signs={"churn": -1}, parent=(100.0, 122.0))
    effects = {d.name: d.effect for d in res.drivers}
    assert effects == {"new": 20.0, "churn": -3.0, "residual": 5.0}
    assert res.residual == pytest.approx(0.0)
    assert "residual" in res.notes[0].render("en")


@given(names.flatmap(lambda ns: st.fixed_dictionaries({n: st.tuples(positive, positive) for n in ns})))
def test_lmdi_product_sums_exactly(factors: dict[str, tuple[float, float]]) -> None:
    res = attr.product(factors)
    assert res.method == "lmdi"
    assert res.exact
    scale = abs(res.before) + abs(res.after)
    assert math.isclose(sum(d.effect for d in res.drivers), res.change, rel_tol=1e-9, abs_tol=1e-9 * scale)


def test_lmdi_matches_the_textbook_two_factor_case() -> None:
    # revenue = sessions x value per session; sessions double, value unchanged: all of it is sessions
    res = attr.product({"sessions": (100.0, 200.0), "value": (3.0, 3.0)})
    effects = {d.name: d.effect for d in res.drivers}
    assert effects["sessions"] == pytest.approx(300.0)
    assert effects["value"] == pytest.approx(0.0)


def test_product_with_a_zero_falls_back_to_shapley_with_a_note() -> None:
    res = attr.product({"orders": (0.0, 10.0), "price": (5.0, 6.0)})
    assert res.method == "shapley"
    assert res.exact
    assert any("LMDI" in n.render("en") for n in res.notes)
    effects = {d.name: d.effect for d in res.drivers}
    # two factors: ΔA·(B0+B1)/2 and ΔB·(A0+A1)/2
    assert effects["orders"] == pytest.approx(10 * (5 + 6) / 2)
    assert effects["price"] == pytest.approx(1 * (0 + 10) / 2)
    assert sum(effects.values()) == pytest.approx(60.0)


@given(st.lists(st.tuples(positive, positive, positive, positive), min_size=1, max_size=8))
def test_mix_and_rate_sum_exactly(rows: list[tuple[float, float, float, float]]) -> None:
    # keep numerators at most the denominator (a rate); segments named by position
    segs = {f"s{k}": (min(n0, d0), d0, min(n1, d1), d1) for k, (n0, d0, n1, d1) in enumerate(rows)}
    res = attr.ratio_mix(segs)
    assert res.exact
    assert {d.kind for d in res.drivers} == {"mix", "rate"}
    assert close(sum(d.effect for d in res.drivers), res.change, 1.0)


def test_mix_rate_for_a_segment_that_appears() -> None:
    res = attr.ratio_mix({"old": (10.0, 100.0, 10.0, 100.0), "new": (0.0, 0.0, 30.0, 100.0)})
    eff = {(d.name, d.kind): d.effect for d in res.drivers}
    assert eff[("new", "rate")] == 0.0
    assert res.change == pytest.approx(0.2 - 0.1)
    assert sum(eff.values()) == pytest.approx(res.change)


def formula(x: Mapping[str, float]) -> float:
    return x["a"] * x["b"] / (1 + x["c"] ** 2) + x["d"] - x["e"] * x["a"]


@settings(max_examples=50)
@given(st.lists(st.tuples(money, money), min_size=5, max_size=5))
def test_shapley_exact_sums_and_is_labelled_exact(values: list[tuple[float, float]]) -> None:
    keys = "abcde"
    res = attr.shapley(formula, {k: v[0] for k, v in zip(keys, values, strict=True)},
                       {k: v[1] for k, v in zip(keys, values, strict=True)})
    assert res.exact
    scale = max(1.0, abs(res.before), abs(res.after), *(abs(d.effect) for d in res.drivers))
    assert abs(res.residual) <= 1e-9 * scale


def test_shapley_is_symmetric_and_gives_dummies_nothing() -> None:
    res = attr.shapley(lambda x: x["a"] * x["b"] + 0 * x["z"], {"a": 1.0, "b": 1.0, "z": 1.0},
                       {"a": 2.0, "b": 2.0, "z": 9.0})
    eff = {d.name: d.effect for d in res.drivers}
    assert eff["a"] == pytest.approx(eff["b"])
    assert eff["z"] == pytest.approx(0.0)


def test_many_inputs_are_estimated_and_labelled() -> None:
    keys = [f"x{k}" for k in range(10)]
    res = attr.shapley(lambda x: math.prod(1 + x[k] for k in keys), dict.fromkeys(keys, 0.1),
                       dict.fromkeys(keys, 0.2), samples=200)
    assert res.method == "shapley_sampled"
    assert not res.exact
    assert abs(res.residual) <= 1e-9 * abs(res.change)  # orderings telescope: the sum still holds
    assert "estimate" in res.summary.render("en")
    assert "估计" in res.summary.render("zh-CN")


def test_formula_undefined_at_a_mixed_point_is_a_clear_error() -> None:
    with pytest.raises(QueryError, match="cannot be evaluated"):
        attr.shapley(lambda x: x["n"] / x["d"], {"n": 1.0, "d": 0.0}, {"n": 2.0, "d": 4.0})
