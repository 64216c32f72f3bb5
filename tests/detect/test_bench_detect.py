"""Event-level accuracy protocol, the labelled-folder mode and the CLI door."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from metricloop.bench.detect import data_report, event_score, generate, speed_report

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
