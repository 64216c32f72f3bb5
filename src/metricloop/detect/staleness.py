"""Stale data: a monitor that judged nothing because the data stopped is not "all clear".

A run at ``at`` wants to judge the newest complete period (``at − delay``). When ingest freshness
(the newest event time loaded in the tables the metric reads) does not reach it, the periods in
between were never judged: ``run`` and ``detect`` say so, and the UI shows it on the metric. One
period of slack is allowed (tables that store period starts wait for the next period to land).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from metricloop.catalog.models import Grain
from metricloop.detect.monitor import MonitorSpec
from metricloop.detect.series import last_complete_period, loaded_until, shift_period
from metricloop.i18n import Text

if TYPE_CHECKING:
    from metricloop.detect.service import DetectionService

STALE = Text(
    en="{monitor}: the newest data is from {newest} ({age} ago), but this {grain}ly monitor should judge "
    "up to {wanted}: {behind} {grain}(s) were not judged. Load fresh data (metricloop ingest) or check the "
    "pipeline feeding {tables}.",
    zh="{monitor}：最新数据停在 {newest}（{age}前），而这个按{grain_zh}的监控应判断到 {wanted}："
    "有 {behind} 个{grain_zh}没有被判断。请加载新数据（metricloop ingest）或检查 {tables} 的数据管道。",
)
GRAIN_ZH = {"minute": "分钟", "hour": "小时", "day": "天", "week": "周", "month": "月"}
MAX_COUNT = 10_000


@dataclass(frozen=True)
class Staleness:
    """How far a monitor's data is behind what it should judge at ``at``."""

    monitor: str
    metric: str
    grain: Grain
    newest: dt.datetime  # newest event time loaded (project wall clock)
    wanted: dt.datetime  # start of the newest period the run should judge
    behind: int  # periods not judged
    age: dt.timedelta  # at − newest
    tables: tuple[str, ...] = ()

    def render(self, locale: str | None = None) -> str:
        return STALE.render(locale, monitor=self.monitor, newest=f"{self.newest:%Y-%m-%d %H:%M}",
                            age=human_age(self.age, locale), grain=self.grain.value,
                            grain_zh=GRAIN_ZH.get(self.grain.value, self.grain.value),
                            wanted=f"{self.wanted:%Y-%m-%d %H:%M}", behind=self.behind,
                            tables=", ".join(self.tables) or "-")

    def to_dict(self, locale: str | None = None) -> dict[str, object]:
        return {"monitor": self.monitor, "metric": self.metric, "grain": self.grain.value,
                "newest": self.newest.isoformat(), "wanted": self.wanted.isoformat(), "behind": self.behind,
                "age_hours": round(self.age.total_seconds() / 3600, 1), "tables": list(self.tables),
                "message": self.render(locale)}


def human_age(age: dt.timedelta, locale: str | None = None) -> str:
    zh = bool(locale and locale.lower().startswith("zh"))
    days, hours = age.days, age.seconds // 3600
    if days >= 2:
        return f"{days} 天" if zh else f"{days} days"
    if days == 1 or hours >= 1:
        h = days * 24 + hours
        return f"{h} 小时" if zh else f"{h} hours"
    m = max(1, age.seconds // 60)
    return f"{m} 分钟" if zh else f"{m} minutes"


def judge(spec: MonitorSpec, at: dt.datetime, newest: dt.datetime | None,
          tables: tuple[str, ...] = ()) -> Staleness | None:
    """The monitor's staleness at ``at`` (naive project time), or None when its data is current
    or its freshness is unknown (no recorded loads)."""
    if newest is None:
        return None
    grain = spec.grain
    wanted = last_complete_period(at - spec.delay, grain)
    covered = loaded_until(newest, grain)  # the periods before this one are complete
    behind = 0
    p = covered
    while p <= wanted and behind < MAX_COUNT:
        behind += 1
        p = shift_period(p, grain, 1)
    if behind <= 1:
        return None
    return Staleness(spec.name, spec.metric, grain, newest, wanted, behind, at - newest, tables)


def stale_monitors(detection: DetectionService, at: dt.datetime | None = None, *,
                   metric: str | None = None) -> list[Staleness]:
    """Every enabled monitor (of ``metric``) whose data is behind at ``at`` (default: now);
    ``detection``: the project's detection service (``ml.detection``)."""
    from metricloop.catalog.catalog import leaf_models

    ctx = detection.ctx
    when = at or dt.datetime.now(ctx.tz).replace(tzinfo=None, microsecond=0)
    if when.tzinfo is not None:
        when = when.astimezone(ctx.tz).replace(tzinfo=None)
    out = []
    for m in detection.monitors(include_disabled=False):
        spec = m.spec
        if metric is not None and spec.metric != metric:
            continue
        try:
            tables = tuple(sorted({x.table for x in leaf_models(ctx.catalog, ctx.catalog.metric(spec.metric))
                                   if x.table}))
            newest = detection.freshness(spec)
        except Exception:  # a broken monitor is reported by the run itself
            continue
        found = judge(spec, when, newest, tables)
        if found is not None:
            out.append(found)
    return out
