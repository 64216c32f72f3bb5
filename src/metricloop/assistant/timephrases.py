# ruff: noqa: E501  (date patterns are long regular expressions)
"""Time phrases in Chinese and English, resolved against ``now`` (the data's newest time).

``find_times(text, now)`` returns every phrase it recognises with its span in ``text`` and the
inclusive day range it means: 今天/昨天/前天, 本周/上周, 本月/上月, 近7天/最近30天/过去两周,
今年/去年, Q3/三季度/Q3 2026, 3月/March, 双11/618/春节, "last week", "past 30 days", ISO and
Chinese dates, and ranges of two dates (``9月1日到9月15日``, ``from Sep 1 to Sep 15``). A
period named without a year (Q4, 3月, 双11) is its latest occurrence that has started by ``now``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass

from metricloop.detect.calendars import SPRING_FESTIVAL

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9}
_EN_NUMS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
            "ten": 10, "eleven": 11, "twelve": 12, "fourteen": 14, "fifteen": 15, "twenty": 20, "thirty": 30,
            "sixty": 60, "ninety": 90, "a": 1, "an": 1}
MONTHS = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9,
          "oct": 10, "nov": 11, "dec": 12}
_MONTH_RE = (r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
             r"sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
NUM = r"(\d{1,3}|[零〇一二两三四五六七八九十百]{1,4})"
EN_NUM = r"(\d{1,3}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fourteen|fifteen|twenty|" \
         r"thirty|sixty|ninety)"


def number(text: str) -> int | None:
    """``"30"``, ``"三十"``, ``"十二"``, ``"两"``, ``"一百"``, ``"seven"`` → int (None if not a number)."""
    t = text.strip().lower()
    if t.isdigit():
        return int(t)
    if t in _EN_NUMS:
        return _EN_NUMS[t]
    if not t or any(c not in _CN_DIGITS and c not in "十百" for c in t):
        return None
    total, current = 0, 0
    for c in t:
        if c == "百":
            total += (current or 1) * 100
            current = 0
        elif c == "十":
            total += (current or 1) * 10
            current = 0
        else:
            current = current * 10 + _CN_DIGITS[c]
    return total + current


@dataclass(frozen=True)
class TimeMatch:
    """One recognised phrase: where it is in the text and the days it covers (inclusive)."""

    span: tuple[int, int]
    start: dt.date
    end: dt.date
    grain: str | None = None  # the natural grain of the period (a quarter, a month ...)
    kind: str = "range"


def _week_start(d: dt.date) -> dt.date:
    return d - dt.timedelta(days=d.weekday())


def _month_end(y: int, m: int) -> dt.date:
    nxt = dt.date(y + (m == 12), m % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def _shift_months(d: dt.date, n: int) -> dt.date:
    idx = d.year * 12 + d.month - 1 + n
    y, m = divmod(idx, 12)
    return dt.date(y, m + 1, min(d.day, _month_end(y, m + 1).day))


def _latest_year(today: dt.date, start_of: object) -> int:
    """The latest year whose period (``start_of(year)`` → date) has started by ``today``."""
    assert callable(start_of)
    y = today.year
    return y if start_of(y) <= today else y - 1


def _spring(year: int) -> tuple[dt.date, dt.date] | None:
    sf = SPRING_FESTIVAL.get(year)
    return (sf - dt.timedelta(days=1), sf + dt.timedelta(days=5)) if sf else None


def _year(text: str | None) -> int | None:
    if not text:
        return None
    digits = re.sub(r"\D", "", text)
    if len(digits) == 2:
        return 2000 + int(digits)
    return int(digits) if digits else None


class _Finder:
    def __init__(self, text: str, now: dt.datetime) -> None:
        self.text = text
        self.today = now.date()
        self.found: list[TimeMatch] = []
        self.taken: list[tuple[int, int]] = []

    def add(self, span: tuple[int, int], start: dt.date, end: dt.date, grain: str | None = None,
            kind: str = "range") -> None:
        if any(span[0] < b and a < span[1] for a, b in self.taken):
            return
        end = min(end, self.today) if start <= self.today else end
        self.taken.append(span)
        self.found.append(TimeMatch(span, start, end, grain, kind))

    def each(self, pattern: str) -> list[re.Match[str]]:
        return [m for m in re.finditer(pattern, self.text, re.A)
                if not any(m.start() < b and a < m.end() for a, b in self.taken)]

    # ------------------------------------------------------------------ single days
    def date_of(self, y: str | None, mo: str, d: str) -> dt.date | None:
        month, day = number(mo), number(d)
        if month is None or day is None or not 1 <= month <= 12:
            return None
        year = _year(y)
        if year is None:
            year = self.today.year
            try:
                if dt.date(year, month, day) > self.today:
                    year -= 1
            except ValueError:
                return None
        try:
            return dt.date(year, month, day)
        except ValueError:
            return None

    def day_patterns(self) -> list[tuple[str, str]]:
        return [
            (r"(20\d\d)\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?", "ymd"),
            (r"(\d{1,2}|[一二三四五六七八九十]{1,3})\s*月\s*(\d{1,2}|[一二三四五六七八九十]{1,3})\s*[日号]", "md"),
            (r"(?<![\d.])(\d{1,2})/(\d{1,2})(?![\d/])", "md"),
            (rf"\b{_MONTH_RE}\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s*(20\d\d)\b)?", "en_md"),
            (rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH_RE}\b(?:,?\s*(20\d\d)\b)?", "en_dm"),
        ]

    def day_at(self, m: re.Match[str], kind: str) -> dt.date | None:
        g = m.groups()
        if kind == "ymd":
            return self.date_of(g[0], g[1], g[2])
        if kind == "md":
            return self.date_of(None, g[0], g[1])
        if kind == "en_md":
            return self.date_of(g[2], str(MONTHS[g[0][:4].rstrip("t") if g[0][:4] == "sept" else g[0][:3]]), g[1])
        return self.date_of(g[2], str(MONTHS[g[1][:3]]), g[0])

    def days(self) -> list[tuple[tuple[int, int], dt.date]]:
        out: list[tuple[tuple[int, int], dt.date]] = []
        used: list[tuple[int, int]] = []
        for pattern, kind in self.day_patterns():
            for m in re.finditer(pattern, self.text, re.A):
                span = m.span()
                if any(span[0] < b and a < span[1] for a, b in used + self.taken):
                    continue
                day = self.day_at(m, kind)
                if day is not None:
                    out.append((span, day))
                    used.append(span)
        return sorted(out)

    # ------------------------------------------------------------------ everything
    def run(self) -> list[TimeMatch]:
        t, today = self.text, self.today
        # ranges of two days first: 9月1日到9月15日, from 2026-09-01 to 2026-09-15, between A and B
        days = self.days()
        for (s1, d1), (s2, d2) in itertools.pairwise(days):
            gap = t[s1[1]:s2[0]]
            if re.fullmatch(r"\s*(至|到|~|-|–|—|to|until|till|through|thru|and)\s*", gap):
                lead = re.search(r"(从|自|from|between)\s*$", t[:s1[0]])
                begin = lead.start() if lead else s1[0]
                self.add((begin, s2[1]), min(d1, d2), max(d1, d2))
        for span, d in days:
            self.add(span, d, d, "day", "day")
        # relative days
        for pat, off in ((r"大前天|three days ago", 3), (r"前天|day before yesterday", 2), (r"昨天|昨日|昨儿个?|yesterday", 1),
                         (r"今天|今日|今儿个?|today|so far today", 0)):
            for m in self.each(pat):
                d = today - dt.timedelta(days=off)
                self.add(m.span(), d, d, "day", "day")
        # last N days / weeks / months
        for m in self.each(rf"(?:近|最近|过去|前|这)\s*{NUM}\s*(天|日|周|个?星期|个?礼拜|个?月|年)"):
            self.last_n(m, number(m.group(1)), m.group(2))
        for m in self.each(r"(?:近|最近|过去)\s*(半年|一周|一个?月|一年)"):
            unit = {"半年": ("月", 6), "一周": ("周", 1), "一年": ("年", 1)}.get(m.group(1), ("月", 1))
            self.last_n(m, unit[1], unit[0])
        for m in self.each(rf"\b(?:in\s+)?(?:the\s+)?(?:last|past|previous|recent|trailing)\s+{EN_NUM}\s+"
                           r"(days?|weeks?|months?|years?)\b"):
            self.last_n(m, number(m.group(1)), m.group(2))
        for m in self.each(r"\b(?:in\s+)?(?:the\s+)?(?:past|trailing)\s+(week|month|year)\b"):
            self.last_n(m, 1, m.group(1))
        for m in self.each(r"\blast\s+(\d{1,3})\b(?!\s*(?:%|percent))"):
            self.last_n(m, int(m.group(1)), "day")
        # named weeks, months, years
        week0 = _week_start(today)
        m0 = dt.date(today.year, today.month, 1)
        prev_m = _shift_months(m0, -1)
        named: list[tuple[str, dt.date, dt.date, str]] = [
            (r"上上周|上上个?星期|the week before last", week0 - dt.timedelta(days=14), week0 - dt.timedelta(days=8),
             "week"),
            (r"上周|上一周|上个?星期|上个?礼拜|\blast (?:week|wk)\b|\bprevious (?:week|wk)\b|\bprior week\b",
             week0 - dt.timedelta(days=7), week0 - dt.timedelta(days=1), "week"),
            (r"本周|这周|这一周|这个?星期|这个?礼拜|本星期|\bthis (?:week|wk)\b|\bweek to date\b|\bwtd\b",
             week0, today, "week"),
            (r"上上个?月", _shift_months(m0, -2), prev_m - dt.timedelta(days=1), "month"),
            (r"上个?月|上一个月|\blast month\b|\bprevious month\b|\bprior month\b", prev_m,
             m0 - dt.timedelta(days=1), "month"),
            (r"本月|这个?月|当月|\bthis month\b|\bmonth to date\b|\bmtd\b", m0, today, "month"),
            (r"今年|本年|年初至今|\bthis year\b|\byear to date\b|\bytd\b", dt.date(today.year, 1, 1), today, "year"),
            (r"去年(?!同期)|\blast year\b(?!'s same)", dt.date(today.year - 1, 1, 1),
             dt.date(today.year - 1, 12, 31), "year"),
            (r"前年", dt.date(today.year - 2, 1, 1), dt.date(today.year - 2, 12, 31), "year"),
        ]
        for pat, start, end, grain in named:
            for m in self.each(pat):
                self.add(m.span(), start, end, grain)
        self.quarters()
        self.months()
        self.festivals()
        for m in self.each(r"(20\d\d)\s*(?:年|full year)?(?!\s*[-/.年]?\s*\d)"):
            y = int(m.group(1))
            self.add(m.span(), dt.date(y, 1, 1), dt.date(y, 12, 31), "year")
        return sorted(self.found, key=lambda x: x.span)

    def last_n(self, m: re.Match[str], n: int | None, unit: str) -> None:
        if not n:
            return
        today = self.today
        if unit.startswith(("天", "日", "day")):
            start = today - dt.timedelta(days=n - 1)
        elif unit.startswith(("周", "星期", "礼拜", "个星期", "个礼拜", "week")):
            start = today - dt.timedelta(days=7 * n - 1)
        elif unit.startswith(("月", "个月", "month")):
            start = _shift_months(today, -n) + dt.timedelta(days=1)
        else:
            start = dt.date(today.year - n, today.month, today.day) + dt.timedelta(days=1)
        self.add(m.span(), start, today, None, "last_n")

    def quarters(self) -> None:
        pats = [
            r"(?:(20\d\d|\d\d)\s*年?\s*)?(?:第)?([一二三四1-4])\s*季度?(?:度)?(?!\d)",
            r"(?:(20\d\d)\s*年?\s*)?(?<![a-z0-9])q([1-4])(?![a-z0-9])(?:\s*(?:of\s+)?(20\d\d))?",
            r"\b(first|second|third|fourth|1st|2nd|3rd|4th)\s+quarter\b(?:\s*(?:of\s+)?(20\d\d))?",
        ]
        for i, pat in enumerate(pats):
            for m in self.each(pat):
                if i == 0:
                    if "季" not in m.group(0):
                        continue
                    y, q = _year(m.group(1)), number(m.group(2))
                elif i == 1:
                    y, q = _year(m.group(1) or m.group(3)), int(m.group(2))
                else:
                    y = _year(m.group(2))
                    q = {"first": 1, "second": 2, "third": 3, "fourth": 4}.get(m.group(1)) or int(m.group(1)[0])
                if not q or not 1 <= q <= 4:
                    continue
                year = y or _latest_year(self.today, lambda yy, q=q: dt.date(yy, 3 * q - 2, 1))
                start = dt.date(year, 3 * q - 2, 1)
                self.add(m.span(), start, _month_end(year, 3 * q), "quarter")

    def months(self) -> None:
        for m in self.each(r"(?:(20\d\d|\d\d)\s*年\s*)?(\d{1,2}|[一二三四五六七八九十]{1,3})\s*月份?(?!\s*\d{0,2}\s*[日号])"):
            mo = number(m.group(2))
            if mo is None or not 1 <= mo <= 12:
                continue
            self.month(m.span(), _year(m.group(1)), mo)
        for m in self.each(rf"\b(?:in\s+)?{_MONTH_RE}\b(?:\s*(?:of\s+)?(20\d\d))?"):
            word = m.group(1)
            if word == "may" and not m.group(2) and not re.search(r"\bin\s+may\b", m.group(0)):
                continue  # the verb
            self.month(m.span(), _year(m.group(2)), MONTHS[word[:3]])

    def month(self, span: tuple[int, int], year: int | None, mo: int) -> None:
        y = year or _latest_year(self.today, lambda yy: dt.date(yy, mo, 1))
        self.add(span, dt.date(y, mo, 1), _month_end(y, mo), "month")

    def festivals(self) -> None:
        fixed = [(r"双\s*(?:11|十一)|\bdouble\s*(?:11|eleven)\b|\bsingles'?\s*day\b|(?<![\d.])11\.11(?![\d.])", 11, 11),
                 (r"(?<![\d.])618(?!\d)|六一八|\b6\.18\b", 6, 18),
                 (r"双\s*(?:12|十二)|\bdouble\s*(?:12|twelve)\b", 12, 12)]
        for pat, mo, d in fixed:
            for m in self.each(rf"(?:(20\d\d|\d\d)\s*年?\s*)?(?:{pat})(?:\s*(20\d\d))?"):
                y = _year(m.group(1) or m.group(m.lastindex or 1) if m.lastindex else None)
                year = y or _latest_year(self.today, lambda yy, mo=mo, d=d: dt.date(yy, mo, d))
                day = dt.date(year, mo, d)
                self.add(m.span(), day, day, "day", "day")
        for m in self.each(r"(?:(20\d\d|\d\d)\s*年?\s*)?(?:春节|过年|\bspring festival\b|\bchinese new year\b|\bcny\b|"
                           r"\blunar new year\b)(?:\s*(20\d\d))?"):
            y = _year(m.group(1) or m.group(2))
            if y is None:
                y = self.today.year
                window = _spring(y)
                if window is None or window[0] > self.today:
                    y -= 1
            window = _spring(y)
            if window:
                self.add(m.span(), *window, "day")
        for m in self.each(r"国庆|\bgolden week\b|\bnational day\b"):
            y = _latest_year(self.today, lambda yy: dt.date(yy, 10, 1))
            self.add(m.span(), dt.date(y, 10, 1), dt.date(y, 10, 7), "day")


def find_times(text: str, now: dt.datetime) -> list[TimeMatch]:
    """Every time phrase in ``text`` (normalised: lower case, half-width), in order of appearance."""
    return _Finder(text, now).run()
