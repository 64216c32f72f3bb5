"""Monitor files are checked against the catalog with file, line and field; the CLI doors work;
the pure helpers (periods, pivot, calendars, scoring) behave as documented."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from metricloop.catalog.models import Grain
from metricloop.cli.main import app, load_commands
from metricloop.detect.calendars import calendar_days
from metricloop.detect.evaluation import KnownIncident, score_events
from metricloop.detect.series import last_complete_period, loaded_until, period_axis, pivot, select_slices
from metricloop.detect.service import AnomalyRecord
from metricloop.errors import DefinitionError
from metricloop.service import MetricLoop
from tests.detect.service_project import load, traffic, write_project


def test_monitor_files_report_every_problem_with_file_line_and_field(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p")
    (root / "monitors" / "more.yaml").write_text(textwrap.dedent("""\
        monitors:
          - name: ok_one
            metric: sessions
          - name: typo
            metric: sesions
          - name: bad_dim
            metric: sessions
            by: [region, country]
          - name: bad_key
            metric: sessions
            noise: {cooldwon: 3}
          - name: sessions_by_region
            metric: sessions
        """), encoding="utf-8")
    ml = MetricLoop.open(root)
    with pytest.raises(DefinitionError) as err:
        ml.detection.monitors()
    found = {(i.location.file, i.location.line, i.location.field): i.message for i in err.value.issues}
    assert "did you mean 'sessions'" in found[("monitors/more.yaml", 5, "monitors[1].metric")]
    assert "no dimension 'country'" in found[("monitors/more.yaml", 8, "monitors[2].by[1]")]
    assert "unknown key" in found[("monitors/more.yaml", 11, "monitors[3].noise.cooldwon")]
    # files are read in name order: the second definition of a name is the one reported
    assert "already defined at monitors/more.yaml:12" in found[("monitors/sessions.yaml", 1, "name")]
    assert len(found) == 4
    ml.close()


def test_cli_detect_label_list_and_backtest(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p")
    ml = MetricLoop.open(root)
    load(ml, traffic(dt.datetime(2026, 2, 13, 23), drop=("east", dt.datetime(2026, 2, 13, 10),
                                                         dt.datetime(2026, 2, 13, 14))), tmp_path)
    ml.close()
    load_commands()
    run = CliRunner()
    p = ["--project", str(root)]
    out = run.invoke(app, ["monitors", "validate", *p, "-f", "json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["changes"] == [{"monitor": "sessions_by_region", "version": 1, "change": "created"}]
    out = run.invoke(app, ["detect", *p, "--at", "2026-02-14T01:00", "-f", "json"])
    assert out.exit_code == 0, out.output
    [event] = json.loads(out.stdout)["monitors"][0]["events"]
    assert event["slice"] == {"region": "east"} and event["reason_text"]
    out = run.invoke(app, ["anomalies", "label", event["fingerprint"][:10], "confirmed", *p, "-n", "bad deploy"])
    assert out.exit_code == 0 and "precision 100%" in out.output, out.output
    out = run.invoke(app, ["anomalies", "list", *p, "-f", "json"])
    assert [a["label"] for a in json.loads(out.stdout)] == ["confirmed"]
    out = run.invoke(app, ["detect", *p, "-m", "sessions_by_region", "--start", "2026-02-12", "--end", "2026-02-13",
                           "-f", "json"])
    assert out.exit_code == 0, out.output
    chart = json.loads(out.stdout)
    assert chart["summary"]["events"] == 1 and {s["label"] for s in chart["series"]} == {"region=east", "region=west"}
    out = run.invoke(app, ["detect", *p, "--start", "2026-02-12"])
    assert out.exit_code != 0 and "needs --monitor" in str(out.exception)


def test_period_helpers() -> None:
    assert loaded_until(dt.datetime(2026, 2, 13, 23, 59, 30), Grain.hour) == dt.datetime(2026, 2, 14)
    assert loaded_until(dt.datetime(2026, 2, 13, 23, 0), Grain.hour) == dt.datetime(2026, 2, 13, 23)
    assert loaded_until(dt.datetime(2026, 2, 13, 23, 50), Grain.day) == dt.datetime(2026, 2, 14)
    assert last_complete_period(dt.datetime(2026, 2, 14, 0, 30), Grain.hour) == dt.datetime(2026, 2, 13, 23)
    assert last_complete_period(dt.datetime(2026, 2, 14), Grain.day) == dt.datetime(2026, 2, 13)
    assert last_complete_period(dt.datetime(2026, 2, 18, 12), Grain.week) == dt.datetime(2026, 2, 9)
    axis = period_axis(dt.datetime(2026, 1, 31), dt.datetime(2026, 4, 2), Grain.month)
    assert [str(t)[:10] for t in axis] == ["2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01"]


def test_pivot_fills_counts_with_zero_only_inside_the_data() -> None:
    axis = period_axis(dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 5), Grain.day)
    frame = pd.DataFrame({"region": ["a", "a", "b"], "t": pd.to_datetime(["2026-01-02", "2026-01-03", "2026-01-03"]),
                          "v": [5.0, 7.0, 2.0]})
    p = pivot(frame, axis=axis, time_col="t", dims=["region"], value_col="v", fill_zero=True,
              data_start=np.datetime64("2026-01-02"), data_end=np.datetime64("2026-01-04"))
    assert p.keys == [{"region": "a"}, {"region": "b"}]
    assert np.array_equal(p.values, [[np.nan, 5, 7, 0, np.nan], [np.nan, 0, 2, 0, np.nan]], equal_nan=True)
    assert list(p.volume) == [12.0, 2.0]
    rates = pivot(frame, axis=axis, time_col="t", dims=["region"], value_col="v")
    assert np.isnan(rates.values[0, 3])  # a rate with no row is unknown, not zero
    assert list(select_slices(np.array([3.0, 10.0, 1.0]), top_n=2, min_volume=2.0)) == [1, 0]


def test_calendars_cover_spring_festival_and_yearly_ranges() -> None:
    # 2026 follows the State Council notice (元旦 1-3 Jan, 14 Feb a make-up workday) plus the 春节 season
    days = calendar_days(["cn_holidays"], ["12-30..01-02"], dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert dt.date(2026, 2, 17) in days and dt.date(2026, 2, 14) in days and dt.date(2026, 3, 5) not in days
    assert dt.date(2026, 10, 3) in days and dt.date(2026, 12, 31) in days and dt.date(2026, 1, 3) in days
    assert dt.date(2026, 2, 10) in days and dt.date(2026, 1, 5) not in days  # 春节 season: a week before
    # a year without a notice in the table falls back to the rule (a week before 春节 to the Lantern Festival)
    later = calendar_days(["cn_holidays"], [], dt.date(2030, 1, 1), dt.date(2030, 12, 31))
    assert dt.date(2030, 1, 27) in later and dt.date(2030, 2, 18) in later and dt.date(2030, 5, 1) not in later


def _event(metric: str, sl: dict[str, str], start: str, grain: str = "hour") -> AnomalyRecord:
    t = dt.datetime.fromisoformat(start)
    return AnomalyRecord(fingerprint=f"{metric}{sl}{start}", monitor="m", metric=metric, grain=grain, slice=sl,
                         start=t, end=t, peak=t, severity="critical", score=1.0, actual=1.0, expected=2.0,
                         lower=1.5, upper=2.5, impact=1.0, points=1, reason=None, detectors=[])


def test_scoring_counts_parents_overlaps_and_false_alarms() -> None:
    inc = KnownIncident("I1", dt.datetime(2026, 3, 12, 10), dt.datetime(2026, 3, 12, 15), ("orders",),
                        ({"province": "广东", "payment_method": "wechat_pay"},))
    rollups = {"province": {"广东": {"region": "华南"}}}
    events = [
        _event("orders", {"region": "华南"}, "2026-03-12T00:00", grain="day"),  # parent, daily: overlaps
        _event("gmv", {}, "2026-03-20T10:00"),  # outside every window
        _event("orders", {"region": "华东"}, "2026-03-12T11:00"),  # inside the window, wrong slice
    ]
    ev = score_events(events, [inc], dt.datetime(2026, 3, 1), dt.datetime(2026, 4, 1), rollups=rollups)
    assert ev.recall == 1.0 and ev.incidents[0].delay_hours == 14.0
    assert ev.false_alarms == 1 and ev.unmatched == 2
    missed = score_events(events[1:], [inc], dt.datetime(2026, 3, 1), dt.datetime(2026, 4, 1), rollups=rollups)
    assert missed.recall == 0.0
