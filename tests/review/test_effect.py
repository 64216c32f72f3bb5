"""Effect verification on series whose truth is known: the verdicts, and intervals that cover the
true recovery."""

from __future__ import annotations

import numpy as np
import pytest

from metricloop.review.effect import effective_index, verify_effect

N, INC, FIX = 96, 24, 48  # hourly: normal day, incident from hour 24, fix from hour 48


def series(recovered_share: float, seed: int, noise: float = 3.0, drop: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    expected = 100 + 10 * np.sin(np.arange(N) / 24 * 2 * np.pi)
    actual = expected + rng.normal(0, noise, N)
    actual[INC:FIX] -= drop
    actual[FIX:] -= drop * (1 - recovered_share)
    return actual, expected


@pytest.mark.parametrize(("share", "verdict"), [(1.0, "recovered"), (0.9, "recovered"),
                                                (0.5, "partially_recovered"), (0.0, "not_recovered"),
                                                (-0.5, "not_recovered")])
def test_verdict_follows_the_share_of_the_shortfall_that_came_back(share: float, verdict: str) -> None:
    actual, expected = series(share, seed=4)
    r = verify_effect(actual, expected, FIX, start_index=INC)
    assert r.verdict == verdict
    assert r.recovery is not None and abs(r.recovery - share) < 0.1
    assert r.effect is not None and abs(r.effect - 30 * share) < 3  # in the metric's unit


def test_the_interval_covers_the_true_recovery_most_of_the_time() -> None:
    covered = 0
    for seed in range(40):
        actual, expected = series(0.6, seed=seed, noise=6.0)
        r = verify_effect(actual, expected, FIX, start_index=INC, confidence=0.9, seed=seed)
        assert r.recovery_ci is not None
        covered += r.recovery_ci[0] <= 0.6 <= r.recovery_ci[1]
    assert covered >= 30  # nominal 90%; a block bootstrap on 24 points is a little narrow


def test_without_measurable_damage_only_the_level_after_the_fix_counts() -> None:
    actual, expected = series(1.0, seed=2, drop=0.0)
    r = verify_effect(actual, expected, FIX, start_index=INC)
    assert (r.verdict, r.recovery) == ("recovered", None)
    actual[FIX:] -= 30
    assert verify_effect(actual, expected, FIX, start_index=INC).verdict == "not_recovered"


def test_missing_points_are_ignored() -> None:
    actual, expected = series(1.0, seed=3)
    actual[FIX:FIX + 10] = np.nan
    r = verify_effect(actual, expected, FIX, start_index=INC)
    assert r.verdict == "recovered" and r.n_after == N - FIX - 10


def test_too_few_points_is_insufficient_data() -> None:
    actual, expected = series(1.0, seed=1)
    assert verify_effect(actual, expected, N - 2, start_index=INC).verdict == "insufficient_data"


def test_effective_index_finds_the_first_point_at_or_after_the_fix() -> None:
    ts = np.arange("2026-04-14T00", "2026-04-15T00", dtype="datetime64[h]")
    assert effective_index(ts, np.datetime64("2026-04-14T09:30")) == 10
    assert effective_index(ts, np.datetime64("2026-04-14T09:00")) == 9


def test_summary_is_bilingual() -> None:
    actual, expected = series(0.5, seed=4)
    r = verify_effect(actual, expected, FIX, start_index=INC)
    assert r.summary("zh-CN").startswith("部分恢复：恢复了")
    assert r.summary("en").startswith("partially recovered:")
