"""Feedback labels change precision, baselines and band width, as documented."""

from __future__ import annotations

import numpy as np
import pytest

from metricloop.detect import Feedback, Label, MonitorSpec, evaluate_monitor, precision, sensitivity_multiplier
from metricloop.detect.feedback import baseline_resets, known_anomaly_mask, tune_params
from metricloop.detect.types import SeriesBatch
from tests.detect.helpers import daily


def test_precision_counts_confirmed_and_new_normal_as_real() -> None:
    p = precision(["confirmed", "confirmed", "false_alarm", "expected", "new_normal"])
    assert (p.labelled, p.false_alarms) == (5, 1)
    assert p.precision == pytest.approx(3 / 5)
    assert precision([]).precision is None


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ([], 1.0),
        (["false_alarm"], 1.0),  # 1/6 smoothed rate, below the 20 % target
        (["false_alarm"] * 12 + ["confirmed"] * 8, 1.7),  # the docstring's example
        (["false_alarm"] * 200, 1 + 2.5 * (200 / 205 - 0.2)),
        (["false_alarm"] * 10_000, 1 + 2.5 * (10_000 / 10_005 - 0.2)),
    ],
)
def test_band_widening_rule(labels: list[str], expected: float) -> None:
    m = sensitivity_multiplier(labels)
    assert m == pytest.approx(expected, rel=1e-6)
    assert 1.0 <= m <= 3.0


def test_tune_params_multiplies_sensitivity() -> None:
    assert tune_params({"warning": 3, "sensitivity": 1.5}, 2.0) == {"warning": 3, "sensitivity": 3.0}


def test_resets_and_known_anomalies_per_slice() -> None:
    keys = [{"region": "east"}, {"region": "west"}]
    ts = np.datetime64("2024-01-01") + np.arange(10).astype("timedelta64[D]")
    fb = [
        Feedback("a", Label.NEW_NORMAL, {"region": "east"}, ts[3], ts[3]),
        Feedback("b", Label.NEW_NORMAL, {"region": "east"}, ts[6], ts[7]),
        Feedback("c", Label.CONFIRMED, {"region": "west"}, ts[2], ts[4]),
    ]
    resets = baseline_resets(fb, keys)
    assert resets[0] == ts[6]
    assert np.isnat(resets[1])
    mask = known_anomaly_mask(fb, keys, ts)
    assert mask[1].tolist() == [False, False, True, True, True, False, False, False, False, False]
    assert not mask[0].any()


def _step_batch() -> SeriesBatch:
    b = daily(n_points=180, n_series=1)
    v = b.values.copy()
    v[0, 120:] += 40
    return SeriesBatch(v, b.timestamps, grain="day", keys=({},))


def test_new_normal_label_stops_alerts_on_the_new_level() -> None:
    spec = MonitorSpec(name="m", metric="x", detectors=[{"type": "seasonal"}])
    batch = _step_batch()
    before = evaluate_monitor(spec, batch)
    step = batch.timestamps[120]
    fb = [Feedback(before.active_events[0].fingerprint, Label.NEW_NORMAL, {}, step, step)]
    after = evaluate_monitor(spec, batch, feedback=fb)
    # without the label the old baseline keeps alerting for weeks; with it, nothing after the step
    assert any(e.end >= batch.timestamps[130] for e in before.active_events)
    assert not any(e.end > batch.timestamps[120] for e in after.active_events)


def test_false_alarms_widen_the_band() -> None:
    spec = MonitorSpec(name="m", metric="x", detectors=[{"type": "seasonal"}])
    batch = daily(n_points=120, n_series=1)
    fb = [Feedback(str(i), Label.FALSE_ALARM, {}, batch.timestamps[0], batch.timestamps[0]) for i in range(20)]
    plain = evaluate_monitor(spec, batch)
    tuned = evaluate_monitor(spec, batch, feedback=fb)
    assert tuned.sensitivity > 1.5
    width = np.nanmean(tuned.upper - tuned.lower) / np.nanmean(plain.upper - plain.lower)
    assert width == pytest.approx(tuned.sensitivity, rel=1e-6)
