"""Recurring holidays and shopping festivals, expanded to dates for mute windows.

A monitor that only knows weeks flags 双11, 618 and 春节 every year: they are real, yearly
patterns, not incidents. ``noise.calendars`` names built-in calendars and ``noise.yearly`` adds
the team's own recurring dates (``"11-11"`` or ``"10-31..11-12"``); both are expanded here for
the range being evaluated. The service mutes those days (no event opens) and keeps them out of
the baselines (so the week after a festival is not judged against the festival).

Spring Festival (春节) dates follow the lunar calendar; the table below holds New Year's day
2020–2035 (Hong Kong Observatory Gregorian–Lunar conversion tables). Outside those years the
calendar has no 春节 entry.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable

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


def _cn_holidays(year: int) -> list[Window]:
    """Public holidays that move demand: 春节 (a week before to the Lantern Festival), 国庆, 元旦."""
    out: list[Window] = [(dt.date(year, 10, 1), dt.date(year, 10, 7)), (dt.date(year, 1, 1), dt.date(year, 1, 1))]
    sf = SPRING_FESTIVAL.get(year)
    if sf is not None:
        out.append((sf - dt.timedelta(days=7), sf + dt.timedelta(days=15)))
    return out


def _cn_shopping_festivals(year: int) -> list[Window]:
    """E-commerce festivals with their pre-sales: 年货节, 双11, 618, 双12, 三八节."""
    sf = SPRING_FESTIVAL.get(year)
    nianhuo = [(sf - dt.timedelta(days=28), sf - dt.timedelta(days=8))] if sf else []  # 年货节, before 春节
    return [*nianhuo,
        (dt.date(year, 10, 20), dt.date(year, 11, 12)),  # 双11 pre-sale, final payments, the day itself
        (dt.date(year, 5, 20), dt.date(year, 6, 20)),  # 618 pre-sale to the day after
        (dt.date(year, 12, 12), dt.date(year, 12, 12)),  # 双12
        (dt.date(year, 3, 8), dt.date(year, 3, 8)),  # 三八节 (women's day sales)
    ]


CALENDARS: dict[str, Callable[[int], list[Window]]] = {
    "cn_holidays": _cn_holidays,
    "cn_shopping_festivals": _cn_shopping_festivals,
}


def check_calendar(name: str) -> str:
    if name not in CALENDARS:
        raise ValueError(f"unknown calendar {name!r}; expected one of {', '.join(sorted(CALENDARS))}")
    return name


def calendar_days(calendars: Iterable[str], yearly: Iterable[str], start: dt.date, end: dt.date) -> list[dt.date]:
    """Every date in ``[start, end]`` covered by the named calendars or the yearly specs."""
    windows: list[Window] = []
    cals = list(calendars)
    years = list(yearly)
    for year in range(start.year - 1, end.year + 1):
        for name in cals:
            windows += CALENDARS[name](year)
        for spec in years:
            try:
                windows += yearly_windows(spec, year)
            except ValueError:  # 02-29 in a common year
                continue
    days: set[dt.date] = set()
    for a, b in windows:
        a, b = max(a, start), min(b, end)
        d = a
        while d <= b:
            days.add(d)
            d += dt.timedelta(days=1)
    return sorted(days)
