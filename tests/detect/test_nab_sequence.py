"""The ``nab_sequence`` detector: causal, scale-free, remembers patterns, runs in the bench."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from metricloop.bench import nab
from metricloop.bench.detect import accepts_value_range, data_report, nab_detector_scores
from metricloop.catalog.models import Grain
from metricloop.detect import registry, run_detector
from metricloop.detect.detectors.nab_sequence import NabSequenceParams, block_step, sequence_scores
from metricloop.detect.types import Direction, SeriesBatch

FIXTURES = Path(__file__).parent / "fixtures" / "labelled"
NAB = Path("/work/shared/datasets/anomaly/nab")


def _waves(n_series: int, n: int = 3000, seed: int = 0) -> np.ndarray:
    """A repeating daily-like wave (period 96) with 2 % noise: every pattern recurs."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    base = 100 + 30 * np.sin(2 * np.pi * t / 96)
    return base[None, :] * (1 + 0.02 * rng.standard_normal((n_series, n)))


def _ts(n: int) -> np.ndarray:
    return np.datetime64("2024-01-01T00:00") + (5 * np.arange(n)).astype("timedelta64[m]")


def test_scores_are_causal() -> None:
    x = _waves(1)[0]
    p = NabSequenceParams()
    full = sequence_scores(x[None, :], p)["score"][0]
    changed = x.copy()
    changed[2000:] = 5 * changed[2000:] + 400  # a different future
    other = sequence_scores(changed[None, :], p)["score"][0]
    # the refractory rule compares a point with earlier points only, so the past is unchanged
    np.testing.assert_array_equal(full[:2000], other[:2000])
    assert not np.array_equal(full[2000:], other[2000:])


def test_nothing_is_scored_during_warm_up() -> None:
    x = _waves(1)[0]
    x[100:110] += 500  # an outlier inside the warm-up is learned, not reported
    score = sequence_scores(x[None, :], NabSequenceParams(warmup=400))["score"][0]
    assert not score[:400].any()


def test_a_never_seen_pattern_outscores_everything_normal_and_is_remembered() -> None:
    x = _waves(1)[0]
    x[1500:1520] = x[1500:1520] * 0.4  # a dip to a level the wave never reaches
    x[2500:2520] = x[2500:2520] * 0.4  # the same incident again, a day's waves later
    score = sequence_scores(x[None, :], NabSequenceParams())["score"][0]
    normal = score[300:1490].max()
    first = score[1500:1530].max()
    assert first > normal
    assert first >= NabSequenceParams().warning
    # the incident's pattern is now in memory: its repeat is far less novel than the first time
    assert score[2500:2530].max() < first


def test_series_are_independent_and_the_online_mode_is_scale_free() -> None:
    v = _waves(3, seed=4)
    v[1, 1800:1810] += 60
    p = NabSequenceParams()
    together = sequence_scores(v, p)["score"]
    for i in range(3):
        alone = sequence_scores(v[i : i + 1], p)["score"][0]
        np.testing.assert_allclose(together[i], alone)
    # revenue in cents or in thousands: same scores (the range is estimated online)
    rescaled = sequence_scores(v * 1000.0 - 7.0, p)["score"]
    np.testing.assert_allclose(rescaled, together, atol=1e-6)


def test_nab_protocol_range_changes_the_unit_not_the_contract() -> None:
    x = _waves(1, seed=2)
    x[0, 2200:2205] += 80
    p = NabSequenceParams()
    vr = np.array([[x.min(), x.max()]])
    with_range = sequence_scores(x, p, vr)["score"][0]
    assert not with_range[:300].any()
    assert with_range[2200:2220].max() == with_range[300:].max()  # the spike is the top score


def test_registered_detector_flags_with_a_band_and_bilingual_reasons() -> None:
    v = _waves(2, seed=1)
    v[0, 2000:2006] += 90
    det = run_detector(SeriesBatch(values=v, timestamps=_ts(v.shape[1]), grain=Grain.minute), "nab_sequence")
    assert det.flagged[0, 2000:2030].any()
    t = int(np.flatnonzero(det.flagged[0, 2000:2030])[0]) + 2000
    assert det.lower[0, t] <= det.expected[0, t] <= det.upper[0, t]
    reason = det.reason(0, t)
    assert reason is not None
    assert "pattern" in reason.render("en") and "走势" in reason.render("zh-CN")
    assert det.flagged[1].sum() <= 3  # a clean wave raises almost nothing


def test_direction_up_ignores_drops() -> None:
    v = _waves(1, seed=5)
    v[0, 2000:2010] *= 0.3
    both = sequence_scores(v, NabSequenceParams())["score"][0]
    up = sequence_scores(v, NabSequenceParams(direction=Direction.UP))["score"][0]
    assert both[2000:2030].max() >= NabSequenceParams().warning
    assert up[2000:2030].max() < NabSequenceParams().warning


def test_missing_values_score_zero_and_do_not_break_the_series() -> None:
    v = _waves(2, seed=6)
    v[0, 1000:1040] = np.nan
    v[1, :] = np.nan
    out = sequence_scores(v, NabSequenceParams())
    assert np.isfinite(out["score"]).all()
    assert not out["score"][0, 1000:1040].any()
    assert not out["score"][1].any()


def test_block_length_follows_the_warm_up() -> None:
    assert block_step(300, 4, 13) == 5
    assert block_step(750, 4, 13) == 14
    assert block_step(20, 4, 13) == 1


def test_bench_scores_any_registered_detector_on_nab_files() -> None:
    if not (NAB / "labels").is_dir():
        pytest.skip("NAB data not found")
    names = ["realAdExchange/exchange-2_cpc_results.csv", "realTraffic/speed_7578.csv"]
    files = nab.load_corpus(NAB, names)
    assert accepts_value_range("nab_sequence") and not accepts_value_range("default")
    for det, ranged in (("nab_sequence", True), ("nab_sequence", False), ("seasonal", False)):
        scores = nab_detector_scores(files, det, with_range=ranged)
        for f in files:
            assert scores[f.name].shape == (f.n,)
            # learning lasts the file's NAB probation period
            if det == "nab_sequence":
                assert not scores[f.name][: nab.probation_length(f.n)].any()
    assert "nab_sequence" in registry.available()


def test_data_mode_and_cli_take_a_detector_name() -> None:
    rep = data_report(FIXTURES, detector="nab_sequence")
    assert rep["total"]["detector"] == "nab_sequence"
    assert rep["total"]["segments"] == 3
    from metricloop.cli.bench import load_benchmarks
    from metricloop.cli.main import app

    load_benchmarks()
    res = CliRunner().invoke(
        app, ["bench", "detect", "--data", str(FIXTURES), "--detector", "nab_sequence", "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["total"]["detector"] == "nab_sequence"
    bad = CliRunner().invoke(app, ["bench", "detect", "--data", str(FIXTURES), "--detector", "nope"])
    assert bad.exit_code != 0
