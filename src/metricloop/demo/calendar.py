"""The demo company's calendar: growth, seasons, weekdays, holidays and shopping festivals.

Everything is a deterministic function of the calendar date (never of the requested range), so a
shorter generated range shows exactly the same expected levels as the full two years. Noise is
added later by the generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from metricloop.demo import company as co

# The company's reference period: trend and mix drift are anchored to its start.
REFERENCE_START = date(2024, 10, 1)
REFERENCE_END = date(2026, 10, 1)

# 春节 (Chinese New Year's day) per year.
SPRING_FESTIVAL: dict[int, date] = {
    2023: date(2023, 1, 22),
    2024: date(2024, 2, 10),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
    2027: date(2027, 2, 6),
    2028: date(2028, 1, 26),
}

ANNUAL_GROWTH = 0.22  # sessions grow ~22 % a year
# Traffic by weekday (Mon..Sun) per channel: weekends favour app, mini programs and stores.
WEEKDAY = np.array(
    [
        [0.97, 0.96, 0.97, 0.98, 1.02, 1.08, 1.06],
        [1.06, 1.06, 1.05, 1.04, 1.00, 0.86, 0.90],
        [0.96, 0.96, 0.97, 0.98, 1.02, 1.10, 1.08],
        [0.85, 0.85, 0.88, 0.90, 1.00, 1.30, 1.25],
    ]
)


@dataclass
class Days:
    """Per-day factors for ``n`` consecutive days; arrays are indexed by day (and channel...)."""

    first: date
    n: int
    sessions: np.ndarray  # (D, C) traffic multiplier incl. trend, season, weekday, events
    conversion: np.ndarray  # (D,) conversion lift on campaign days
    basket: np.ndarray  # (D,) order-value multiplier
    discount: np.ndarray  # (D,) mean discount fraction
    refund: np.ndarray  # (D,) refund probability multiplier
    new_buyer: np.ndarray  # (D,) new-buyer share multiplier
    hour_weights: np.ndarray  # (D, C, 24) share of the day's traffic in each hour (sums to 1)
    channel_share: np.ndarray  # (D, C) session share of each channel (sums to 1)
    category: np.ndarray  # (D, C, K) category probabilities per channel
    payment: np.ndarray  # (D, C, M) payment-method probabilities per channel
    handling_extra: np.ndarray  # (D,) extra warehouse hours (peaks, holidays)
    transit: np.ndarray  # (D,) transit time multiplier
    promise_extra: np.ndarray  # (D,) extra promised days


def _years(d: date) -> float:
    return (d - REFERENCE_START).days / 365.25


def _drift(years: np.ndarray) -> np.ndarray:
    """0 → 1 smooth S-curve over the reference period (mix drift)."""
    return 1.0 / (1.0 + np.exp(-(years - 1.0) / 0.35))


def _event(d: date) -> tuple[float, float, dict[int, float]]:
    """(traffic multiplier, conversion lift, hour spikes) of shopping festivals on day ``d``."""
    m, dd = d.month, d.day
    # 双11 with its pre-sale: ramp from 20 Oct, first final-payment wave on 31 Oct at 20:00.
    if (m == 10 and 20 <= dd <= 30):
        return 1.15 + 0.25 * (dd - 20) / 10, 1.08, {}
    if m == 10 and dd == 31:
        return 2.0, 1.3, {20: 5.0, 21: 2.5, 22: 1.5}
    if m == 11 and 1 <= dd <= 3:
        return 1.5, 1.2, {}
    if m == 11 and 4 <= dd <= 9:
        return 1.3, 1.1, {}
    if m == 11 and dd == 10:
        return 1.7, 1.2, {20: 1.5, 21: 1.5, 22: 1.6, 23: 2.0}
    if m == 11 and dd == 11:
        return 4.0, 1.35, {0: 8.0, 1: 4.0, 2: 2.0, 20: 1.6, 21: 1.6, 22: 1.5, 23: 1.4}
    if m == 11 and dd == 12:
        return 1.3, 1.1, {}
    # 618: pre-sale from 20 May, opening on 1 June, peak on 18 June.
    if m == 5 and 20 <= dd <= 30:
        return 1.1 + 0.2 * (dd - 20) / 10, 1.05, {}
    if m == 5 and dd == 31:
        return 1.8, 1.25, {20: 4.0, 21: 2.0}
    if m == 6 and dd == 1:
        return 1.8, 1.2, {0: 3.0, 1: 1.8}
    if m == 6 and 2 <= dd <= 15:
        return 1.25, 1.08, {}
    if m == 6 and dd in (16, 17):
        return 1.5, 1.15, {}
    if m == 6 and dd == 18:
        return 2.8, 1.3, {0: 6.0, 1: 3.0, 2: 1.6, 20: 1.5, 21: 1.5}
    if m == 6 and dd == 19:
        return 1.05, 1.0, {}
    if m == 12 and dd == 12:
        return 1.5, 1.15, {0: 2.0}
    if m == 3 and dd == 8:
        return 1.2, 1.1, {}
    return 1.0, 1.0, {}


def _spring(d: date) -> int | None:
    """Days from the nearest 春节 (None when farther than a month)."""
    for y in (d.year, d.year + 1):
        sf = SPRING_FESTIVAL.get(y)
        if sf is not None and -30 <= (d - sf).days <= 30:
            return (d - sf).days
    return None


def build_days(first: date, n: int) -> Days:
    """All per-day factors for ``n`` days starting at ``first`` (pure, deterministic)."""
    C, K = len(co.CHANNELS), len(co.CATEGORIES)
    sessions = np.ones((n, C))
    conversion = np.ones(n)
    intensity = np.zeros(n)  # how strong a campaign the day is (0 on normal days)
    spikes = np.ones((n, 24))
    handling_extra = np.zeros(n)
    transit = np.ones(n)
    promise_extra = np.zeros(n)
    food = np.ones(n)
    beauty = np.ones(n)
    years = np.empty(n)
    doy = np.empty(n)
    for i in range(n):
        d = first + timedelta(days=i)
        years[i] = _years(d)
        doy[i] = d.timetuple().tm_yday
        sessions[i] *= WEEKDAY[:, d.weekday()]
        mult, lift, hours = _event(d)
        sessions[i] *= mult
        conversion[i] = lift
        intensity[i] = mult - 1.0
        for h, s in hours.items():
            spikes[i, h] = s
        if d.month == 3 and d.day == 8:
            beauty[i] = 1.8
        if d.month == 10 and d.day <= 7:  # National Day golden week: people travel, stores busy
            sessions[i] *= np.array([0.92, 0.8, 0.92, 1.25])
        # logistics congestion after the big festivals
        if (d.month == 11 and 11 <= d.day <= 15) or (d.month == 6 and 18 <= d.day <= 20):
            handling_extra[i] = 16.0 if d.month == 11 else 8.0
            transit[i] = 1.3 if d.month == 11 else 1.15
            promise_extra[i] = 1.0
        k = _spring(d)
        if k is not None:
            if -25 <= k <= -8:  # 年货节: food shopping before the holiday
                sessions[i] *= 1.08
                food[i] = 1.7
            elif -7 <= k <= -3:
                sessions[i] *= 0.85
                food[i] = 1.3
            elif -2 <= k <= 6:
                sessions[i] *= np.array([0.55, 0.5, 0.58, 0.25 if -1 <= k <= 1 else 0.7])
            elif 7 <= k <= 12:
                sessions[i] *= 0.8
            elif 13 <= k <= 16:
                sessions[i] *= 0.92
            if -5 <= k <= 6:  # couriers go home: slower, and promises are extended
                handling_extra[i] = 36.0
                transit[i] = 1.3
                promise_extra[i] = 2.0
    trend = np.exp(np.log1p(ANNUAL_GROWTH) * years)
    season = 1.0 + 0.06 * np.cos(2 * np.pi * (doy - 340) / 365.25)
    sessions *= (trend * season)[:, None]

    w = _drift(years)[:, None]
    share = co.CHANNEL_SHARE_START + (co.CHANNEL_SHARE_END - co.CHANNEL_SHARE_START) * w
    share /= share.sum(axis=1, keepdims=True)
    pay = co.PAYMENT_MIX_START[None] + (co.PAYMENT_MIX_END - co.PAYMENT_MIX_START)[None] * w[:, :, None]
    pay /= pay.sum(axis=2, keepdims=True)

    hw = co.HOURLY_PROFILE[None, :, :] * spikes[:, None, :]
    hw /= hw.sum(axis=2, keepdims=True)

    strong = np.minimum(intensity, 3.0)
    cat_season = np.ones((n, K))
    cat_season[:, 0] = 1.0 + 0.25 * np.cos(2 * np.pi * (doy - 330) / 365.25)  # winter clothing
    cat_season[:, 1] = 1.0 + 0.35 * strong  # electronics on festivals
    cat_season[:, 2] = 1.0 + 0.45 * strong  # appliances on festivals
    cat_season[:, 3] = beauty * (1.0 + 0.2 * strong)
    cat_season[:, 4] = food
    cat_season[:, 7] = 1.0 + 0.2 * np.cos(2 * np.pi * (doy - 200) / 365.25)  # summer sports
    cat = co.CATEGORY_MIX[None, :, :] * cat_season[:, None, :]
    cat /= cat.sum(axis=2, keepdims=True)

    return Days(
        first=first,
        n=n,
        sessions=sessions,
        conversion=conversion,
        basket=1.0 + 0.05 * strong,
        discount=0.05 + 0.045 * strong,
        refund=1.0 + 0.1 * strong,
        new_buyer=(1.0 + 0.08 * strong) * (1.0 - 0.06 * years),
        hour_weights=hw,
        channel_share=share,
        category=cat,
        payment=pay,
        handling_extra=handling_extra,
        transit=transit,
        promise_extra=promise_extra,
    )


def expected_orders_per_day(days: Days) -> np.ndarray:
    """Expected orders per day for a unit base level (used to calibrate the base level)."""
    cr = (co.PROVINCE_WEIGHT * co.REGION_CONVERSION[co.PROVINCE_REGION_CODE]).sum()
    per_channel = days.sessions * days.channel_share * co.CHANNEL_CONVERSION[None, :]
    return per_channel.sum(axis=1) * days.conversion * cr
