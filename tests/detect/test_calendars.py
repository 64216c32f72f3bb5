"""Dated zh-CN calendars, company calendar files, holiday expectations and the parent rule."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from metricloop.detect import MonitorSpec, evaluate_monitor
from metricloop.detect.calendars import COMPANY, check_calendar, load_calendar_files, named_days
from metricloop.detect.cn_calendar import CN_ARRANGEMENTS, MAKEUP_WORKDAY, cn_days, covered_years
from metricloop.detect.noise import NoiseSpec, build_events
from metricloop.detect.types import Grain, SeriesBatch, Severity
from metricloop.errors import DefinitionError


def test_every_notice_year_is_well_formed() -> None:
    assert covered_years() == [2024, 2025, 2026]
    for year, arr in CN_ARRANGEMENTS.items():
        assert arr["source"].startswith("https://www.gov.cn/")
        days = cn_days(year)
        assert days is not None
        for d, name in days.items():
            if name == MAKEUP_WORKDAY:
                assert d.weekday() >= 5, (year, d)  # a make-up workday is a weekend day
        assert {"元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节"} <= set(days.values())


def test_labour_day_and_make_up_workdays_are_named() -> None:
    days = named_days(["cn_holidays"], [], dt.date(2025, 4, 20), dt.date(2025, 5, 10))
    assert [d for d, n in days.items() if n == "劳动节"] == [dt.date(2025, 5, k) for k in range(1, 6)]
    assert days[dt.date(2025, 4, 27)] == MAKEUP_WORKDAY
    assert dt.date(2025, 5, 6) not in days


def test_shopping_festival_days_are_named_by_their_distance_to_the_day() -> None:
    days = named_days(["cn_shopping_festivals"], [], dt.date(2026, 6, 15), dt.date(2026, 6, 20))
    assert days[dt.date(2026, 6, 18)] == "618" and days[dt.date(2026, 6, 16)] == "618-2"
    assert days[dt.date(2026, 6, 20)] == "618+2"


def test_company_calendar_file(tmp_path: Path) -> None:
    folder = tmp_path / "calendars"
    folder.mkdir()
    (folder / "acme.yaml").write_text(
        "name: acme_promotions\nsource: 市场部计划\ndays:\n  - {date: 2026-03-15, name: 品牌日}\n"
        "  - {start: 2026-08-01, end: 2026-08-03, name: 夏季大促}\nyearly:\n  - {date: '09-09', name: 周年庆}\n"
        "workdays: [2026-02-28]\n", encoding="utf-8")
    try:
        [cal] = load_calendar_files(tmp_path)
        assert check_calendar("acme_promotions") == "acme_promotions"
        days = named_days(["acme_promotions"], [], dt.date(2026, 1, 1), dt.date(2027, 12, 31))
        assert days[dt.date(2026, 3, 15)] == "品牌日" and days[dt.date(2026, 8, 2)] == "夏季大促"
        assert days[dt.date(2027, 9, 9)] == "周年庆" and days[dt.date(2026, 2, 28)] == MAKEUP_WORKDAY
        assert dt.date(2027, 3, 15) not in days  # a dated day is not yearly
        assert cal.source == "市场部计划"
    finally:
        COMPANY.pop("acme_promotions", None)


def test_company_calendar_errors_name_file_line_and_field(tmp_path: Path) -> None:
    folder = tmp_path / "calendars"
    folder.mkdir()
    (folder / "bad.yaml").write_text("name: Bad Name\ndays:\n  - {start: 2026-03-15, name: x}\n", encoding="utf-8")
    with pytest.raises(DefinitionError) as err:
        load_calendar_files(tmp_path)
    issues = [f"{i.location}: {i.message}" for i in err.value.issues]
    assert any("bad.yaml:1" in t and "name" in t for t in issues)
    assert any("bad.yaml:3" in t and "days[0]" in t and "start and end" in t for t in issues)
    with pytest.raises(ValueError, match="unknown calendar"):
        check_calendar("nope")


def _daily_with_labour_day(years: tuple[int, ...], lift: float, drop_last: float = 1.0) -> SeriesBatch:
    start, end = dt.date(years[0], 1, 1), dt.date(years[-1], 12, 31)
    ts = np.arange(np.datetime64(start), np.datetime64(end) + 1).astype("datetime64[ns]")
    rng = np.random.default_rng(3)
    v = 1000 * (1 + 0.02 * rng.standard_normal(len(ts)))
    days = ts.astype("datetime64[D]").astype(dt.date)
    for k, d in enumerate(days):
        if d.month == 5 and 1 <= d.day <= 5:
            v[k] *= lift * (drop_last if d.year == years[-1] else 1.0)
    return SeriesBatch(values=v[None], timestamps=ts, grain=Grain.day)


def _labour_day_events(batch: SeriesBatch) -> list[dt.date]:
    spec = MonitorSpec(name="m", metric="x", grain="day", direction="both",
                       detectors=[{"type": "seasonal"}], noise=NoiseSpec(calendars=["cn_holidays"]))
    run = evaluate_monitor(spec, batch)
    return sorted({e.start.astype("datetime64[D]").astype(dt.date) for e in run.active_events
                   if e.start.astype("datetime64[D]").astype(dt.date).month == 5
                   and e.start.astype("datetime64[D]").astype(dt.date).day <= 5})


def test_a_holiday_lift_seen_last_year_is_expected_and_a_drop_on_it_is_found() -> None:
    # Labour Day lifts the series 60 % every year: the second and third years are not alerts
    assert _labour_day_events(_daily_with_labour_day((2024, 2025, 2026), 1.6)) == []
    # this year the lift is only half as big: judged against last Labour Day, that is a drop
    found = _labour_day_events(_daily_with_labour_day((2024, 2025, 2026), 1.6, drop_last=0.6))
    assert found and all(d.year == 2026 for d in found)


def test_holiday_expectation_scales_the_band_by_the_last_occurrence() -> None:
    from metricloop.detect.evaluate import holiday_expectation

    ts = np.arange(np.datetime64("2025-04-28"), np.datetime64("2026-05-08")).astype("datetime64[ns]")
    n = len(ts)
    values = np.full((1, n), 100.0)
    days = ts.astype("datetime64[D]").astype(dt.date)
    named = named_days(["cn_holidays"], [], days[0], days[-1])
    for k, d in enumerate(days):
        if named.get(d) == "劳动节" and d.year == 2025:
            values[0, k] = 150.0
    exp = np.full((1, n), 100.0)
    hol = holiday_expectation(ts, values, exp, exp - 10, exp + 10, named)
    k26 = int(np.flatnonzero(ts.astype("datetime64[D]") == np.datetime64("2026-05-02"))[0])
    k25 = int(np.flatnonzero(ts.astype("datetime64[D]") == np.datetime64("2025-05-02"))[0])
    assert hol.learned[k26] and not hol.learned[k25]  # the first Labour Day in the data has no past
    assert hol.expected[0, k26] == pytest.approx(150.0) and hol.upper[0, k26] == pytest.approx(165.0)
    assert hol.names[k26] == "劳动节"


def _parent_child_events(parent_dir: float, child_dir: float) -> list:
    ts = np.datetime64("2024-03-01T00:00") + np.arange(24).astype("timedelta64[h]")
    vals = np.full((2, 24), 100.0)
    vals[0, 10:12] = 100.0 + 50.0 * parent_dir
    vals[1, 10:12] = 100.0 + 50.0 * child_dir
    sev = np.zeros((2, 24), dtype=np.int8)
    sev[:, 10:12] = Severity.WARNING
    return build_events(monitor="m", timestamps=ts, values=vals, expected=np.full((2, 24), 100.0),
                        score=sev.astype(float), severity=sev, keys=[{}, {"city": "上海"}], noise=NoiseSpec())


def test_parent_suppresses_a_child_only_when_both_moved_the_same_way() -> None:
    same = {tuple(e.slice.items()): e for e in _parent_child_events(+1, +1)}
    assert same[(("city", "上海"),)].suppressed_by == f"parent:{same[()].fingerprint}"
    opposite = {tuple(e.slice.items()): e for e in _parent_child_events(+1, -1)}
    assert opposite[(("city", "上海"),)].active  # the nation rose on the holiday, the city dropped: news
    assert opposite[()].active


def test_monitor_files_can_name_a_company_calendar(tmp_path: Path) -> None:
    from metricloop.detect.monitors import load_monitor_files

    (tmp_path / "calendars").mkdir()
    (tmp_path / "calendars" / "acme.yaml").write_text("name: acme_days\ndays:\n  - {date: 2026-03-15, name: 品牌日}\n",
                                                      encoding="utf-8")
    (tmp_path / "monitors").mkdir()
    (tmp_path / "monitors" / "m.yaml").write_text(
        "name: m\nmetric: x\ngrain: day\nnoise:\n  calendars: [cn_holidays, acme_days]\n", encoding="utf-8")
    try:
        [m] = load_monitor_files(tmp_path, None)
        assert m.spec.noise.calendars == ["cn_holidays", "acme_days"]
    finally:
        COMPANY.pop("acme_days", None)
