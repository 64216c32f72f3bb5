"""Small, noisy leaves (counts of a few orders) and hierarchies (province → region), as in real data."""

from __future__ import annotations

from itertools import product

import numpy as np
import pandas as pd
import pytest

from metricloop.explain import leaf_table, localize
from metricloop.explain.noise import choose_grain, leaf_noise, noise_profile
from tests.explain.synth import additive_case

PROVINCES = 20
REGION_OF = {f"p{k}": f"r{k // 4}" for k in range(PROVINCES)}


def count_case(seed: int, *, total: float = 1500.0, slice_: dict[str, str] | None = None,
               factor: float = 0.3) -> pd.DataFrame:
    """Orders over a few hours: Poisson counts per (province, channel, category, buyer_type) leaf.

    The baseline is itself an observed period (last week), so both sides are noisy. Provinces
    and channels have very different sizes, most leaves hold a handful of orders. ``slice_``
    (if given) falls to ``factor`` of its usual level in the actual period.
    """
    rng = np.random.default_rng(seed)
    w_province = 1.0 / np.arange(1, PROVINCES + 1)
    w_channel = np.array([0.45, 0.3, 0.15, 0.1])
    w_category = rng.dirichlet(np.full(8, 5.0))
    w_buyer = np.array([0.7, 0.3])
    rows = []
    for (p, wp), (c, wc), (g, wg), (b, wb) in product(
        enumerate(w_province / w_province.sum()), enumerate(w_channel), enumerate(w_category), enumerate(w_buyer)
    ):
        rows.append({"region": REGION_OF[f"p{p}"], "province": f"p{p}", "channel": ["app", "web", "mini", "store"][c],
                     "category": f"g{g}", "buyer_type": ["returning", "new"][b], "mu": total * wp * wc * wg * wb})
    frame = pd.DataFrame(rows)
    inside = np.ones(len(frame), dtype=bool)
    for dim, value in (slice_ or {}).items():
        inside &= (frame[dim] == value).to_numpy()
    mu = frame.pop("mu").to_numpy()
    frame["expected"] = rng.poisson(mu).astype(float)
    frame["actual"] = rng.poisson(np.where(inside if slice_ else False, mu * factor, mu)).astype(float)
    return frame


def test_noise_is_judged_among_leaves_of_similar_size() -> None:
    frame = count_case(1, total=20000.0)
    table = leaf_table(frame)
    sigma = leaf_noise(table)
    volume = table.volume()
    small, big = volume < np.quantile(volume, 0.2), volume > np.quantile(volume, 0.8)
    # Poisson counts: a leaf of ~n orders swings by ~sqrt(2/n); the biggest leaves are far calmer
    assert sigma[small].mean() > 3 * sigma[big].mean()
    assert np.all(np.diff(sigma[np.argsort(volume)]) <= 1e-12)  # never noisier for being bigger


@pytest.mark.parametrize("seed", range(3))
def test_small_counts_are_judged_as_counts(seed: int) -> None:
    # Poisson counts: the relative deviation of a leaf of mean n swings by sqrt(2/n), with no part
    # proportional to size. Binning leaves by the larger of the two periods had filed a 1 -> 3
    # jump among the leaves of 3 and fitted a spurious proportional noise of up to 40 % (and a
    # per-unit 3), which made every pooled slice look far noisier than it is.
    profile = noise_profile(leaf_table(count_case(seed)))
    assert profile.base < 0.1
    assert 1.5 < profile.per_unit < 2.5


def test_proportional_noise_gives_one_scale_and_no_pooling() -> None:
    frame, _ = additive_case(3, layer=2, count=1)
    table = leaf_table(frame)
    sigma = leaf_noise(table)
    assert sigma.max() <= 1.5 * sigma.min()
    keep, _, _ = choose_grain(table, noise_profile(table), threshold=0.148, min_share=0.5)
    assert keep == tuple(range(len(table.dims)))
    assert localize(frame).searched is None


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("slice_", "factor"), [({"channel": "app"}, 0.3), ({"category": "g2"}, 0.2),
                                                ({"channel": "mini"}, 3.0)])
def test_a_move_spread_over_many_small_leaves_is_found(seed: int, slice_: dict[str, str], factor: float) -> None:
    frame = count_case(seed, slice_=slice_, factor=factor)
    result = localize(frame)
    assert result.causes, result.to_dict()
    assert result.causes[0].element.to_dict() == slice_
    assert result.searched is not None and set(slice_) <= set(result.searched)  # small leaves were pooled
    note = result.notes[-1]
    assert "summed over" in note.render("en")
    assert "已合并" in note.render("zh-CN")


@pytest.mark.parametrize("seed", range(5))
def test_an_interaction_of_small_leaves_is_not_pooled_away(seed: int) -> None:
    # Web orders fail in the biggest province only: about 8 % of the orders, one leaf of a
    # province x channel table, while each (province, channel, category, buyer) leaf holds a
    # handful. Neither the province's nor the channel's total moves much, so pooling by the
    # dimensions' own totals summed the channel (or the province) away and nothing was found
    # (0 of 30 seeds); the pair is a slice that moved apart from its siblings, and pooling stops
    # before it would merge that abnormal leaf with them (29 of 30 seeds). Its region is not
    # named instead: the region's other provinces did not move.
    slice_ = {"province": "p0", "channel": "web"}
    result = localize(count_case(seed, slice_=slice_, factor=0.25))
    assert result.causes, result.to_dict()
    assert result.causes[0].element.to_dict() == slice_
    assert result.searched is not None and {"province", "channel"} <= set(result.searched)


def test_pure_count_noise_reports_no_cause() -> None:
    found = [localize(count_case(seed)).causes for seed in range(10)]
    assert sum(1 for causes in found if causes) <= 1, [[str(c.element) for c in f] for f in found]


def test_hierarchy_is_detected_and_a_province_is_not_named_twice() -> None:
    frame, _ = additive_case(4, causes=[], noise=0.01)
    # add a region column that province determines (p1, p2 → r1; p3.. → r2)
    frame["region"] = frame["province"].map(lambda p: "r1" if p in ("p1", "p2") else "r2")
    inside = ((frame["province"] == "p3") & (frame["channel"] == "c2")).to_numpy()
    frame.loc[inside, "actual"] = frame.loc[inside, "expected"] * 0.4
    table = leaf_table(frame)
    assert table.implied() == {table.dims.index("region"): table.dims.index("province")}
    result = localize(frame)
    assert [c.element.to_dict() for c in result.causes] == [{"province": "p3", "channel": "c2"}]


def test_a_whole_region_is_named_by_its_region() -> None:
    frame, _ = additive_case(8, causes=[], noise=0.01)
    frame["region"] = frame["province"].map(lambda p: "r1" if p in ("p1", "p2") else "r2")
    inside = (frame["region"] == "r1").to_numpy()
    frame.loc[inside, "actual"] = frame.loc[inside, "expected"] * 0.5
    result = localize(frame)
    assert [c.element.to_dict() for c in result.causes] == [{"region": "r1"}]


def test_sparse_ratio_leaves_are_pooled_for_the_rate() -> None:
    # payment success per (province, channel, method): a few attempts per leaf, one slice fails
    rng = np.random.default_rng(5)
    rows = []
    for p, c, m in product(range(12), ["app", "web", "mini"], ["wechat", "alipay", "card", "union"]):
        n = 3.0 + 30.0 / (p + 1)
        attempts_e, attempts_a = rng.poisson(n), rng.poisson(n)
        p_ok = 0.3 if (c == "app") else 0.97
        rows.append({"province": f"p{p}", "channel": c, "method": m,
                     "expected_den": float(attempts_e), "expected_num": float(rng.binomial(attempts_e, 0.97)),
                     "actual_den": float(attempts_a), "actual_num": float(rng.binomial(attempts_a, p_ok))})
    result = localize(pd.DataFrame(rows))
    assert result.kind == "ratio"
    assert result.causes[0].element.to_dict() == {"channel": "app"}

