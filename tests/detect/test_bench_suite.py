"""The suite's metrics on hand-built cases whose answers are known, and the any-case CSV reader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from metricloop.bench.detect import load_labelled_dir
from metricloop.bench.detect_suite import labelled_dir_corpus, rolling_zscore, suite_metrics, suite_report
from metricloop.errors import ConfigError


def arr(s: str) -> np.ndarray:
    return np.array([c == "1" for c in s])


def test_point_adjust_counts_a_touched_segment_wholly() -> None:
    # segment of 4 labelled points, one flag inside it, one false flag outside
    labels = arr("0011110000")
    flags = arr("0001000010")
    m = suite_metrics([labels], [flags])
    # PA: tp 4, fp 1, fn 0 -> P 0.8, R 1 -> F1 8/9
    assert m["pa_f1"] == pytest.approx(8 / 9)
    assert m["precision"] == pytest.approx(0.5)  # one found segment, one false event
    assert m["recall"] == 1.0
    assert m["false_per_1k"] == pytest.approx(100.0)


def test_delay_seven_misses_a_segment_found_late() -> None:
    labels = np.zeros(40, dtype=bool)
    labels[5:25] = True  # 20 points
    late = np.zeros(40, dtype=bool)
    late[13] = True  # 8 points after the start: outside delay 7
    on_time = np.zeros(40, dtype=bool)
    on_time[12] = True  # exactly 7 points after the start
    m_late = suite_metrics([labels], [late])
    m_ok = suite_metrics([labels], [on_time])
    assert m_late["pa_f1"] == 1.0 and m_late["delay7_f1"] == 0.0
    assert m_ok["delay7_f1"] == 1.0
    # pooled: two series, one on time (20 tp), one late (20 fn), no false points -> P 1, R 0.5
    both = suite_metrics([labels, labels], [on_time, late])
    assert both["delay7_f1"] == pytest.approx(2 * 0.5 / 1.5)
    assert both["pa_f1"] == 1.0


def test_short_segment_is_judged_within_its_own_length() -> None:
    labels = arr("0001100000")
    flags = arr("0000000100")  # after the segment ended: a false event, not a late detection
    m = suite_metrics([labels], [flags])
    assert m["pa_f1"] == 0.0 and m["delay7_f1"] == 0.0 and m["recall"] == 0.0


def test_rolling_zscore_flags_a_spike_after_its_window() -> None:
    rng = np.random.default_rng(0)
    x = 100 + rng.standard_normal((2, 1000))
    x[0, 700] += 20
    z, f = rolling_zscore(x, window=288, limit=4)
    assert f[0, 700] and not f[1].any()
    assert not f[:, :144].any()  # fewer than window // 2 known points: no judgement
    ref = abs(x[0, 700] - x[0, 412:700].mean()) / x[0, 412:700].std(ddof=1)
    assert z[0, 700] == pytest.approx(ref)


def test_labelled_csv_columns_in_any_letter_case(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("TimeStamp,Value,Label\n2024-01-01 00:00,1.0,0\n2024-01-01 01:00,5.0,1\n")
    (tmp_path / "b.csv").write_text("TIMESTAMP,VALUE,LABEL\n2024-01-01 00:00,2.0,1\n")
    rows = load_labelled_dir(tmp_path)
    assert [r[0] for r in rows] == ["a.csv", "b.csv"]
    assert rows[0][1].tolist() == [1.0, 5.0] and rows[0][2].tolist() == [False, True]
    (tmp_path / "c.csv").write_text("timestamp,Value,value,label\n2024-01-01,1,1,0\n")
    with pytest.raises(ConfigError, match="letter case"):
        load_labelled_dir(tmp_path)


def test_suite_rows_put_the_baseline_next_to_each_detector(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    ts = np.datetime64("2024-01-01T00:00") + np.arange(800).astype("timedelta64[h]")
    for i in range(3):
        v = 50 + rng.standard_normal(800)
        lab = np.zeros(800, dtype=int)
        v[600 + i : 603 + i] += 15
        lab[600 + i : 603 + i] = 1
        lines = ["Timestamp,Value,Label", *(f"{t},{a},{b}" for t, a, b in zip(ts.astype(str), v, lab, strict=True))]
        (tmp_path / f"s{i}.csv").write_text("\n".join(lines) + "\n")
    rep = suite_report([labelled_dir_corpus(tmp_path, "tiny")], detectors=["level_shift"])
    names = [r["detector"] for r in rep["rows"]]
    assert names == ["rolling z-score (288, |z|>4)", "level_shift"]
    assert rep["rows"][0]["recall"] == 1.0


def test_cli_suite_with_a_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from metricloop.bench import detect_suite
    from metricloop.cli.bench import load_benchmarks
    from metricloop.cli.main import app

    (tmp_path / "x.csv").write_text("TimeStamp,Value,Label\n" + "".join(
        f"2024-01-01 {h:02d}:00,{1.0 + (h == 20) * 9},{int(h == 20)}\n" for h in range(24)))
    monkeypatch.setattr(detect_suite, "default_corpora",
                        lambda nab_root=None, data=(): [detect_suite.labelled_dir_corpus(data[0])])
    load_benchmarks()
    res = CliRunner().invoke(app, ["bench", "detect", "--suite", "--data", str(tmp_path), "--only", "trend",
                                   "--format", "json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert [r["detector"] for r in payload["rows"]] == ["rolling z-score (288, |z|>4)", "trend"]


def test_speed_sizes_times_the_detector_next_to_the_zscore() -> None:
    from metricloop.bench.detect_suite import speed_sizes

    rep = speed_sizes((1, 3), points=300, detector="ensemble", repeat=1)
    assert [(r["series"], r["detector"]) for r in rep["rows"]] == [
        (1, "ensemble"), (1, "rolling z-score (288, |z|>4) (numpy)"),
        (3, "ensemble"), (3, "rolling z-score (288, |z|>4) (numpy)")]
    assert all(r["points_per_cpu_s"] is None or r["points_per_cpu_s"] > 0 for r in rep["rows"])
