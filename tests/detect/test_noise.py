"""Noise control rules turn abnormal points into few, ranked events."""

from __future__ import annotations

import datetime as dt

import numpy as np

from metricloop.detect import NoiseSpec, Severity, build_events, fingerprint
from metricloop.detect.monitor import MuteWindow, SeverityPolicy

TS = np.datetime64("2024-03-01T00:00") + np.arange(48).astype("timedelta64[h]")


def events(sev_rows: list[list[int]], noise: NoiseSpec, *, values: np.ndarray | None = None,
           keys: list[dict[str, str]] | None = None, policy: SeverityPolicy | None = None) -> list:
    sev = np.zeros((len(sev_rows), 48), dtype=np.int8)
    for i, idx in enumerate(sev_rows):
        sev[i, idx] = Severity.WARNING
    vals = values if values is not None else np.full(sev.shape, 150.0)
    exp = np.full(sev.shape, 100.0)
    return build_events(monitor="m", timestamps=TS, values=vals, expected=exp, score=sev.astype(float),
                        severity=sev, keys=keys, noise=noise, policy=policy)


def test_consecutive_points_merge_into_one_event_with_impact() -> None:
    evs = events([[10, 11, 12]], NoiseSpec())
    assert len(evs) == 1
    e = evs[0]
    assert (e.start, e.end, e.points) == (TS[10], TS[12], 3)
    assert e.impact == 150.0  # 3 × |150 − 100|


def test_min_deviation_filters_small_moves() -> None:
    vals = np.full((1, 48), 150.0)
    vals[0, 10] = 102.0  # 2 % off
    evs = events([[10, 20]], NoiseSpec(min_rel_deviation=0.05), values=vals)
    assert [e.start for e in evs] == [TS[20]]
    evs = events([[10, 20]], NoiseSpec(min_abs_deviation=60), values=vals)
    assert evs == []


def test_min_share_deviation_judges_a_slice_by_what_it_moves_of_the_whole() -> None:
    """Ten slices expected at 100 each (a whole of 1,000): a slice 50 off moves 5 % of the whole,
    one 5 off only 0.5 % — at any company size, since both scale together."""
    for size in (1.0, 1000.0):
        vals = np.full((10, 48), 100.0 * size)
        vals[0, 10] = 150.0 * size
        vals[1, 20] = 105.0 * size
        sev = np.zeros((10, 48), dtype=np.int8)
        sev[0, 10] = sev[1, 20] = Severity.WARNING
        keys = [{"store": str(i)} for i in range(10)]
        evs = build_events(monitor="m", timestamps=TS, values=vals, expected=np.full((10, 48), 100.0 * size),
                           score=sev.astype(float), severity=sev, keys=keys,
                           noise=NoiseSpec(min_share_deviation=0.02))
        assert [(e.slice, e.start) for e in evs] == [({"store": "0"}, TS[10])], size


def test_consecutive_rule_keeps_whole_runs_only() -> None:
    evs = events([[5, 10, 11, 12, 30, 31]], NoiseSpec(consecutive=3))
    assert [(e.start, e.end) for e in evs] == [(TS[10], TS[12])]


def test_merge_gap_joins_nearby_runs() -> None:
    evs = events([[10, 11, 13, 14, 20]], NoiseSpec(merge_gap=1))
    assert sorted((e.start, e.end) for e in evs) == [(TS[10], TS[14]), (TS[20], TS[20])]


def test_cooldown_suppresses_a_quick_repeat() -> None:
    evs = events([[10, 14, 30]], NoiseSpec(cooldown=5))
    by_start = {e.start: e for e in evs}
    assert by_start[TS[10]].active
    assert by_start[TS[14]].suppressed_by == "cooldown"
    assert by_start[TS[30]].active


def test_mute_windows_and_holidays() -> None:
    noise = NoiseSpec(
        mute=[
            MuteWindow(daily="00:00-06:00"),
            MuteWindow(start=dt.datetime(2024, 3, 1, 20), end=dt.datetime(2024, 3, 1, 22)),
        ],
        holidays=[dt.date(2024, 3, 2)],
    )
    evs = events([[3, 12, 21, 30]], noise)  # 03:00 muted, 12:00 ok, 21:00 muted, day 2 holiday
    assert [e.start for e in evs] == [TS[12]]


def test_child_slice_is_inhibited_when_parent_fires() -> None:
    keys = [{"region": "east"}, {"region": "east", "channel": "app"}, {"region": "west", "channel": "app"}]
    evs = events([[10, 11], [11, 12], [11]], NoiseSpec(), keys=keys)
    by_slice = {tuple(sorted(e.slice.items())): e for e in evs}
    parent = by_slice[(("region", "east"),)]
    assert parent.active
    assert by_slice[(("channel", "app"), ("region", "east"))].suppressed_by == f"parent:{parent.fingerprint}"
    assert by_slice[(("channel", "app"), ("region", "west"))].active  # different parent


def test_events_are_ranked_by_impact() -> None:
    vals = np.full((2, 48), 150.0)
    vals[1] = 400.0
    evs = events([[10], [20]], NoiseSpec(), values=vals, keys=[{"r": "a"}, {"r": "b"}])
    assert [e.slice["r"] for e in evs] == ["b", "a"]


def test_escalation_makes_long_warnings_critical() -> None:
    evs = events([[10, 11, 12, 13]], NoiseSpec(), policy=SeverityPolicy(escalate_after=3))
    assert evs[0].severity is Severity.CRITICAL
    assert events([[10, 11]], NoiseSpec(), policy=SeverityPolicy(min_severity="critical")) == []


def test_fingerprint_is_stable_and_specific() -> None:
    a = fingerprint("m", {"region": "east", "channel": "app"}, TS[10])
    assert a == fingerprint("m", {"channel": "app", "region": "east"}, TS[10])  # key order
    assert a == fingerprint("m", {"channel": "app", "region": "east"}, np.datetime64("2024-03-01T10:00:00"))
    assert a != fingerprint("m", {"region": "east", "channel": "app"}, TS[11])
    assert a != fingerprint("m2", {"region": "east", "channel": "app"}, TS[10])
    assert a != fingerprint("m", {"region": "west", "channel": "app"}, TS[10])
    assert events([[10, 11]], NoiseSpec())[0].fingerprint == fingerprint("m", {}, TS[10])
