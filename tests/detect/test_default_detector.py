"""The default detector: weekly seasonal baseline, warm-up by grain, shared/per-series phases."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from metricloop.detect import Feedback, Label, MonitorSpec, evaluate_monitor, run_detector
from metricloop.detect.detectors.default import (
    DefaultParams,
    effective_warmup,
    seasonal_phase,
    streaming_scores,
)
from metricloop.detect.types import SeriesBatch


def _business_hours(n_series: int, weeks: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Hourly KPI: busy office hours, quiet nights, weekends at 40 % of weekdays, 3 % noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(24 * 7 * weeks)
    hour, weekday = t % 24, (t // 24) % 7  # 2024-01-01 is a Monday
    shape = 0.2 + 0.8 * np.exp(-0.5 * ((hour - 14) / 3.5) ** 2)
    mean = 1000 * shape * np.where(weekday >= 5, 0.4, 1.0)
    values = mean[None, :] * (1 + 0.03 * rng.standard_normal((n_series, t.size)))
    ts = np.datetime64("2024-01-01T00:00") + t.astype("timedelta64[h]")
    return values, ts


def test_seasonal_phase_is_the_slot_of_the_week() -> None:
    hourly = np.datetime64("2024-01-01T00:00") + np.arange(200).astype("timedelta64[h]")  # a Monday
    phase, period = seasonal_phase(hourly)
    assert period == 168
    assert phase[0] == 0 and phase[25] == 25 and phase[168] == 0
    five_min = np.datetime64("2024-01-06T10:00") + (5 * np.arange(30)).astype("timedelta64[m]")  # Saturday
    phase, period = seasonal_phase(five_min)
    assert period == 168
    assert set(phase[:12]) == {5 * 24 + 10}  # one slot per hour: 12 points share it
    daily = np.datetime64("2024-01-03") + np.arange(10).astype("timedelta64[D]")  # a Wednesday
    phase, period = seasonal_phase(daily)
    assert period == 7 and phase[0] == 2
    weekly = np.datetime64("2024-01-01") + (7 * np.arange(10)).astype("timedelta64[D]")
    assert seasonal_phase(weekly)[1] == 1


def test_weekends_and_nights_are_normal_but_a_night_at_day_level_is_not() -> None:
    values, ts = _business_hours(n_series=4, weeks=6, seed=3)
    # series 0, Wednesday of week 5, 02:00-05:00: the daytime level in the middle of the night
    # (inside the series' usual range, so only a seasonal baseline can tell)
    start = 24 * 7 * 4 + 24 * 2 + 2
    values[0, start : start + 4] = 1000.0
    det = run_detector(SeriesBatch(values=values, timestamps=ts, grain="hour"), "default")
    assert det.flagged[0, start : start + 4].any()
    learned = slice(24 * 7 * 2, None)  # after two weeks every hour of the week has been seen
    # clean series: weekends and nights are not alarms (fewer than one per series in 4 weeks)
    assert det.flagged[1:, learned].sum() < 3
    # the band follows the season: a night's expectation is far below an afternoon's
    night, afternoon = start - 24, start - 24 + 12
    assert det.expected[1, night] < 0.5 * det.expected[1, afternoon]


def test_a_daily_metric_is_scored_after_a_month_not_after_300_days() -> None:
    p = DefaultParams()
    assert effective_warmup(p, 7) == 30
    assert effective_warmup(p, 168) == p.warmup
    rng = np.random.default_rng(4)
    values = 100 + rng.normal(0, 2, (1, 120))
    values[0, 80] = 160
    ts = np.datetime64("2024-01-01") + np.arange(120).astype("timedelta64[D]")
    det = run_detector(SeriesBatch(values=values, timestamps=ts, grain="day"), "default")
    assert det.flagged[0, 80]
    assert not det.flagged[0, :30].any()


def test_shared_and_per_series_phases_give_the_same_scores() -> None:
    values, ts = _business_hours(n_series=3, weeks=3, seed=5)
    values[1, 400:406] *= 0.4
    phase, period = seasonal_phase(ts)
    p = DefaultParams()
    shared = streaming_scores(values, p, phase, period)
    per_series = streaming_scores(values, p, np.tile(phase, (3, 1)), period)
    np.testing.assert_allclose(shared["score"], per_series["score"])
    np.testing.assert_allclose(shared["expected"], per_series["expected"])


def test_direction_down_ignores_a_rise() -> None:
    values, ts = _business_hours(n_series=2, weeks=4, seed=6)
    at = 24 * 7 * 3 + 14  # a Monday afternoon
    values[0, at] *= 1.8
    values[1, at] *= 0.3
    batch = SeriesBatch(values=values, timestamps=ts, grain="hour")
    down = run_detector(batch, "default", {"direction": "down"})
    both = run_detector(batch, "default")
    assert both.flagged[0, at] and both.flagged[1, at]
    assert not down.flagged[0, at]
    assert down.flagged[1, at]


def test_a_score_never_depends_on_later_points() -> None:
    """Streaming: rewriting the future (another incident, other noise) leaves every earlier score as it was."""
    values, ts = _business_hours(n_series=3, weeks=4, seed=7)
    values[0, 500:510] *= 0.3
    cut = 420  # inside the learning period of the records and after it: both must be causal
    for at in (cut, 24 * 7 * 3):
        future = values.copy()
        rng = np.random.default_rng(at)
        future[:, at + 1 :] = future[:, at + 1 :] * rng.uniform(0.2, 3.0, future[:, at + 1 :].shape)
        phase, period = seasonal_phase(ts)
        before = streaming_scores(values, DefaultParams(), phase, period)
        after = streaming_scores(future, DefaultParams(), phase, period)
        np.testing.assert_array_equal(before["score"][:, : at + 1], after["score"][:, : at + 1])
        np.testing.assert_array_equal(before["expected"][:, : at + 1], after["expected"][:, : at + 1])


def test_no_score_in_the_warm_up_and_one_alert_per_incident() -> None:
    rng = np.random.default_rng(8)
    values = 100 + rng.normal(0, 2, (2, 1500))
    values[0, 900:960] += 25  # an hour-long outage-sized jump: one alert, not sixty
    values[1, 100:103] += 40  # a burst inside the warm-up: nothing is scored there yet
    values[1, 900:903] += 40
    ts = np.datetime64("2024-01-01T00:00") + (5 * np.arange(1500)).astype("timedelta64[m]")
    det = run_detector(SeriesBatch(values=values, timestamps=ts, grain="hour"), "default")
    p = DefaultParams()
    assert not (det.score[:, : p.warmup] > 0).any()
    assert np.flatnonzero(det.flagged[0, 850:1100]).tolist() == [50]
    assert np.flatnonzero(det.flagged[1, 850:1100]).tolist() == [50]


def test_a_huge_incident_does_not_hide_the_next_smaller_one() -> None:
    """A 10x outage spike, then two weeks later a 3x spike: both alert (record_step).

    Without the step limit the first spike becomes the remembered worst surprise and the second,
    obviously abnormal, stays below it for weeks.
    """
    values, ts = _business_hours(n_series=1, weeks=8, seed=5)
    first, second = 24 * 7 * 4 + 24 * 2 + 14, 24 * 7 * 6 + 24 * 2 + 14
    values[0, first] *= 10.0
    values[0, second] *= 3.0
    batch = SeriesBatch(values=values, timestamps=ts, grain="hour")
    det = run_detector(batch, "default")
    assert det.flagged[0, first] and det.flagged[0, second]
    blind = run_detector(batch, "default", {"record_step": None})
    assert blind.flagged[0, first] and not blind.flagged[0, second]



def test_record_step_per_incident_catches_more_business_incidents() -> None:
    """On the seeded business KPIs (dips of hours, level shifts, off-hours surges), limiting the
    record per incident rather than per point keeps the series sensitive after a long incident:
    more incidents caught at the same warning level, and no worse precision."""
    from metricloop.bench.detect import business_report, default_params

    per_point = business_report(seed=2, n_series=60)["rows"][0]
    per_incident = business_report(seed=2, n_series=60, params=default_params(record_step_per="incident"))["rows"][0]
    assert per_incident["detected"] > per_point["detected"]
    assert per_incident["precision"] >= per_point["precision"]
    assert per_incident["f1"] > per_point["f1"]


def _outage_then_drop(seed: int) -> tuple[SeriesBatch, int, int]:
    """A day-long outage at 30 % (Tuesday 08:00), a week later a 6-hour drop to 30 %."""
    values, ts = _business_hours(n_series=1, weeks=8, seed=seed)
    outage, drop = 24 * 7 * 4 + 24 + 8, 24 * 7 * 5 + 24 * 2 + 10
    values[0, outage : outage + 24] *= 0.3
    values[0, drop : drop + 6] *= 0.3
    return SeriesBatch(values=values, timestamps=ts, grain="hour"), outage, drop


def test_a_confirmed_outage_does_not_blind_the_series_to_the_next_one() -> None:
    """Known anomalies (confirmed labels, holidays) are scored but teach nothing: without them
    the outage becomes the worst surprise on record and the second drop stays below it."""
    batch, outage, drop = _outage_then_drop(seed=3)
    known = np.zeros(batch.values.shape, dtype=bool)
    known[0, outage : outage + 24] = True
    plain = run_detector(batch, "default")
    confirmed = run_detector(replace(batch, known_anomalies=known), "default")
    # inside the outage nothing changes: one alert for the incident, as before
    np.testing.assert_array_equal(plain.flagged[0, : drop], confirmed.flagged[0, : drop])
    assert plain.flagged[0, outage : outage + 24].sum() == 1
    assert not plain.flagged[0, drop : drop + 6].any()
    assert confirmed.flagged[0, drop : drop + 6].any()
    assert not confirmed.flagged[0, drop + 6 :].any()


def test_a_confirmed_label_reaches_the_default_detector_through_the_monitor() -> None:
    batch, outage, drop = _outage_then_drop(seed=3)
    batch = replace(batch, keys=({},))
    spec = MonitorSpec(name="m", metric="x", detectors=[{"type": "default"}], direction="down")
    before = evaluate_monitor(spec, batch)
    first = next(e for e in before.active_events if e.start <= batch.timestamps[outage + 23])
    assert not any(batch.timestamps[drop] <= e.start <= batch.timestamps[drop + 5] for e in before.active_events)
    label = Feedback(first.fingerprint, Label.CONFIRMED, {}, batch.timestamps[outage], batch.timestamps[outage + 23])
    after = evaluate_monitor(spec, batch, feedback=[label])
    assert any(batch.timestamps[drop] <= e.start <= batch.timestamps[drop + 5] for e in after.active_events)


def test_a_monitor_without_detectors_stays_sensitive_after_an_incident() -> None:
    """A monitor that names no detector runs ``default`` per incident: on business KPIs it finds
    more incidents than the detector's own per-point default, at no lower precision."""
    from metricloop.bench.detect import business_series, monitor_events_score

    values, labels, ts = business_series(n_series=60, seed=2)
    plain = monitor_events_score([{"type": "default"}], values, labels, ts)
    chosen_for_me = monitor_events_score(None, values, labels, ts)
    assert chosen_for_me["found"] > plain["found"]
    assert chosen_for_me["precision"] >= plain["precision"]
