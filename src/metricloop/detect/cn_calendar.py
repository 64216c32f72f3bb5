"""Dated zh-CN public holidays (法定节假日) and make-up workdays (调休上班), as data.

Source: the State Council General Office's yearly notice on holiday arrangements (国务院办公厅
关于 YYYY 年部分节假日安排的通知), one per year, quoted below with its address on www.gov.cn.
Each year lists ``holidays`` (name -> inclusive date ranges, every day off including the
weekends the notice joins to them) and ``workdays`` (weekend days that are working days, with
the holiday they make up for).

Only years whose notice has been read are listed (2024-2026). A year not listed falls back to
the rule-based approximation in :mod:`metricloop.detect.calendars` (元旦, 春节 week, 国庆 1-7),
and ``cn_holidays`` coverage is reported by :func:`covered_years`. To add a year, copy the
notice's dates here in the same shape (a test checks the shape and that every make-up workday
is a Saturday or Sunday).
"""

from __future__ import annotations

import datetime as dt
from typing import TypedDict


class YearArrangement(TypedDict):
    source: str
    holidays: dict[str, list[tuple[str, str]]]
    workdays: dict[str, str]  # date -> the holiday it makes up for


CN_ARRANGEMENTS: dict[int, YearArrangement] = {
    2024: {
        # 国办发明电〔2023〕7号: 元旦 1月1日放假，与周末连休；春节 2月10日至17日，2月4日（日）、
        # 2月18日（日）上班；清明 4月4日至6日，4月7日（日）上班；劳动节 5月1日至5日，4月28日（日）、
        # 5月11日（六）上班；端午 6月10日，与周末连休；中秋 9月15日至17日，9月14日（六）上班；
        # 国庆 10月1日至7日，9月29日（日）、10月12日（六）上班。
        "source": "https://www.gov.cn/zhengce/content/202310/content_6911527.htm",
        "holidays": {
            "元旦": [("2023-12-30", "2024-01-01")],
            "春节": [("2024-02-10", "2024-02-17")],
            "清明节": [("2024-04-04", "2024-04-06")],
            "劳动节": [("2024-05-01", "2024-05-05")],
            "端午节": [("2024-06-08", "2024-06-10")],
            "中秋节": [("2024-09-15", "2024-09-17")],
            "国庆节": [("2024-10-01", "2024-10-07")],
        },
        "workdays": {
            "2024-02-04": "春节", "2024-02-18": "春节", "2024-04-07": "清明节", "2024-04-28": "劳动节",
            "2024-05-11": "劳动节", "2024-09-14": "中秋节", "2024-09-29": "国庆节", "2024-10-12": "国庆节",
        },
    },
    2025: {
        # 国办发明电〔2024〕12号: 元旦 1月1日，不调休；春节 1月28日至2月4日，1月26日（日）、2月8日（六）
        # 上班；清明 4月4日至6日；劳动节 5月1日至5日，4月27日（日）上班；端午 5月31日至6月2日；
        # 国庆、中秋 10月1日至8日，9月28日（日）、10月11日（六）上班。
        "source": "https://www.gov.cn/zhengce/content/202411/content_6986382.htm",
        "holidays": {
            "元旦": [("2025-01-01", "2025-01-01")],
            "春节": [("2025-01-28", "2025-02-04")],
            "清明节": [("2025-04-04", "2025-04-06")],
            "劳动节": [("2025-05-01", "2025-05-05")],
            "端午节": [("2025-05-31", "2025-06-02")],
            "国庆节": [("2025-10-01", "2025-10-05"), ("2025-10-07", "2025-10-08")],
            "中秋节": [("2025-10-06", "2025-10-06")],
        },
        "workdays": {
            "2025-01-26": "春节", "2025-02-08": "春节", "2025-04-27": "劳动节", "2025-09-28": "国庆节",
            "2025-10-11": "国庆节",
        },
    },
    2026: {
        # 国办发明电〔2025〕7号: 元旦 1月1日至3日，1月4日（日）上班；春节 2月15日至23日，2月14日（六）、
        # 2月28日（六）上班；清明 4月4日至6日；劳动节 5月1日至5日，5月9日（六）上班；端午 6月19日至
        # 21日；中秋 9月25日至27日；国庆 10月1日至7日，9月20日（日）、10月10日（六）上班。
        "source": "https://www.gov.cn/zhengce/content/202511/content_7047090.htm",
        "holidays": {
            "元旦": [("2026-01-01", "2026-01-03")],
            "春节": [("2026-02-15", "2026-02-23")],
            "清明节": [("2026-04-04", "2026-04-06")],
            "劳动节": [("2026-05-01", "2026-05-05")],
            "端午节": [("2026-06-19", "2026-06-21")],
            "中秋节": [("2026-09-25", "2026-09-27")],
            "国庆节": [("2026-10-01", "2026-10-07")],
        },
        "workdays": {
            "2026-01-04": "元旦", "2026-02-14": "春节", "2026-02-28": "春节", "2026-05-09": "劳动节",
            "2026-09-20": "国庆节", "2026-10-10": "国庆节",
        },
    },
}

#: The name every make-up workday shares: a working Saturday looks like other working Saturdays.
MAKEUP_WORKDAY = "调休上班"


def covered_years() -> list[int]:
    """Years whose State Council notice is in :data:`CN_ARRANGEMENTS`."""
    return sorted(CN_ARRANGEMENTS)


def _days(a: str, b: str) -> list[dt.date]:
    start, end = dt.date.fromisoformat(a), dt.date.fromisoformat(b)
    return [start + dt.timedelta(days=k) for k in range((end - start).days + 1)]


def cn_days(year: int) -> dict[dt.date, str] | None:
    """Every special day of the notice of ``year``: date -> holiday name or :data:`MAKEUP_WORKDAY`;
    None when that year's notice is not in the table."""
    arr = CN_ARRANGEMENTS.get(year)
    if arr is None:
        return None
    out: dict[dt.date, str] = {}
    for name, ranges in arr["holidays"].items():
        for a, b in ranges:
            for d in _days(a, b):
                out[d] = name
    for day in arr["workdays"]:
        out[dt.date.fromisoformat(day)] = MAKEUP_WORKDAY
    return out
