"""Detectors find injected anomalies, respect direction and severity levels, and stay causal."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

from metricloop.detect import Direction, Severity, available, run_detector
from metricloop.detect.base import Detector, DetectorParams, band_detection
from metricloop.detect.registry import register
from metricloop.detect.types import Detection, SeriesBatch
from metricloop.errors import ConfigError, NotFoundError
from tests.detect.helpers import daily, hourly, with_values


def test_builtins_are_registered() -> None:
    names = set(available())
    assert {"threshold", "change_rate", "seasonal", "forecast", "level_shift", "trend", "missing",
            "composite", "default"} <= names


@pytest.mark.parametrize("name", ["seasonal", "forecast", "default"])
def test_band_detectors_find_a_drop_and_stay_quiet_elsewhere(name: str) -> None:
    b = hourly(n_points=24 * 7 * 6)
    v = b.values.copy()
    v[1, 900:906] -= 60  # a 6-hour outage on series 1
    det = run_detector(with_values(b, v), name)
    assert det.flagged[1, 900:906].any()
    # series 0 and 2 are clean: (almost) nothing flagged
    assert det.flagged[[0, 2]].mean() < 0.01
    i, t = 1, 900 + int(np.argmax(det.score[1, 900:906]))
    reason = det.reason(i, t)
    assert reason is not None
    assert reason.en
    assert reason.zh


def test_direction_up_ignores_drops_and_down_ignores_rises() -> None:
    b = daily()
    v = b.values.copy()
    v[0, 150] -= 40
    v[1, 150] += 40
    batch = with_values(b, v)
    up = run_detector(batch, "seasonal", {"direction": "up"})
    down = run_detector(batch, "seasonal", {"direction": "down"})
    assert not up.flagged[0, 150]
    assert up.flagged[1, 150]
    assert down.flagged[0, 150]
    assert not down.flagged[1, 150]


def test_severity_levels_warning_then_critical() -> None:
    b = daily()
    v = b.values.copy()
    v[0, 150] += 5  # ~5 sigma: warning band is 3, critical 8
    v[0, 160] += 30
    det = run_detector(with_values(b, v), "seasonal", {"warning": 3, "critical": 8})
    assert det.severity[0, 150] == Severity.WARNING
    assert det.severity[0, 160] == Severity.CRITICAL


def test_static_threshold_levels_and_sensitivity() -> None:
    b = daily(n_points=20)
    v = np.full(b.values.shape, 50.0)
    v[0, 5], v[0, 6], v[0, 7] = 105, 130, 5
    det = run_detector(with_values(b, v), "threshold",
                       {"upper_warning": 100, "upper_critical": 120, "lower_warning": 10})
    assert [det.severity[0, t] for t in (4, 5, 6, 7)] == [0, 1, 2, 1]
    wider = run_detector(with_values(b, v), "threshold", {"upper_warning": 100, "sensitivity": 1.1})
    assert wider.severity[0, 5] == Severity.NONE  # 105 is inside 100 widened by 10 %


def test_change_rate_vs_last_week() -> None:
    b = daily()
    v = b.values.copy()
    v[0, 100] *= 0.6  # -40 % against the same weekday last week
    det = run_detector(with_values(b, v), "change_rate", {"compare": "week", "warning": 0.2, "critical": 0.35})
    assert det.severity[0, 100] == Severity.CRITICAL
    assert det.expected[0, 100] == b.values[0, 93]
    assert "same period last week" in det.reason(0, 100).en  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="compare"):
        run_detector(with_values(b, v), "change_rate", {"compare": "day"})  # no "yesterday" for day grain


def test_level_shift_and_trend() -> None:
    b = daily(n_points=120, n_series=1)
    v = b.values.copy()
    v[0, 80:] += 15  # weekly pattern 80/100, noise 1
    shift = run_detector(with_values(b, v), "level_shift", {"window": 5, "reference": 28})
    assert shift.flagged[0, 80:90].any()
    x = np.full((1, 40), 100.0)
    x[0, 20:30] = 100 - 3 * np.arange(1, 11)  # ten declines in a row, -30 %
    tr = run_detector(SeriesBatch(x, b.timestamps[:40], grain="day"), "trend", {"direction": "down"})
    assert tr.severity[0, 24] == Severity.WARNING  # 5th decline
    assert tr.severity[0, 27] == Severity.CRITICAL  # 8th decline
    assert "fallen" in tr.reason(0, 27).en  # type: ignore[union-attr]


def test_missing_data_runs() -> None:
    b = daily(n_points=30, n_series=1)
    v = b.values.copy()
    v[0, :3] = np.nan  # before any data: not an alert
    v[0, 10:14] = np.nan
    det = run_detector(with_values(b, v), "missing", {"warning": 1, "critical": 3})
    assert not det.flagged[0, :3].any()
    assert [int(det.severity[0, t]) for t in range(10, 14)] == [1, 1, 2, 2]


def test_composite_requires_both_metrics() -> None:
    b = daily(n_points=100, n_series=2)
    conv = b.values.copy()
    traffic = b.values.copy()
    conv[:, 90] *= 0.5  # conversion drops on both slices
    traffic[1, 90] *= 0.5  # traffic drops on slice 1 only
    batch = SeriesBatch(conv, b.timestamps, grain="day", context={"traffic": traffic})
    params = {"op": "all", "rules": [
        {"metric": "self", "type": "change_rate", "params": {"compare": "week", "direction": "down"}},
        {"metric": "traffic", "type": "change_rate", "params": {"compare": "week", "direction": "down"}},
    ]}
    det = run_detector(batch, "composite", params)
    assert not det.flagged[0, 90]
    assert det.flagged[1, 90]
    assert " and " in det.reason(1, 90).en  # type: ignore[union-attr]


def test_known_anomalies_are_masked_from_the_seasonal_baseline() -> None:
    b = daily(n_points=120, n_series=1)
    v = b.values.copy()
    weeks = [70, 77, 84, 91, 98]
    v[0, weeks] -= 50  # the same weekday was broken for five weeks
    known = np.zeros(v.shape, bool)
    known[0, weeks[:-1]] = True
    plain = run_detector(with_values(b, v), "seasonal", {"lookback": 8})
    masked = run_detector(SeriesBatch(v, b.timestamps, grain="day", known_anomalies=known), "seasonal",
                          {"lookback": 8})
    assert masked.expected[0, 98] > plain.expected[0, 98] + 20
    assert masked.flagged[0, 98]


def test_reset_at_restarts_the_baseline() -> None:
    b = daily(n_points=160, n_series=2)
    v = b.values.copy()
    v[:, 100:] += 40  # a permanent step on both series
    reset = np.array([b.timestamps[100], np.datetime64("NaT")])
    batch = SeriesBatch(v, b.timestamps, grain="day", reset_at=reset)
    det = run_detector(batch, "seasonal")
    # series 0 learned the new level from scratch: no alerts once it has 3 weeks of history
    assert not det.flagged[0, 125:].any()
    assert det.flagged[1, 100:120].sum() > 10  # series 1 keeps alerting on the step


def test_default_detector_is_causal() -> None:
    b = hourly(n_points=900, n_series=2, seed=5)
    full = run_detector(b, "default")
    prefix = run_detector(b.take(slice(None), slice(0, 600)), "default")
    np.testing.assert_allclose(full.score[:, :600], prefix.score)
    assert ((full.score >= 0) & (full.score < 1)).all()


def test_bad_params_name_the_field() -> None:
    with pytest.raises(ConfigError) as err:
        run_detector(daily(), "seasonal", {"lookbak": 4})
    assert "lookbak" in str(err.value)
    with pytest.raises(NotFoundError, match="seasonal"):
        run_detector(daily(), "no_such_detector")


def test_a_plugin_registers_like_a_builtin() -> None:
    @register
    class MeanBand(Detector):
        name: ClassVar[str] = "test_mean_band"

        def detect(self, batch: SeriesBatch, params: DetectorParams) -> Detection:
            mean = np.nanmean(batch.values, axis=1, keepdims=True) * np.ones_like(batch.values)
            return band_detection(self.name, batch, mean, np.ones_like(mean), params)

    assert "test_mean_band" in available()
    v = np.array([[1.0, 1.0, 9.0, 1.0]])
    det = run_detector(SeriesBatch(v, np.arange(4).astype("datetime64[D]")), "test_mean_band",
                       {"direction": Direction.UP, "warning": 2})
    assert det.flagged.tolist() == [[False, False, True, False]]
