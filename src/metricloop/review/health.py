"""Loop health, pure arithmetic over incident and action records: how fast problems are found,
owned and fixed, and whether promises are kept.

- MTTD: mean(triggered − first anomalous point) — detection delay
- MTTA: mean(acknowledged − triggered) over acknowledged incidents
- MTTR: mean(resolved − triggered) over resolved ones (false positives and duplicates excluded)
- ack within SLA: share of incidents acknowledged by their ack deadline (those still
  unacknowledged count once the deadline has passed)
- actions on time: share of action items done by their due date (open ones count once late)
- closure rate: share of incidents in a terminal state
- overdue: open incidents past their resolve deadline + open action items past due
- repeats: incidents whose metric already had one in the previous ``repeat_window``

Times are minutes in the output; a figure with no data is ``None`` (not 0, which would read as
"instant").
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from statistics import mean
from typing import Any

TERMINAL = ("closed", "false_positive", "duplicate")
NOT_REAL = ("false_positive", "duplicate")


@dataclass(frozen=True)
class IncidentFacts:
    id: int
    metric: str
    owner: str | None
    team: str | None
    status: str
    detected_at: dt.datetime  # first anomalous point
    triggered_at: dt.datetime
    acknowledged_at: dt.datetime | None = None
    resolved_at: dt.datetime | None = None
    ack_due_at: dt.datetime | None = None
    resolve_due_at: dt.datetime | None = None


@dataclass(frozen=True)
class ActionFacts:
    incident_id: int
    owner: str | None
    status: str
    due_at: dt.datetime | None
    done_at: dt.datetime | None


def _minutes(d: dt.timedelta) -> float:
    return d.total_seconds() / 60


def _mean(xs: Sequence[float]) -> float | None:
    return round(mean(xs), 2) if xs else None


def _share(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def repeats(incidents: Sequence[IncidentFacts], window: dt.timedelta) -> set[int]:
    """Ids of incidents whose metric had another incident within ``window`` before them."""
    out: set[int] = set()
    last: dict[str, dt.datetime] = {}
    for inc in sorted(incidents, key=lambda i: i.triggered_at):
        prev = last.get(inc.metric)
        if prev is not None and inc.triggered_at - prev <= window:
            out.add(inc.id)
        last[inc.metric] = inc.triggered_at
    return out


def figures(
    incidents: Sequence[IncidentFacts], actions: Sequence[ActionFacts], now: dt.datetime, repeat_ids: set[int]
) -> dict[str, Any]:
    """The loop-health figures of one group of incidents (and their action items)."""
    real = [i for i in incidents if i.status not in NOT_REAL]
    mttd = [_minutes(i.triggered_at - i.detected_at) for i in incidents]
    mtta = [_minutes(i.acknowledged_at - i.triggered_at) for i in incidents if i.acknowledged_at]
    mttr = [_minutes(i.resolved_at - i.triggered_at) for i in real if i.resolved_at]
    sla_total = sla_hit = 0
    for i in incidents:
        if i.ack_due_at is None:
            continue
        if i.acknowledged_at is not None:
            sla_total += 1
            sla_hit += i.acknowledged_at <= i.ack_due_at
        elif now > i.ack_due_at and i.status not in NOT_REAL:
            sla_total += 1
    act_total = act_hit = overdue_actions = 0
    for a in actions:
        if a.due_at is None or a.status == "cancelled":
            continue
        if a.done_at is not None:
            act_total += 1
            act_hit += a.done_at <= a.due_at
        elif now > a.due_at:
            act_total += 1
            overdue_actions += 1
    overdue_incidents = sum(
        1 for i in incidents if i.status not in TERMINAL and i.status != "verifying"
        and i.resolve_due_at is not None and now > i.resolve_due_at
    )
    return {
        "incidents": len(incidents),
        "open": sum(1 for i in incidents if i.status not in TERMINAL),
        "false_positives": sum(1 for i in incidents if i.status == "false_positive"),
        "mttd_min": _mean(mttd),
        "mtta_min": _mean(mtta),
        "mttr_min": _mean(mttr),
        "ack_within_sla": _share(sla_hit, sla_total),
        "actions": sum(1 for a in actions if a.status != "cancelled"),
        "actions_on_time": _share(act_hit, act_total),
        "closure_rate": _share(sum(1 for i in incidents if i.status in TERMINAL), len(incidents)),
        "overdue": overdue_incidents + overdue_actions,
        "overdue_incidents": overdue_incidents,
        "overdue_actions": overdue_actions,
        "repeats": sum(1 for i in incidents if i.id in repeat_ids),
    }


def loop_health(
    incidents: Sequence[IncidentFacts],
    actions: Sequence[ActionFacts],
    now: dt.datetime,
    *,
    by: Iterable[str] = ("owner", "team", "metric"),
    repeat_window: dt.timedelta = dt.timedelta(days=30),
) -> dict[str, Any]:
    """Overall figures and the same figures per owner, team and metric."""
    rep = repeats(incidents, repeat_window)
    acts_by_inc: dict[int, list[ActionFacts]] = defaultdict(list)
    for a in actions:
        acts_by_inc[a.incident_id].append(a)

    def group(key: Callable[[IncidentFacts], str | None]) -> dict[str, Any]:
        buckets: dict[str, list[IncidentFacts]] = defaultdict(list)
        for i in incidents:
            buckets[key(i) or "—"].append(i)
        return {
            k: figures(v, [a for i in v for a in acts_by_inc[i.id]], now, rep) for k, v in sorted(buckets.items())
        }

    keys: dict[str, Callable[[IncidentFacts], str | None]] = {
        "owner": lambda i: i.owner, "team": lambda i: i.team, "metric": lambda i: i.metric,
    }
    out: dict[str, Any] = {"overall": figures(incidents, list(actions), now, rep)}
    for b in by:
        out[f"by_{b}"] = group(keys[b])
    out["repeats_by_metric"] = {
        m: n for m, n in sorted(
            ((m, sum(1 for i in incidents if i.metric == m and i.id in rep)) for m in {i.metric for i in incidents}),
            key=lambda x: (-x[1], x[0]),
        ) if n
    }
    return out
