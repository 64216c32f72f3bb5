"""Holidays, make-up workdays and shopping festivals: named days for monitors.

A monitor that only knows weeks flags 双11, 618 and 春节 every year: they are real, yearly
patterns, not incidents. ``noise.calendars`` names calendars and ``noise.yearly`` adds the
team's own recurring dates (``"11-11"`` or ``"10-31..11-12"``); both are expanded here, for the
range being evaluated, into *named* days (:func:`named_days`). The monitor keeps those days out
of the baselines, and judges each against the same day of its last occurrence
(``evaluate.holiday_expectation``): the Labour Day lift is expected once a Labour Day has been
seen; the first time a holiday appears in the data it is muted.

Built-in calendars:

* ``cn_holidays``: dated 法定节假日 and 调休上班 days from the State Council notices
  (:mod:`metricloop.detect.cn_calendar`, 2024-2026) plus the 春节 season (a week before 春节 to
  the Lantern Festival); other years fall back to that rule with 元旦 and 国庆 1-7;
* ``cn_shopping_festivals``: 年货节, 618 (05-20..06-20), 双11 (10-20..11-12), 双12, 三八节,
  each day named by its distance to the festival day (``双11-3``), so a pre-sale day is compared
  with the same pre-sale day a year before.

Company calendars: ``calendars/*.yaml`` in the project (:func:`load_calendar_files`), one
calendar per file, then usable by name in ``noise.calendars``::

    name: acme_promotions           # lower-case letters, digits, _ and -
    source: 市场部 2026 年度计划     # where the dates come from (shown in docs and errors)
    days:                           # dated days or ranges (inclusive), each with a name
      - {date: 2026-03-15, name: 品牌日}
      - {start: 2026-08-01, end: 2026-08-03, name: 夏季大促}
    yearly:                         # every year: MM-DD or MM-DD..MM-DD
      - {date: "09-09", name: 周年庆}
    workdays: [2026-02-28]          # the company's own make-up workdays

Spring Festival (春节) dates follow the lunar calendar; the table below holds New Year's day
2020–2035 (Hong Kong Observatory Gregorian–Lunar conversion tables).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SPRING_FESTIVAL: dict[int, dt.date] = {
    2020: dt.date(2020, 1, 25),
    2021: dt.date(2021, 2, 12),
    2022: dt.date(2022, 2, 1),
    2023: dt.date(2023, 1, 22),
    2024: dt.date(2024, 2, 10),
    2025: dt.date(2025, 1, 29),
    2026: dt.date(2026, 2, 17),
    2027: dt.date(2027, 2, 6),
    2028: dt.date(2028, 1, 26),
    2029: dt.date(2029, 2, 13),
    2030: dt.date(2030, 2, 3),
    2031: dt.date(2031, 1, 23),
    2032: dt.date(2032, 2, 11),
    2033: dt.date(2033, 1, 31),
    2034: dt.date(2034, 2, 19),
    2035: dt.date(2035, 2, 8),
}

_MD = re.compile(r"^(\d{2})-(\d{2})$")

Window = tuple[dt.date, dt.date]  # inclusive


def _md(year: int, text: str) -> dt.date:
    m = _MD.match(text.strip())
    if not m:
        raise ValueError(f"expected a month-day like '11-11'; got {text!r}")
    return dt.date(year, int(m.group(1)), int(m.group(2)))


def yearly_windows(spec: str, year: int) -> list[Window]:
    """``"11-11"`` → that day; ``"10-31..11-12"`` → that range (may wrap over New Year)."""
    a, sep, b = spec.partition("..")
    start = _md(year, a)
    end = _md(year, b) if sep else start
    if end < start:  # e.g. 12-30..01-03
        return [(start, dt.date(year, 12, 31)), (dt.date(year, 1, 1), end)]
    return [(start, end)]


def check_yearly(spec: str) -> str:
    """Validate a yearly spec (a leap year accepts 02-29)."""
    yearly_windows(spec, 2024)
    return spec


def _cn_holidays_rule(year: int) -> list[Window]:
    """Years without a State Council notice in the table: 春节 (a week before to the Lantern
    Festival), 国庆 1-7, 元旦."""
    out: list[Window] = [(dt.date(year, 10, 1), dt.date(year, 10, 7)), (dt.date(year, 1, 1), dt.date(year, 1, 1))]
    sf = SPRING_FESTIVAL.get(year)
    if sf is not None:
        out.append((sf - dt.timedelta(days=7), sf + dt.timedelta(days=15)))
    return out


def _cn_holidays(year: int) -> dict[dt.date, str]:
    """法定节假日 and 调休上班 of ``year`` from the notice, else the rule (names: 元旦, 春节, 国庆节)."""
    from metricloop.detect.cn_calendar import cn_days

    names = ("国庆节", "元旦", "春节")
    rule = {d: name for (a, b), name in zip(_cn_holidays_rule(year), names, strict=False) for d in _span(a, b)}
    dated = cn_days(year)
    if dated is None:
        return rule
    # the notice's days, plus the demand season around 春节 the rule covers (travel home before,
    # the return after: trade moves for weeks, not only on the days off)
    return {**{d: n for d, n in rule.items() if n == "春节"}, **dated}


def _span(a: dt.date, b: dt.date) -> list[dt.date]:
    return [a + dt.timedelta(days=k) for k in range((b - a).days + 1)]


def _cn_shopping_festivals(year: int) -> dict[dt.date, str]:
    """E-commerce festivals with their pre-sales: 年货节, 双11, 618, 双12, 三八节; each day named by
    its distance to the festival day (``双11-3`` three days before, ``双11`` the day itself)."""
    sf = SPRING_FESTIVAL.get(year)
    festivals: list[tuple[str, dt.date, dt.date, dt.date]] = [
        ("双11", dt.date(year, 10, 20), dt.date(year, 11, 12), dt.date(year, 11, 11)),  # pre-sale .. the day after
        ("618", dt.date(year, 5, 20), dt.date(year, 6, 20), dt.date(year, 6, 18)),
        ("双12", dt.date(year, 12, 12), dt.date(year, 12, 12), dt.date(year, 12, 12)),
        ("三八节", dt.date(year, 3, 8), dt.date(year, 3, 8), dt.date(year, 3, 8)),
    ]
    if sf is not None:  # 年货节: four weeks to eight days before 春节, named by the distance to 春节
        festivals.append(("年货节", sf - dt.timedelta(days=28), sf - dt.timedelta(days=8), sf))
    out: dict[dt.date, str] = {}
    for name, a, b, day in festivals:
        for d in _span(a, b):
            k = (d - day).days
            out[d] = name if k == 0 else f"{name}{k:+d}"
    return out


NamedDays = dict[dt.date, str]

CALENDARS: dict[str, Callable[[int], NamedDays]] = {
    "cn_holidays": _cn_holidays,
    "cn_shopping_festivals": _cn_shopping_festivals,
}
#: Company calendars loaded from ``calendars/*.yaml`` (name -> the calendar).
COMPANY: dict[str, CompanyCalendar] = {}


def check_calendar(name: str) -> str:
    if name not in CALENDARS and name not in COMPANY:
        known = sorted([*CALENDARS, *COMPANY])
        raise ValueError(f"unknown calendar {name!r}; expected one of {', '.join(known)} "
                         "(or a calendars/<name>.yaml of the project)")
    return name


def named_days(calendars: Iterable[str], yearly: Iterable[str], start: dt.date, end: dt.date) -> NamedDays:
    """Every date in ``[start, end]`` covered by the calendars or the yearly specs, with its name.

    When two calendars name one day, the first calendar listed wins. A yearly spec's days are
    named after the spec itself (``"11-11"``)."""
    out: NamedDays = {}
    cals = list(calendars)
    years = list(yearly)
    for year in range(start.year - 1, end.year + 2):
        for name in cals:
            days = COMPANY[name].days_of(year) if name in COMPANY else CALENDARS[name](year)
            for d, label in days.items():
                if start <= d <= end:
                    out.setdefault(d, label)
        for spec in years:
            try:
                windows = yearly_windows(spec, year)
            except ValueError:  # 02-29 in a common year
                continue
            for a, b in windows:
                for d in _span(max(a, start), min(b, end)):
                    out.setdefault(d, spec)
    return dict(sorted(out.items()))


def calendar_days(calendars: Iterable[str], yearly: Iterable[str], start: dt.date, end: dt.date) -> list[dt.date]:
    """Every date in ``[start, end]`` covered by the named calendars or the yearly specs."""
    return list(named_days(calendars, yearly, start, end))


# --------------------------------------------------------------------------- company calendars

_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")
CALENDARS_DIR = "calendars"


class CalendarDay(BaseModel):
    """A dated day (``date``) or an inclusive range (``start``..``end``) with a name."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    date: dt.date | None = Field(None, description="The day.")
    start: dt.date | None = Field(None, description="First day of a range (inclusive).")
    end: dt.date | None = Field(None, description="Last day of a range (inclusive).")
    name: str = Field(..., min_length=1, description="What the day is (days with one name are compared).")

    @model_validator(mode="after")
    def _one(self) -> CalendarDay:
        if (self.date is None) == (self.start is None or self.end is None):
            raise ValueError("give either date, or start and end")
        if self.start and self.end and self.end < self.start:
            raise ValueError("end must not be before start")
        return self

    def span(self) -> list[dt.date]:
        if self.date is not None:
            return [self.date]
        assert self.start is not None and self.end is not None
        return _span(self.start, self.end)


class YearlyDay(BaseModel):
    """A recurring day or range, ``MM-DD`` or ``MM-DD..MM-DD``, with a name."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    date: str = Field(..., description="'MM-DD' or 'MM-DD..MM-DD'.")
    name: str = Field(..., min_length=1)

    @field_validator("date")
    @classmethod
    def _spec(cls, v: str) -> str:
        return check_yearly(v)


class CompanyCalendar(BaseModel):
    """A company calendar file (``calendars/<name>.yaml``); see the module docs for the format."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(..., description="How monitors name it in noise.calendars.")
    source: str = Field("", description="Where the dates come from.")
    days: list[CalendarDay] = Field(default_factory=list)
    yearly: list[YearlyDay] = Field(default_factory=list)
    workdays: list[dt.date] = Field(default_factory=list, description="Make-up workdays (weekend days worked).")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("expected lower-case letters, digits, '_' or '-' (e.g. acme_promotions)")
        if v in CALENDARS:
            raise ValueError(f"{v!r} is a built-in calendar; choose another name")
        return v

    def days_of(self, year: int) -> NamedDays:
        """The named days of ``year`` (dated days of other years are ignored)."""
        from metricloop.detect.cn_calendar import MAKEUP_WORKDAY

        out: NamedDays = {}
        for item in self.days:
            for d in item.span():
                if d.year == year:
                    out[d] = item.name
        for rec in self.yearly:
            try:
                windows = yearly_windows(rec.date, year)
            except ValueError:
                continue
            for a, b in windows:
                for d in _span(a, b):
                    out.setdefault(d, rec.name)
        for d in self.workdays:
            if d.year == year:
                out[d] = MAKEUP_WORKDAY
        return out


def load_calendar_files(root: Path, folder: str = CALENDARS_DIR) -> list[CompanyCalendar]:
    """Read ``root/calendars/*.yaml`` and register each calendar by its name (for monitors).

    Every problem is reported at once with file, line and field (DefinitionError)."""
    from metricloop.errors import DefinitionError, Issue
    from metricloop.yamlio import load_document, parse_model

    d = root / folder
    files = sorted([*d.glob("*.yaml"), *d.glob("*.yml")]) if d.is_dir() else []
    found: list[CompanyCalendar] = []
    issues: list[Issue] = []
    for path in files:
        doc = load_document(path, root)
        cal, problems = parse_model(CompanyCalendar, doc.data if doc.data is not None else {}, doc)
        issues += doc.issues + problems
        if cal is None:
            continue
        if any(c.name == cal.name for c in found):
            issues.append(doc.issue(("name",), f"calendar {cal.name!r} is defined twice"))
            continue
        found.append(cal)
    if issues:
        raise DefinitionError(issues)
    for cal in found:
        COMPANY[cal.name] = cal
    return found
