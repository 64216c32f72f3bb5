"""The baseline an incident is explained against: the monitor's own, not blindly last week.

Why: "the same window last week" is what a person reaches for, but the loop knows better. Last
week may hold an incident of its own (a drop there makes this week look like a rise everywhere)
or the monitor may expect a different level than last week (growth, a holiday). So:

- the baseline window is the most recent same-weekday window (1 to ``weeks`` weeks back) in
  which the metric's monitors flagged nothing on a slice that overlaps the incident's
  (:func:`baseline_weeks`); last week when every candidate was disturbed;
- for an additive metric the expected total is the monitor's: the window's actual total minus
  the deviations the detector measured on the incident's own slice (:func:`monitor_expected_total`;
  periods it did not flag count as expected), and each slice's expectation is the baseline slice
  scaled to it (``ExplainService.explain(expected_total=...)``).

Pure: the caller reads the anomaly windows and the alerts from the store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from metricloop.i18n import Text

__all__ = ["Baseline", "baseline_weeks", "compatible", "monitor_expected_total"]

WEEK = dt.timedelta(days=7)


def compatible(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """Two slices share rows (no dimension with different values; ``{}`` overlaps everything)."""
    return all(b.get(k, v) == v for k, v in a.items())


def baseline_weeks(
    start: dt.datetime, end: dt.datetime, busy: Iterable[tuple[dt.datetime, dt.datetime]], *, weeks: int = 4,
) -> int:
    """How many weeks back the baseline of ``start``..``end`` (exclusive) lies: the most recent
    shift whose window is clear of every ``busy`` window (``(start, end)``, end exclusive) and of
    the incident itself; the first shift clear of the incident when none is clear of both."""
    busy = list(busy)
    first = max(1, -(-(end - start) // WEEK))  # a window longer than a week cannot compare with itself
    for k in range(first, first + weeks):
        b0, b1 = start - k * WEEK, end - k * WEEK
        if not any(b0 < e and s < b1 for s, e in busy):
            return k
    return first


def monitor_expected_total(
    actual_total: float | None, deviations: Sequence[tuple[float | None, float | None, float | None]],
) -> float | None:
    """The total the monitor expected over the window: ``actual_total`` minus what its alerts on
    the explained slice deviated. ``deviations``: per alert, (actual, expected) at its peak (the
    direction) and its impact (Σ|actual − expected| over its points). None when unknown or when
    the result is not a plausible level (not positive, or the deviation exceeds ten times it)."""
    if actual_total is None or not deviations:
        return None
    moved = 0.0
    for actual, expected, impact in deviations:
        if actual is None or expected is None or impact is None or actual == expected:
            continue
        moved += impact if actual > expected else -impact
    if moved == 0.0:
        return None
    expected_total = actual_total - moved
    if expected_total <= 0 or abs(moved) > 10 * expected_total:
        return None
    return expected_total


@dataclass(frozen=True)
class Baseline:
    """What an incident's explanation was compared with (stored with the explanation)."""

    start: dt.datetime
    end: dt.datetime
    weeks_back: int
    expected_total: float | None = None

    @property
    def text(self) -> Text:
        weeks_en = "last week" if self.weeks_back == 1 else f"{self.weeks_back} weeks earlier"
        weeks_zh = "上周同期" if self.weeks_back == 1 else f"{self.weeks_back} 周前同期"
        if self.expected_total is None:
            return Text(en=f"compared with the same window {weeks_en} (no anomaly there)",
                        zh=f"对比{weeks_zh}（该时段无异常）")
        return Text(en=f"compared with the monitor's expectation; slices shaped like the same window {weeks_en}",
                    zh=f"对比监控的期望值；各切片按{weeks_zh}的结构分配")

    def to_dict(self) -> dict[str, object]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "weeks_back": self.weeks_back,
                "expected_total": self.expected_total, "source": "monitor" if self.expected_total is not None
                else "clean_week", "text": self.text.to_dict()}
