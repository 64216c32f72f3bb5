"""The seasonal baseline after a long masked stretch (a festival): a slot left with 2-3 values must
not be judged by their spread alone, and a real drop must still alarm."""

from __future__ import annotations

import numpy as np
import pytest

from metricloop.detect import SeriesBatch, run_detector
from metricloop.detect.types import Detection

NOISE = 3.0  # sigma of the daily noise around a weekly pattern of 100 (weekdays) / 80 (weekends)
END = 25 * 7  # the festival ends here; the lookback is 8 weeks
AFTER = slice(END, END + 4 * 7)  # four weeks whose baseline has 3 values per weekday


def festival_batch(n_series: int, seed: int = 0, weeks: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, timestamps, known): 30 weeks; the festival's last ``weeks`` weeks before ``END``
    are 60 % up and muted, so 8 − ``weeks`` values per weekday remain just after it."""
    rng = np.random.default_rng(seed)
    t = np.arange(30 * 7)
    weekly = np.where(t % 7 >= 5, 80.0, 100.0)
    values = weekly[None, :] + rng.normal(0, NOISE, (n_series, len(t)))
    festival = slice(END - weeks * 7, END)
    values[:, festival] *= 1.6
    known = np.zeros(values.shape, dtype=bool)
    known[:, festival] = True
    return values, np.datetime64("2024-01-01") + t.astype("timedelta64[D]"), known


def detect(values: np.ndarray, ts: np.ndarray, known: np.ndarray, min_history: int = 3) -> Detection:
    return run_detector(SeriesBatch(values, ts, grain="day", known_anomalies=known), "seasonal",
                        {"warning": 4, "critical": 6, "min_history": min_history})


@pytest.mark.parametrize("left", [2, 3])
def test_a_slot_with_few_close_values_keeps_a_band_as_wide_as_the_noise(left: int) -> None:
    values, ts, known = festival_batch(1, weeks=8 - left)
    tuesday = END + 1  # the first Tuesday after the festival: its baseline is ``left`` Tuesdays
    close = [100.0, 100.2, 99.9][:left]  # by chance nearly equal
    values[0, [tuesday - 7 * (8 - k) for k in range(left)]] = close
    values[0, tuesday] = 100 + 2 * NOISE  # an ordinary day
    values[0, tuesday + 7] = 75.0  # a real drop, -25 %, the next Tuesday (still ``left`` values)
    det = detect(values, ts, known, min_history=left)
    assert det.expected[0, tuesday] == pytest.approx(np.median(close))
    # the band reflects the series' noise, not the 0.1-0.3 spread of those values
    half_sigmas = (det.upper[0, tuesday] - det.expected[0, tuesday]) / 4
    assert half_sigmas > NOISE
    assert not det.flagged[0, tuesday]
    assert det.flagged[0, tuesday + 7]


def test_few_values_per_slot_do_not_raise_false_alarms_on_noise() -> None:
    values, ts, known = festival_batch(40)
    det = detect(values, ts, known)
    # 1120 ordinary points judged against 3 values per weekday: with a scale from the MADs of
    # 3 values about 1 % of them alarmed (10 here); the pooled error scale keeps them quiet
    assert int(det.flagged[:, AFTER].sum()) <= 1
    drops = values.copy()
    days = [25 * 7 + 3, 26 * 7 + 2, 27 * 7 + 4, 28 * 7 + 1]
    for i, day in enumerate(days):
        drops[i, day] *= 0.6  # -40 %, on a weekday whose baseline is 3 values
    hit = detect(drops, ts, known)
    assert all(hit.flagged[i, day] for i, day in enumerate(days))


def test_the_seasonal_detector_is_causal() -> None:
    values, ts, known = festival_batch(3, seed=4)
    full = detect(values, ts, known)
    prefix = detect(values[:, :190], ts[:190], known[:, :190])
    np.testing.assert_allclose(full.score[:, :190], prefix.score)
    np.testing.assert_allclose(full.upper[:, :190], prefix.upper)
