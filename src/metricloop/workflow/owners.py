"""``owners.yaml``, the responsibility table: who owns which metric and slice, who is next.

    people:   id → name, email, mobile, team, title, chat user ids
    teams:    id → name, lead, manager, channels
    rules:    first match wins; match by ``metric`` (glob or list) and/or ``slice``
              (every key equal); ``owner`` is a person id, ``team:<id>`` (its lead) or
              ``from_catalog`` (the metric's first business owner)
    escalation: steps ``{after, to}``; ``to`` is owner | team_lead | manager | a person id
    sla:      ack / resolve deadlines by severity, reminder interval and cap, ack timeout,
              review due
    channels: default notification channels (names from ``channels.yaml``)

Cross-references (unknown person, team or channel) are reported with file, line and field,
like every schema error (the file is read through :mod:`metricloop.yamlio`).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from metricloop.errors import DefinitionError, Issue, MetricLoopError
from metricloop.i18n import Text, pick
from metricloop.notify.message import SEVERITIES, Mention
from metricloop.project import parse_duration
from metricloop.yamlio import Document, load_document, parse_model

FROM_CATALOG = "from_catalog"
ROLE_TARGETS = ("owner", "team_lead", "manager")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(v: str) -> str:
    parse_duration(v)
    return v


class Person(_Strict):
    name: str
    email: str | None = None
    mobile: str | None = None
    team: str | None = None
    title: dict[str, str] = Field(default_factory=dict)
    # chat user ids per platform: dingtalk / wecom / feishu / slack
    user_ids: dict[str, str] = Field(default_factory=dict)

    def mention(self) -> Mention:
        return Mention(name=self.name, mobile=self.mobile, email=self.email, user_ids=self.user_ids)


class Team(_Strict):
    name: dict[str, str] = Field(default_factory=dict)
    lead: str | None = None
    manager: str | None = None
    channels: list[str] = Field(default_factory=list)


class Rule(_Strict):
    """``metric`` (a glob, or a list of globs) and ``slice`` must both match when given."""

    metric: str | list[str] | None = None
    slice: dict[str, str] = Field(default_factory=dict)
    owner: str
    team: str | None = None
    channels: list[str] = Field(default_factory=list)

    def matches(self, metric: str, slice_: Mapping[str, str]) -> bool:
        if self.metric is not None:
            pats = [self.metric] if isinstance(self.metric, str) else self.metric
            if not any(fnmatch.fnmatchcase(metric, p) for p in pats):
                return False
        return all(slice_.get(k) == v for k, v in self.slice.items())

    def describe(self) -> str:
        parts = []
        if self.metric is not None:
            parts.append(f"metric={self.metric if isinstance(self.metric, str) else ','.join(self.metric)}")
        parts += [f"{k}={v}" for k, v in self.slice.items()]
        return " ".join(parts) or "*"


class EscalationStep(_Strict):
    after: str
    to: str

    @field_validator("after")
    @classmethod
    def _after(cls, v: str) -> str:
        return _duration(v)

    @property
    def delay(self) -> dt.timedelta:
        return parse_duration(self.after)


DEFAULT_ACK = {"critical": "15 minutes", "high": "30 minutes", "medium": "2 hours", "low": "8 hours", "info": "1 day"}
DEFAULT_RESOLVE = {"critical": "4 hours", "high": "1 day", "medium": "3 days", "low": "7 days", "info": "14 days"}


class Sla(_Strict):
    """Deadlines by severity (durations like ``30 minutes``).

    ``ack_timeout``: an incident acknowledged but left without progress (not investigating,
    mitigated or resolved) for this long goes back to *triggered*, is announced again and its
    escalation chain restarts (PagerDuty's acknowledgement timeout); unset = never.
    ``max_reminders``: how many reminders an acknowledged / investigating incident gets
    (every ``remind_every``) before they stop; 0 = none.
    """

    ack: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_ACK))
    resolve: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_RESOLVE))
    remind_every: str = "4 hours"
    max_reminders: int = Field(12, ge=0, le=1000)
    ack_timeout: str | None = None
    review_due: str = "5 days"
    group_window: str = "6 hours"  # alerts of one metric this close together share an incident

    @field_validator("ack", "resolve")
    @classmethod
    def _by_severity(cls, v: dict[str, str]) -> dict[str, str]:
        for sev, d in v.items():
            if sev not in SEVERITIES:
                raise ValueError(f"{sev!r} is not one of {', '.join(SEVERITIES)}")
            _duration(d)
        return v

    @field_validator("remind_every", "review_due", "group_window")
    @classmethod
    def _dur(cls, v: str) -> str:
        return _duration(v)

    @field_validator("ack_timeout")
    @classmethod
    def _optional_dur(cls, v: str | None) -> str | None:
        return None if v is None else _duration(v)

    @property
    def ack_timeout_delta(self) -> dt.timedelta | None:
        return parse_duration(self.ack_timeout) if self.ack_timeout else None

    def ack_within(self, severity: str) -> dt.timedelta:
        return parse_duration(self.ack.get(severity) or DEFAULT_ACK.get(severity, "2 hours"))

    def resolve_within(self, severity: str) -> dt.timedelta:
        return parse_duration(self.resolve.get(severity) or DEFAULT_RESOLVE.get(severity, "3 days"))


class OwnersFile(_Strict):
    """The whole ``owners.yaml``."""

    people: dict[str, Person] = Field(default_factory=dict)
    teams: dict[str, Team] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    escalation: list[EscalationStep] = Field(default_factory=list)
    sla: Sla = Field(default_factory=Sla)
    channels: list[str] = Field(default_factory=list)

    def person(self, pid: str | None) -> Person | None:
        return self.people.get(pid) if pid else None

    def team_of(self, pid: str | None) -> str | None:
        p = self.person(pid)
        return p.team if p else None

    def display(self, pid: str | None, locale: str = "zh-CN") -> str:
        p = self.person(pid)
        return p.name if p else (pid or "—")

    def team_name(self, tid: str | None, locale: str = "zh-CN") -> str:
        t = self.teams.get(tid) if tid else None
        return pick(t.name, locale, tid or "—") if t else (tid or "—")


@dataclass(frozen=True)
class Assignment:
    """Who owns an incident and where it is announced; ``reason`` says why (both languages),
    ``by``: what decided it (``cause``: a rule naming the cause slice, ``slice``: a rule matching
    the metric / alerting slice, ``catalog``, ``none``)."""

    owner: str | None
    team: str | None
    rule: str
    channels: tuple[str, ...]
    reason: Text | None = None
    by: str = "slice"
    cause: Mapping[str, str] | None = None

    def routing(self) -> dict[str, object]:
        """What the incident stores and shows about this choice (JSON)."""
        return {"owner": self.owner, "team": self.team, "rule": self.rule, "by": self.by,
                "cause": dict(self.cause) if self.cause else None,
                "reason": self.reason.to_dict() if self.reason else None}


def assign(
    owners: OwnersFile, metric: str, slice_: Mapping[str, str], catalog_owners: Sequence[str] = ()
) -> Assignment:
    """First matching rule → owner, team and channels (rule, then team, then file defaults)."""
    for i, rule in enumerate(owners.rules):
        if not rule.matches(metric, slice_):
            continue
        owner: str | None
        if rule.owner == FROM_CATALOG:
            owner = next((o for o in catalog_owners if o in owners.people), None)
            if owner is None:
                continue  # the catalog names nobody we know: try the next rule
        elif rule.owner.startswith("team:"):
            owner = owners.teams[rule.owner[5:]].lead
        else:
            owner = rule.owner
        team = rule.team or owners.team_of(owner)
        team_channels = owners.teams[team].channels if team and team in owners.teams else []
        channels = rule.channels or team_channels or owners.channels
        return Assignment(owner, team, f"rules[{i}] {rule.describe()}", tuple(channels))
    owner = next((o for o in catalog_owners if o in owners.people), None)
    team = owners.team_of(owner)
    team_channels = owners.teams[team].channels if team and team in owners.teams else []
    return Assignment(owner, team, "catalog" if owner else "none", tuple(team_channels or owners.channels))


def _slice_text(slice_: Mapping[str, str]) -> str:
    return "&".join(f"{k}={v}" for k, v in slice_.items())


def route(
    owners: OwnersFile, metric: str, slice_: Mapping[str, str], cause: Mapping[str, str] | None = None,
    catalog_owners: Sequence[str] = (), *, metric_label: str | None = None, basis: str = "cause",
) -> Assignment:
    """The owner of an incident of ``metric`` on ``slice_`` whose cause is ``cause`` (the full slice
    localization named, e.g. ``city=南京&platform=app`` under a ``city`` monitor).

    Why: the alerting slice says where it was seen, the cause says what broke. The rules are
    applied to the cause slice (first match wins, as everywhere in owners.yaml), so a file that
    lists ``platform: app`` before ``metric: conversion`` hands the app outage that shows up as a
    drop of 南京's conversion to the app owner, not to the growth lead. Without a cause this is
    :func:`assign` on the alerting slice. The returned ``reason`` says which rule decided and
    whether it was the cause's dimensions that matched (``by``: ``cause``; ``leading`` when
    ``basis`` says the slice is a dominant leading slice rather than a significant cause).
    """
    label = metric_label or metric
    scope = {str(k): str(v) for k, v in slice_.items()}
    full = {**scope, **{str(k): str(v) for k, v in (cause or {}).items()}}
    extra = {k for k, v in full.items() if scope.get(k) != v}
    base = assign(owners, metric, full, catalog_owners)
    name = owners.display(base.owner)
    full_t, scope_t = _slice_text(full), _slice_text(scope)
    what_en, what_zh = ("the leading slice", "领先切片") if basis == "leading" else ("the cause", "原因切片")
    if base.rule.startswith("rules["):
        i = int(base.rule[6:base.rule.index("]")])
        desc = owners.rules[i].describe()
        if set(owners.rules[i].slice) & extra:
            reason = Text(en=f"{what_en} {full_t} matches rules[{i}] ({desc}) of owners.yaml: {name}",
                          zh=f"{what_zh} {full_t} 命中 owners.yaml 的 rules[{i}]（{desc}）：{name}")
            return Assignment(base.owner, base.team, base.rule, base.channels, reason,
                              "leading" if basis == "leading" else "cause", full)
        where_en, where_zh = (f"{what_en} {full_t}", f"{what_zh} {full_t}") if extra else \
            (scope_t or "the total", scope_t or "总体")
        reason = Text(en=f"rules[{i}] ({desc}) of owners.yaml matches {label} on {where_en}: {name}",
                      zh=f"owners.yaml 的 rules[{i}]（{desc}）匹配 {label}（{where_zh}）：{name}")
        return Assignment(base.owner, base.team, base.rule, base.channels, reason, "slice", full if extra else None)
    where_en, where_zh = (full_t or "the total", full_t or "总体")
    if base.rule == "catalog":
        reason = Text(en=f"no rule of owners.yaml matches {label} on {where_en}; the catalog names {name} "
                         "as its owner",
                      zh=f"owners.yaml 中没有规则匹配 {label}（{where_zh}）；指标目录登记的负责人是 {name}")
        return Assignment(base.owner, base.team, base.rule, base.channels, reason, "catalog",
                          full if extra else None)
    reason = Text(en=f"no rule of owners.yaml matches {label} on {where_en} and the catalog names no known owner",
                  zh=f"owners.yaml 中没有规则匹配 {label}（{where_zh}），指标目录也没有登记已知的负责人")
    return Assignment(base.owner, base.team, base.rule, base.channels, reason, "none", full if extra else None)


def escalation_target(owners: OwnersFile, step: EscalationStep, owner: str | None, team: str | None) -> str | None:
    """The person a step notifies (``None`` when the role is vacant)."""
    t = owners.teams.get(team) if team else None
    if step.to == "owner":
        return owner
    if step.to == "team_lead":
        return t.lead if t else None
    if step.to == "manager":
        return t.manager if t else None
    return step.to


def person_name(owners: OwnersFile, who: str | None,
                user_display: Callable[[str], str | None] | None = None) -> str:
    """A person as people know them: 王芳 for ``wang.fang`` (owners.yaml first, then a signed-in
    user's display name through ``user_display``); ``—`` for nobody, ``system`` as it is. One rule
    for every reader (API, UI, assistant), so a name reads the same everywhere."""
    if not who:
        return "—"
    if who == "system":
        return who
    person = owners.person(who)
    if person is not None:
        return person.name
    if user_display is None:
        return who
    try:
        return user_display(who) or who
    except MetricLoopError:  # not a user either: the id as it is
        return who


def _cross_check(o: OwnersFile, doc: Document, channels: Sequence[str] | None) -> list[Issue]:
    issues: list[Issue] = []
    people, teams = o.people, o.teams
    for pid, p in people.items():
        if p.team is not None and p.team not in teams:
            issues.append(doc.issue(("people", pid, "team"), f"unknown team {p.team!r}"))
    for tid, t in teams.items():
        for role in ("lead", "manager"):
            who = getattr(t, role)
            if who is not None and who not in people:
                issues.append(doc.issue(("teams", tid, role), f"unknown person {who!r}"))
    for i, r in enumerate(o.rules):
        if r.owner.startswith("team:"):
            tid = r.owner[5:]
            if tid not in teams:
                issues.append(doc.issue(("rules", i, "owner"), f"unknown team {tid!r}"))
            elif teams[tid].lead is None:
                issues.append(doc.issue(("rules", i, "owner"), f"team {tid!r} has no lead"))
        elif r.owner != FROM_CATALOG and r.owner not in people:
            issues.append(
                doc.issue(("rules", i, "owner"), f"unknown person {r.owner!r} (or use team:<id> / {FROM_CATALOG})")
            )
        if r.team is not None and r.team not in teams:
            issues.append(doc.issue(("rules", i, "team"), f"unknown team {r.team!r}"))
    for i, s in enumerate(o.escalation):
        if s.to not in ROLE_TARGETS and s.to not in people:
            expected = ", ".join(ROLE_TARGETS)
            issues.append(doc.issue(("escalation", i, "to"), f"{s.to!r} is not one of {expected} or a person id"))
    if channels is not None:
        known = set(channels)
        refs: list[tuple[tuple[str | int, ...], str]] = [(("channels", i), c) for i, c in enumerate(o.channels)]
        refs += [(("teams", tid, "channels", i), c) for tid, t in teams.items() for i, c in enumerate(t.channels)]
        refs += [(("rules", i, "channels", j), c) for i, r in enumerate(o.rules) for j, c in enumerate(r.channels)]
        for path, c in refs:
            if c not in known:
                issues.append(doc.issue(path, f"unknown channel {c!r} (not in channels.yaml)"))
    return issues


def load_owners(path: Path, root: Path | None = None, channels: Sequence[str] | None = None) -> OwnersFile:
    """Read and validate ``owners.yaml``; every problem is located (file:line field)."""
    doc = load_document(path, root)
    obj, issues = parse_model(OwnersFile, doc.data if doc.data is not None else {}, doc)
    issues = doc.issues + issues
    if obj is not None:
        issues += _cross_check(obj, doc, channels)
    if issues or obj is None:
        raise DefinitionError(issues)
    return obj
