"""The NAB scorer, written from the published rules, reproduces the published scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metricloop.bench import nab

ROOT = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "anomaly" / "nab"
if not ROOT.is_dir():
    ROOT = Path("/work/shared/datasets/anomaly/nab")
pytestmark = pytest.mark.skipif(not (ROOT / "labels").is_dir(), reason=f"NAB data not found at {ROOT}")

SUBSET = [
    "realKnownCause/nyc_taxi.csv",
    "realKnownCause/ec2_request_latency_system_failure.csv",
    "realAWSCloudwatch/grok_asg_anomaly.csv",
    "artificialNoAnomaly/art_daily_small_noise.csv",
]


def test_per_file_scores_match_numentas_published_table() -> None:
    files = nab.load_corpus(ROOT, SUBSET)
    scores = nab.load_published_scores(ROOT, "numenta", files)
    table = pd.read_csv(ROOT / "results" / "numenta" / "numenta_standard_scores.csv")
    published = dict(zip(table["File"], table["Score"], strict=True))
    threshold = float(table["Threshold"].iloc[0])
    _, per_file, _ = nab.score_at(files, scores, "standard", threshold)
    for name in SUBSET:
        assert per_file[name] == pytest.approx(published[name], abs=1e-6), name


@pytest.mark.parametrize("detector", ["numenta", "windowedGaussian"])
def test_whole_corpus_reproduces_final_results(detector: str) -> None:
    files = nab.load_corpus(ROOT)
    res = nab.score_all_profiles(files, nab.load_published_scores(ROOT, detector, files))
    published = nab.load_published_table(ROOT)[detector]
    for profile, r in res.items():
        assert abs(r.normalized - published[profile]) < 0.5, (profile, r.normalized, published[profile])


def test_null_and_perfect_detectors_score_0_and_100() -> None:
    files = nab.load_corpus(ROOT, SUBSET)
    null = {f.name: np.zeros(f.n) for f in files}
    perfect = {}
    for f in files:
        s = np.zeros(f.n)
        for a, _ in f.windows:
            s[a] = 1.0
        perfect[f.name] = s
    assert nab.optimize(files, null, "standard").normalized == pytest.approx(0.0)
    assert nab.optimize(files, perfect, "standard").normalized == pytest.approx(100.0)


def test_rule_details() -> None:
    # probation: min(floor(0.15 n), 750)
    assert nab.probation_length(1000) == 150
    assert nab.probation_length(20000) == 750
    w, _win, ok = nab.point_weights(100, [(40, 49)], nab.PROFILES["standard"])
    assert w[40] == pytest.approx(1.0)  # earliest detection scores tpWeight
    assert w[40] > w[45] > w[49] > 0  # later is worth less
    assert w[10] == pytest.approx(-0.11)  # no window before: full FP cost
    assert 0 > w[50] > w[55] > -0.11  # an FP right after a window is cheaper than a late one
    assert w[80] == pytest.approx(-0.11)  # 3 widths after the window: full cost
    assert not ok[14]
    assert ok[15]


def test_split_halves_are_fixed_disjoint_and_cover_every_category() -> None:
    names = [f"{cat}/f{i}.csv" for cat in ("x", "y") for i in range(5)] + ["z/only.csv"]
    a, b = nab.split_halves(list(reversed(names)))
    assert (a, b) == nab.split_halves(names)  # order of the input does not matter
    assert set(a) | set(b) == set(names) and not set(a) & set(b)
    assert a[:3] == ["x/f0.csv", "x/f2.csv", "x/f4.csv"] and b[:2] == ["x/f1.csv", "x/f3.csv"]
    assert "z/only.csv" in a


def test_fixed_threshold_score_matches_the_optimum_at_its_threshold() -> None:
    files = nab.load_corpus(ROOT, SUBSET)
    scores = nab.load_published_scores(ROOT, "numenta", files)
    best = nab.optimize(files, scores, "standard")
    fixed = nab.score_fixed(files, scores, "standard", best.threshold)
    assert fixed.normalized == pytest.approx(best.normalized)
    assert nab.score_fixed(files, scores, "standard", best.threshold + 0.2).normalized < best.normalized


def test_published_subset_scores_add_up_to_the_scoreboard() -> None:
    names = [f.name for f in nab.load_corpus(ROOT)]
    published = nab.load_published_table(ROOT)
    for det in ("ARTime", "numenta", "contextOSE"):
        whole = nab.published_subset_scores(ROOT, det, names)
        assert whole is not None
        for profile, value in whole.items():
            assert value == pytest.approx(published[det][profile], abs=0.01), (det, profile)
    assert nab.published_subset_scores(ROOT, "no_such_detector", names) is None


def test_default_scores_of_a_file_do_not_depend_on_the_other_files_scored_with_it() -> None:
    """Files are batched by warm-up and seasonal layout: scoring a file with others (an irregular
    one without a weekly cycle, a short one, a long one) gives exactly its scores alone, and a
    short file starts scoring when NAB's probation ends, not after the 300-point warm-up."""
    names = ["realTraffic/TravelTime_451.csv", "realTraffic/speed_7578.csv", "realKnownCause/nyc_taxi.csv"]
    files = nab.load_corpus(ROOT, names)
    together = nab.default_detector_scores(files)
    for f in files:
        alone = nab.default_detector_scores([f])[f.name]
        np.testing.assert_array_equal(together[f.name], alone)
    short = next(f for f in files if f.name == "realTraffic/speed_7578.csv")
    probation = nab.probation_length(short.n)
    assert probation < 300
    assert together[short.name][probation:300].max() > 0
