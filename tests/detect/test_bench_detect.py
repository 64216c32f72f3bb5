"""Event-level accuracy protocol, the labelled-folder mode and the CLI door."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from metricloop.bench import nab
from metricloop.bench.detect import (
    _runs,
    business_report,
    business_series,
    data_report,
    default_params,
    event_score,
    generate,
    load_labelled_dir,
    nab_report,
    nudged,
    sensitivity_report,
    speed_report,
    write_labelled_dir,
)
from metricloop.errors import ConfigError

FIXTURES = Path(__file__).parent / "fixtures" / "labelled"


def test_event_level_point_adjust_on_a_hand_made_case() -> None:
    lab = np.array([0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0], bool)
    flg = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0], bool)
    s = event_score([lab], [flg])
    # two segments, the first is detected by one point; one false event (points 9-10)
    assert (s.segments, s.detected, s.predicted_events, s.false_events) == (2, 1, 2, 1)
    assert s.precision == 0.5
    assert s.recall == 0.5
    assert s.f1 == 0.5
    # point-adjust: segment 1 counts as 3 TP, segment 2 as 2 FN, and 2 FP points
    assert s.pa_precision == 3 / 5
    assert s.pa_recall == 3 / 5


def test_data_mode_on_the_fixture_folder() -> None:
    rep = data_report(FIXTURES)
    total = rep["total"]
    assert total["segments"] == 3
    assert total["points"] == 2000
    assert total["points_per_s"] > 0
    files = {r["file"]: r for r in rep["files"]}
    assert set(files) == {"flat_with_spike.csv", "steps.csv"}
    assert files["flat_with_spike.csv"]["detected"] == 1  # a +12 sigma burst on a flat series
    assert files["steps.csv"]["detected"] >= 1
    assert total["detected"] == sum(r["detected"] for r in files.values())
    assert total["false_events"] == sum(r["false_events"] for r in files.values())


def test_generated_speed_data_is_seeded_and_labelled() -> None:
    v1, l1, ts = generate(30, 400, seed=3)
    v2, l2, _ = generate(30, 400, seed=3)
    assert np.array_equal(v1, v2)
    assert np.array_equal(l1, l2)
    assert l1.any()
    assert not l1[:, :80].any()
    assert len(ts) == 400
    rep = speed_report(30, 400, baseline=None)
    assert rep["rows"][0]["points"] == 12_000


def test_cli_bench_detect_data_json() -> None:
    from metricloop.cli.bench import load_benchmarks
    from metricloop.cli.main import app

    load_benchmarks()
    result = CliRunner().invoke(app, ["bench", "detect", "--data", str(FIXTURES), "--format", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["total"]["segments"] == 3
    bad = CliRunner().invoke(app, ["bench", "detect", "--data", str(FIXTURES), "--speed"])
    assert bad.exit_code != 0
    stray = CliRunner().invoke(app, ["bench", "detect", "--data", str(FIXTURES), "--sensitivity"])
    assert stray.exit_code != 0 and "--sensitivity needs --dataset" in str(stray.exception)


def test_business_series_are_seeded_and_round_trip_through_the_data_mode(tmp_path: Path) -> None:
    v1, l1, ts = business_series(12, 24 * 7 * 6, seed=5)
    v2, l2, _ = business_series(12, 24 * 7 * 6, seed=5)
    assert np.array_equal(v1, v2) and np.array_equal(l1, l2)
    assert not l1[:, : v1.shape[1] // 4].any()  # nothing during the learning quarter
    assert (~l1.any(axis=1)).any() and l1.any()  # clean series and incidents both present
    write_labelled_dir(tmp_path, v1, l1, ts)
    loaded = load_labelled_dir(tmp_path)
    assert len(loaded) == 12
    _, values, labels, stamps = loaded[3]
    np.testing.assert_allclose(values, v1[3])
    assert np.array_equal(labels, l1[3])
    assert stamps[0] == ts[0]
    rep = data_report(tmp_path)
    assert rep["total"]["segments"] == sum(len(_runs(lab)) for lab in l1)


def test_business_report_scores_the_product_level_and_a_threshold_sweep() -> None:
    rep = business_report(seed=2, n_series=40)
    rows = {r["threshold"]: r for r in rep["rows"]}
    at_warning = rows[f"warning={rep['warning']:g}"]
    assert at_warning["precision"] == rows[f"{rep['warning']:g}"]["precision"]  # same level, same flags
    assert at_warning["segments"] == sum(len(_runs(lab)) for lab in business_series(40, seed=2)[1])
    sweep = rep["rows"][1:]
    # a higher threshold flags a subset of the points: it can never detect more incidents
    for lo, hi in itertools.pairwise(sweep):
        assert hi["detected"] <= lo["detected"]
    assert sweep[0]["detected"] > sweep[-1]["detected"]
    assert rows[rep["best_threshold"]]["f1"] == max(r["f1"] for r in sweep)


NAB = Path("/work/shared/datasets/anomaly/nab")


@pytest.mark.skipif(not (NAB / "labels").is_dir(), reason="NAB data not found")
def test_nab_report_gives_full_corpus_design_and_held_out_rows() -> None:
    rep = nab_report(NAB)
    assert set(rep["split"]["A"]).isdisjoint(rep["split"]["B"])
    assert len(rep["split"]["A"]) + len(rep["split"]["B"]) == rep["files"] == 58
    ours = [r for r in rep["rows"] if r["detector"] == "metricloop default"]
    kinds = {(r["files"], r["threshold"].split(" (")[0]) for r in ours}
    assert {("all", "best on subset"), ("A (design)", "best on subset"), ("B (held out)", "best on subset"),
            ("B (held out)", "best on A")} <= kinds
    held = next(r for r in ours if r["threshold"].startswith("best on A"))
    best_b = next(r for r in ours if r["files"] == "B (held out)" and r["threshold"].startswith("best on subset"))
    assert held["standard"] <= best_b["standard"]  # a threshold chosen elsewhere cannot beat B's own optimum
    check = {r["detector"]: r for r in rep["rows"] if "scorer check" in r["detector"]}
    assert check["numenta (scorer check)"]["standard"] == pytest.approx(70.1, abs=0.5)


def test_nudged_moves_exactly_one_knob() -> None:
    base = default_params()
    for knob, field in [("refractory", "refractory"), ("season_rate", "season_rate"), ("record_step", "record_step")]:
        moved = nudged(base, knob, 1.25)
        changed = {k for k, v in moved.model_dump().items() if v != base.model_dump()[k]}
        assert changed == {field}
    assert nudged(base, "refractory", 1.25).refractory == round(base.refractory * 1.25)  # still an integer
    assert base.record_step is not None
    # the step scales its excess over 1, so it stays a valid step (> 1) even when shrunk a lot
    assert nudged(base, "record_step", 0.5).record_step == pytest.approx(1 + (base.record_step - 1) * 0.5)
    assert nudged(base, "weights[rarity]", 0.8).weights == (base.weights[0], base.weights[1] * 0.8, base.weights[2])
    with pytest.raises(ConfigError, match="unknown knob 'bogus'.*refractory"):
        nudged(base, "bogus", 2.0)


@pytest.mark.skipif(not (NAB / "labels").is_dir(), reason="NAB data not found")
def test_sensitivity_rows_are_differences_from_the_default_measured_in_the_same_run() -> None:
    names = ["realKnownCause/nyc_taxi.csv", "realKnownCause/ambient_temperature_system_failure.csv",
             "realAdExchange/exchange-2_cpc_results.csv", "realAdExchange/exchange-3_cpc_results.csv"]
    rep = sensitivity_report(NAB, knobs=["refractory"], factors=(1.0, 0.25), names=names, business_n=20)
    base, same, moved = rep["rows"]
    files = nab.load_corpus(NAB, names)
    own = nab.optimize(files, nab.default_detector_scores(files, default_params().model_dump()), "standard")
    assert base["all"] == pytest.approx(own.normalized, abs=1e-3)
    # factor 1 is the default configuration: every figure is reproduced, nothing moved
    assert same["d_all"] == same["d_B_at_A"] == same["d_business_f1"] == 0
    assert moved["value"] == round(default_params().refractory * 0.25)
    assert moved["d_all"] == pytest.approx(moved["all"] - base["all"], abs=2e-3)
    assert rep["largest_swing"] == pytest.approx(abs(moved["d_all"]))


def test_cli_bench_detect_business_compares_monitors_on_the_same_incidents() -> None:
    from metricloop.cli.bench import load_benchmarks
    from metricloop.cli.main import app

    load_benchmarks()
    result = CliRunner().invoke(app, ["bench", "detect", "--business", "2", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {r["monitor"]: r for r in json.loads(result.output)["rows"]}
    assert len({r["incidents"] for r in rows.values()}) == 1  # one labelled truth for every monitor
    mine, point = rows["monitor default (no detector named)"], rows["default, record_step_per=point"]
    assert mine["found"] > point["found"] and mine["f1"] > point["f1"]
