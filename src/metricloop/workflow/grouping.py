"""Alerts → incidents, pure: dedup by fingerprint, grouping by metric and time window (and
across the metric tree: one incident per event), inhibition of child slices by their parent,
silences and maintenance windows.

The service feeds these functions plain records read from the store and writes back what they
decide; keeping the decisions here makes them testable without a database.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from metricloop.i18n import Text
from metricloop.notify.message import SEVERITIES, severity_rank

# Detector severities (detect.types.Severity names) mapped onto the notification scale.
SEVERITY_ALIASES = {"warning": "high", "warn": "high", "error": "critical", "none": "info"}


def normalize_severity(value: str | int) -> str:
    """``critical``/``high``/``medium``/``low``/``info``; detector levels ``warning``→high,
    ``critical``→critical (integers 2/1 likewise)."""
    if isinstance(value, int):
        return {2: "critical", 1: "high"}.get(value, "info")
    v = value.lower()
    v = SEVERITY_ALIASES.get(v, v)
    if v not in SEVERITIES:
        raise ValueError(f"severity {value!r} is not one of {', '.join(SEVERITIES)} (or warning)")
    return v


@dataclass(frozen=True)
class AlertInput:
    """One anomaly event handed to the workflow (from detection, enriched by cause analysis).

    ``start``/``end``: first and last abnormal point (aware datetimes, or naive in the project's
    timezone). ``explanation``: ``{"causes": [short text or {"en","zh-CN"}], ...payload}``.
    """

    fingerprint: str
    monitor: str
    metric: str
    slice: Mapping[str, str]
    start: dt.datetime
    end: dt.datetime
    severity: str
    actual: float | None = None
    expected: float | None = None
    lower: float | None = None
    upper: float | None = None
    impact: float | None = None
    reason: Text | None = None
    explanation: dict[str, Any] | None = None


@dataclass(frozen=True)
class OpenIncident:
    """What grouping needs to know about an incident that is still open (``metrics`` and
    ``slices``: those of its alerts, for grouping across the metric tree)."""

    id: int
    metric: str
    window_start: dt.datetime
    window_end: dt.datetime
    metrics: frozenset[str] = frozenset()
    slices: tuple[Mapping[str, str], ...] = ()
    evidence: tuple[Mapping[str, str], ...] = ()  # its alerts' :func:`evidence` (empty: ``slices``)


@dataclass
class Group:
    """Alerts that go to one incident (``incident_id`` None: a new incident)."""

    metric: str
    window_start: dt.datetime
    window_end: dt.datetime
    incident_id: int | None = None
    alerts: list[AlertInput] = field(default_factory=list)
    metrics: set[str] = field(default_factory=set)
    slices: list[Mapping[str, str]] = field(default_factory=list)
    evidence: list[Mapping[str, str]] = field(default_factory=list)

    @property
    def all_metrics(self) -> set[str]:
        return {self.metric, *self.metrics, *(a.metric for a in self.alerts)}


@dataclass(frozen=True)
class MetricTree:
    """The catalog's metric tree as grouping sees it: which metrics tell of one event, which is the root.

    Why: one outage moves orders, gmv and conversion at once; three incidents for it page three
    people about one thing. Metrics joined by at most ``reach`` edges of the tree (a ratio's
    numerator and denominator, a formula's inputs, declared drivers) are *related*; anomalies of
    related metrics at overlapping times join one incident when their slices tell of the same
    place (:func:`same_place`).
    """

    children: Mapping[str, frozenset[str]]
    tiers: Mapping[str, int] = field(default_factory=dict)  # smaller = more important (north star 0)
    reach: int = 3

    @classmethod
    def from_edges(cls, edges: Iterable[tuple[str, str]], tiers: Mapping[str, int] | None = None,
                   reach: int = 3) -> MetricTree:
        """``edges``: (parent, child) pairs, the child feeding the parent."""
        kids: dict[str, set[str]] = {}
        for parent, child in edges:
            if parent != child:
                kids.setdefault(parent, set()).add(child)
        return cls({k: frozenset(v) for k, v in kids.items()}, dict(tiers or {}), reach)

    def _neighbours(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for parent, kids in self.children.items():
            for child in kids:
                out.setdefault(parent, set()).add(child)
                out.setdefault(child, set()).add(parent)
        return out

    def distance(self, a: str, b: str) -> int | None:
        """Edges between ``a`` and ``b`` in the undirected tree (None: not connected)."""
        if a == b:
            return 0
        nb = self._neighbours()
        dist = {a: 0}
        queue = deque([a])
        while queue:
            node = queue.popleft()
            for nxt in nb.get(node, ()):
                if nxt not in dist:
                    dist[nxt] = dist[node] + 1
                    if nxt == b:
                        return dist[nxt]
                    queue.append(nxt)
        return None

    def related(self, a: str, b: str) -> bool:
        d = self.distance(a, b)
        return d is not None and d <= self.reach

    def descendants(self, metric: str) -> set[str]:
        out: set[str] = set()
        stack = [metric]
        while stack:
            for c in self.children.get(stack.pop(), ()):
                if c not in out:
                    out.add(c)
                    stack.append(c)
        return out

    def root(self, metrics: Sequence[str]) -> str:
        """The metric an incident of ``metrics`` is named by: the one above most of the others in
        the tree, then the most important tier, then the first given (the earliest alert's)."""
        names = list(dict.fromkeys(metrics))
        if not names:
            raise ValueError("root of no metrics")

        def key(i: int) -> tuple[int, int, int]:
            m = names[i]
            below = len(self.descendants(m) & set(names))
            return (-below, self.tiers.get(m, 99), i)

        return names[min(range(len(names)), key=key)]

    def ordered(self, metrics: Sequence[str]) -> list[str]:
        """``metrics`` root first, then the others in the order given."""
        names = list(dict.fromkeys(metrics))
        if not names:
            return []
        r = self.root(names)
        return [r, *(m for m in names if m != r)]


def compatible(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """Two slices can describe one event: no dimension has different values (``{}`` fits all)."""
    return all(b.get(k, v) == v for k, v in a.items())


DOMINANT = 0.8
"""A leading slice carrying this share of the change speaks for the change when no cause is
significant (it routes the incident, and it is where the change is for grouping)."""


def evidence(slice_: Mapping[str, str], explanation: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """Where an alert says its change is: its own slice, each cause its explanation names, or its
    first leading slice when that carries :data:`DOMINANT` of the change (within its own slice). A total's alert
    explained by ``category=食品`` tells of 食品; one without an explanation, or whose leading
    slices are merely the largest ones (华东, mini_program lead most changes), only of the total."""
    own = {str(k): str(v) for k, v in slice_.items()}
    out = [own]
    ex = explanation or {}
    named: list[Any] = []
    if ex.get("kind") == "causes":
        named = list(ex.get("slices") or ())
    elif ex.get("kind") == "leading_slices":  # the first only, as routing reads it
        slices, shares = list(ex.get("slices") or ()), list(ex.get("contributions") or ())
        if slices and shares and isinstance(shares[0], int | float) and shares[0] >= DOMINANT:
            named = slices[:1]
    for s in named:
        if isinstance(s, Mapping):
            full = {**own, **{str(k): str(v) for k, v in s.items()}}
            if compatible(own, s) and full not in out:
                out.append(full)
    return out


def same_place(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """Two alerts' slices (or the places their explanations name) tell of one event: the same
    slice, or compatible slices naming a value in common (``city=南京`` and ``city=南京&app``).

    Why not merely :func:`compatible`: the total ``{}`` and slices on other dimensions fit every
    slice, so a refund surge on ``category=食品`` would join a sessions dip in ``region=东北``
    at the same hour. A parent joins its child only when its explanation names the child."""
    return compatible(a, b) and (dict(a) == dict(b) or bool(set(a.items()) & set(b.items())))


@dataclass(frozen=True)
class Grouping:
    groups: list[Group]
    duplicates: list[tuple[AlertInput, int]]  # already known fingerprint → its incident


def group_alerts(
    alerts: Sequence[AlertInput],
    open_incidents: Sequence[OpenIncident],
    known: Mapping[str, int],
    window: dt.timedelta,
    tree: MetricTree | None = None,
) -> Grouping:
    """Dedup (a fingerprint already in an open incident), then join the open incident of the same
    metric whose window (± ``window``) contains the alert's start; else (with ``tree``) the one
    of a related metric whose window (± ``window``) overlaps the alert's and which has an alert
    telling of the same place (:func:`same_place` on their :func:`evidence`); else start a new
    group."""
    groups: list[Group] = [
        Group(o.metric, o.window_start, o.window_end, incident_id=o.id, metrics=set(o.metrics),
              slices=list(o.slices), evidence=list(o.evidence or o.slices))
        for o in open_incidents
    ]
    duplicates: list[tuple[AlertInput, int]] = []
    seen: dict[str, Group] = {}
    for a in sorted(alerts, key=lambda a: (a.start, a.fingerprint)):
        if a.fingerprint in known:
            duplicates.append((a, known[a.fingerprint]))
            continue
        if a.fingerprint in seen:  # the same event twice in one batch: keep the latest facts
            g = seen[a.fingerprint]
            g.alerts = [x for x in g.alerts if x.fingerprint != a.fingerprint] + [a]
            g.window_end = max(g.window_end, a.end)
            continue
        target = None
        for g in groups:
            if g.metric == a.metric and g.window_start - window <= a.start <= g.window_end + window:
                target = g
                break
        if target is None and tree is not None:
            target = _related_group(a, groups, window, tree)
        if target is None:
            target = Group(a.metric, a.start, a.end)
            groups.append(target)
        target.alerts.append(a)
        target.slices.append(dict(a.slice))
        target.evidence.extend(evidence(a.slice, a.explanation))
        target.window_start = min(target.window_start, a.start)
        target.window_end = max(target.window_end, a.end)
        seen[a.fingerprint] = target
    return Grouping([g for g in groups if g.alerts], duplicates)


def _related_group(a: AlertInput, groups: Sequence[Group], window: dt.timedelta, tree: MetricTree) -> Group | None:
    """The group of a related metric this alert belongs with: overlapping (± ``window``), one of
    its alerts telling of the same place; the nearest metric in the tree wins, then the earliest
    group."""
    best: tuple[int, int] | None = None
    found = None
    mine = evidence(a.slice, a.explanation)
    for i, g in enumerate(groups):
        if not (a.start <= g.window_end + window and a.end >= g.window_start - window):
            continue
        theirs = g.evidence or g.slices or [{}]
        if not any(same_place(x, y) for x in mine for y in theirs):
            continue
        dists = [d for d in (tree.distance(a.metric, m) for m in g.all_metrics) if d is not None and d <= tree.reach]
        if not dists:
            continue
        key = (min(dists), i)
        if best is None or key < best:
            best, found = key, g
    return found


def is_parent(parent: Mapping[str, str], child: Mapping[str, str]) -> bool:
    """``{region: 华东}`` is the parent of ``{region: 华东, channel: app}`` (a strict subset)."""
    return len(parent) < len(child) and all(child.get(k) == v for k, v in parent.items())


def inhibited(slices: Sequence[Mapping[str, str]]) -> dict[int, int]:
    """Index of each child slice → index of its closest alerting parent (the child is not
    announced on its own: the parent's message already covers it)."""
    out: dict[int, int] = {}
    for i, child in enumerate(slices):
        parents = [j for j, p in enumerate(slices) if j != i and is_parent(p, child)]
        if parents:
            out[i] = max(parents, key=lambda j: len(slices[j]))
    return out


def common_slice(slices: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """The slice every alert shares (the incident's slice; empty when they differ)."""
    if not slices:
        return {}
    items = set(slices[0].items())
    for sl in slices[1:]:
        items &= set(sl.items())
    return {k: v for k, v in slices[0].items() if (k, v) in items}


def worst(severities: Sequence[str]) -> str:
    return min(severities, key=severity_rank) if severities else "info"


@dataclass(frozen=True)
class SilenceRule:
    id: int
    kind: str  # silence | maintenance
    metric: str
    monitor: str
    slice: Mapping[str, str]
    starts_at: dt.datetime
    ends_at: dt.datetime


def silenced_by(alert: AlertInput, silences: Sequence[SilenceRule], at: dt.datetime) -> SilenceRule | None:
    """The first silence active at ``at`` whose metric/monitor patterns and slice match."""
    for s in silences:
        if not (s.starts_at <= at < s.ends_at):
            continue
        if not fnmatch.fnmatchcase(alert.metric, s.metric) or not fnmatch.fnmatchcase(alert.monitor, s.monitor):
            continue
        if all(alert.slice.get(k) == v for k, v in s.slice.items()):
            return s
    return None


SILENCE_KINDS = ("silence", "maintenance")
# alert states that keep an alert out of incidents: held by a silence now, or held by one that
# ended while the anomaly was already over ("expired": on record, nobody paged)
HELD_STATES = (*SILENCE_KINDS, "expired")


def silence_ref(rule: SilenceRule) -> str:
    """What an alert's ``suppressed_by`` says: ``maintenance:3``."""
    return f"{rule.kind}:{rule.id}"


def hold(
    alert: AlertInput,
    silences: Sequence[SilenceRule],
    now: dt.datetime,
    last_period_end: dt.datetime,
    held_by: SilenceRule | None = None,
) -> tuple[str, SilenceRule] | None:
    """Whether ``alert`` stays out of incidents: ``(state, silence)``, or None when it goes to one.

    A silence active ``now`` holds it (state: the silence's kind). Once the silence that held it
    (``held_by``) or that covered its start has ended, the alert is released only if the anomaly
    outlasted the silence — its last abnormal period ends after the silence does — else it stays
    held as ``expired`` (what happened during a maintenance window is the maintenance).
    """
    rule = silenced_by(alert, silences, now)
    if rule is not None:
        return rule.kind, rule
    past = held_by or silenced_by(alert, silences, alert.start)
    if past is not None and last_period_end <= past.ends_at:
        return "expired", past
    return None
