"""The explanation an incident carries: causes (or the leading slices) over its whole window.

Why: an alert's own window is the loop's last few periods; an incident grows. Explaining only the
first alert's window answered "no slice stands out" for a 10-hour outage whose first two hours
were still within noise. So the loop re-explains an incident over its whole window each time it
extends, keeps the earlier explanations as ``history``, and when localization finds no
significant slice it stores the drill-down's top movers as ``leading_slices`` with their
contribution, saying which of the two it is (``kind``). Causes are named by their full slice:
the incident's scope (``city=南京``) plus what localization found below it (``platform=app``), so
a 1-D monitor's incident names the deeper slice.

The payload is plain JSON; the keys the workflow and the review already read (``causes`` as
localized texts, ``keys``, ``slices``, ``explanation_id``, ``summary``) keep their meaning.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from metricloop.catalog.models import Grain
from metricloop.engine.compiler import shift_by
from metricloop.engine.filters import slice_filter
from metricloop.errors import MetricLoopError
from metricloop.explain.baseline import WEEK, Baseline, baseline_weeks, compatible

if TYPE_CHECKING:
    from metricloop.explain.service import ExplainResult, ExplainService

__all__ = ["HISTORY_LIMIT", "explain_window", "incident_payload", "refresh_incidents", "with_history"]

log = logging.getLogger(__name__)

HISTORY_LIMIT = 20
"""Earlier explanations kept on an incident (oldest dropped first)."""


def _pct(value: Any) -> str:
    return f" {float(value):+.0%}" if isinstance(value, (int, float)) else ""


def _leading(drilldown: Mapping[str, Any] | None, top: int) -> list[dict[str, Any]]:
    """The drill-down's values that moved the total most (by |contribution|), across dimensions."""
    rows: list[dict[str, Any]] = []
    for d in (drilldown or {}).get("dimensions") or []:
        for r in d.get("rows") or []:
            if r.get("is_other") or r.get("contribution") is None:
                continue
            rows.append({"slice": {str(r["dimension"]): str(r["value"])},
                         "contribution": float(r["contribution"]),
                         "relative_change": r.get("relative_change")})
    rows.sort(key=lambda r: -abs(r["contribution"]))
    return rows[:top]


def incident_payload(
    explanation: Mapping[str, Any], scope: Mapping[str, str], *, start: dt.datetime, end: dt.datetime,
    grain: str, top: int = 3, baseline: Baseline | None = None,
) -> dict[str, Any]:
    """What an alert or incident stores from one explanation (``explanation``: ``ExplainResult.to_dict()``).

    ``start``/``end`` are the first and last anomalous periods (their starts), ``scope`` the
    alerting slice the explanation was filtered to.
    """
    found = list((explanation.get("localization") or {}).get("causes") or [])[:top]
    if found:
        kind = "causes"
        items = [{"slice": {**scope, **{str(k): str(v) for k, v in (c.get("slice") or {}).items()}},
                  "contribution": c.get("contribution"), "relative_change": c.get("relative_change")}
                 for c in found]
    else:
        items = _leading(explanation.get("drilldown"), top)
        for it in items:
            it["slice"] = {**scope, **it["slice"]}
        kind = "leading_slices" if items else "none"
    texts = []
    for it in items:
        name = "&".join(f"{k}={v}" for k, v in it["slice"].items())
        share = it.get("contribution")
        tail_en = f" ({share:.0%} of the change)" if isinstance(share, (int, float)) else ""
        tail_zh = f"（贡献 {share:.0%}）" if isinstance(share, (int, float)) else ""
        lead_en = "" if kind == "causes" else "leading slice: "
        lead_zh = "" if kind == "causes" else "领先切片："
        texts.append({"en": f"{lead_en}{name}{_pct(it.get('relative_change'))}{tail_en}",
                      "zh-CN": f"{lead_zh}{name}{_pct(it.get('relative_change'))}{tail_zh}"})
    return {
        "kind": kind,
        "causes": texts,
        "slices": [it["slice"] for it in items],
        "contributions": [it.get("contribution") for it in items],
        "keys": ["&".join(f"{k}={v}" for k, v in it["slice"].items()) for it in items],
        "explanation_id": explanation.get("id"),
        "summary": explanation.get("summary"),
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "grain": grain,
        "scope": dict(scope),
        "baseline": baseline.to_dict() if baseline is not None else explanation.get("baseline"),
        "history": [],
    }


ALERT_CAUSES = 2
"""Causes named only by an incident's alerts that its explanation also lists (at most)."""


def _nested(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """One slice lies within the other (equal, a parent or a child)."""
    return set(a.items()) <= set(b.items()) or set(b.items()) <= set(a.items())


def with_alert_causes(payload: dict[str, Any], alert_explanations: Sequence[Mapping[str, Any] | None],
                      limit: int = ALERT_CAUSES) -> dict[str, Any]:
    """``payload`` with the causes its alerts' own explanations named and it did not, appended.

    Why: an incident can hold two overlapping events (a cuisine's evening drop, and a city's
    outage starting two hours later); explained over its whole window the larger one can dilute
    the other below significance, while the alerts that saw it over their own windows named it.
    A slice within (or above) one the incident already names adds nothing and is skipped; the
    rest are ranked by how many alerts named them, marked ``source: alerts`` and said so.
    """
    scope = {str(k): str(v) for k, v in (payload.get("scope") or {}).items()}
    named = [dict(sl) for sl in payload.get("slices") or []]
    votes: dict[tuple[tuple[str, str], ...], list[Any]] = {}
    for expl in alert_explanations:
        if not expl or expl.get("kind") != "causes":
            continue
        for sl, share in zip(expl.get("slices") or [], expl.get("contributions") or [], strict=False):
            full = {str(k): str(v) for k, v in (sl or {}).items()}
            if any(full.get(k, v) != v for k, v in scope.items()) or any(_nested(full, n) for n in named):
                continue
            key = tuple(sorted(full.items()))
            votes.setdefault(key, []).append(share)
    extra = sorted(votes.items(), key=lambda kv: -len(kv[1]))[:limit]
    if not extra:
        return payload
    out = {**payload, "slices": list(payload.get("slices") or []), "keys": list(payload.get("keys") or []),
           "contributions": list(payload.get("contributions") or []), "causes": list(payload.get("causes") or []),
           "sources": list(payload.get("sources") or ["incident"] * len(named))}
    for key, shares in extra:
        sl = dict(key)
        name = "&".join(f"{k}={v}" for k, v in sl.items())
        out["slices"].append(sl)
        out["keys"].append(name)
        out["contributions"].append(None)
        out["sources"].append("alerts")
        out["causes"].append({"en": f"also named by {len(shares)} of its alerts: {name}",
                              "zh-CN": f"另有 {len(shares)} 条告警的归因指向：{name}"})
    if out.get("kind") == "none":
        out["kind"] = "causes"
    return out


def with_history(new: dict[str, Any], previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """``new`` with ``previous`` (and its history) appended to ``history``, newest last."""
    if not previous:
        return {**new, "history": []}
    earlier = list(previous.get("history") or [])
    earlier.append({k: v for k, v in previous.items() if k != "history"})
    return {**new, "history": earlier[-HISTORY_LIMIT:]}


def _utc(value: dt.datetime | str | None, tz: dt.tzinfo, *, stored: bool) -> dt.datetime | None:
    """As aware UTC: a stored (database) naive time is UTC, a payload's naive time is project-local."""
    if value is None:
        return None
    t = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC if stored else tz)
    return t.astimezone(dt.UTC)


BASELINE_WEEKS = 4
"""How far back (in weeks) the loop looks for a baseline window its monitors found normal."""


def _busy(explain: ExplainService, metrics: Sequence[str], scope: Mapping[str, str], start_utc: dt.datetime,
          end_utc: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """Windows (UTC, end exclusive) in the weeks before ``start_utc`` where the monitors of
    ``metrics`` flagged a slice overlapping ``scope`` (retracted and stale events do not count)."""
    from metricloop.store.detect_models import Anomaly

    horizon = start_utc - (BASELINE_WEEKS + 1) * WEEK - (end_utc - start_utc)
    with explain.ctx.store.session() as s:
        rows = s.execute(sa.select(Anomaly.slice, Anomaly.start, Anomaly.end, Anomaly.grain).where(
            Anomaly.metric.in_(list(metrics)), Anomaly.state.in_(("active", "suppressed")),
            Anomaly.end >= horizon, Anomaly.start < start_utc)).all()
    out = []
    for sl, a, b, g in rows:
        if not compatible({str(k): str(v) for k, v in (sl or {}).items()}, scope):
            continue
        grain = Grain(g) if g in Grain.__members__ else Grain.hour
        a_utc, b_utc = _utc(a, dt.UTC, stored=True), _utc(b, dt.UTC, stored=True)
        assert a_utc is not None and b_utc is not None
        out.append((a_utc, shift_by(b_utc, 1, grain)))
    return out


def explain_window(
    explain: ExplainService, metric: str, scope: Mapping[str, str], start: dt.datetime, last: dt.datetime,
    grain: Grain, *, metrics: Sequence[str] = (), deviations: Sequence[tuple[float | None, float | None,
                                                                           float | None]] = (),
    anomaly_fingerprint: str | None = None,
) -> tuple[ExplainResult, Baseline]:
    """Explain ``metric`` on ``scope`` over ``start``..``last`` (first and last anomalous periods,
    project-local) against the monitor's own baseline (:mod:`metricloop.explain.baseline`): the
    most recent same-weekday window where the monitors of ``metrics`` flagged nothing on an
    overlapping slice, its total set to the monitor's expectation when ``deviations`` give it."""
    ctx = explain.ctx
    tz = ctx.tz
    end = shift_by(last, 1, grain)
    s_utc, e_utc = _utc(start, tz, stored=False), _utc(end, tz, stored=False)
    assert s_utc is not None and e_utc is not None
    weeks = baseline_weeks(s_utc, e_utc, _busy(explain, list(metrics) or [metric], scope, s_utc, e_utc),
                           weeks=BASELINE_WEEKS)
    m = ctx.catalog.metric(metric)
    dims = [d for d in explain.default_dimensions(m) if d not in scope]
    result = explain.explain(metric, start=start, end=end, baseline=start - weeks * WEEK, by=dims or None,
                             where=slice_filter(scope) if scope else None, monitor_deviations=deviations,
                             anomaly_fingerprint=anomaly_fingerprint)
    used = result.expected if result.expected_from == "monitor" else None
    return result, Baseline(start - weeks * WEEK, end - weeks * WEEK, weeks, used)


def refresh_incidents(explain: ExplainService, ids: Sequence[int], fingerprints: Sequence[str] = ()) -> int:
    """Re-explain each incident whose window grew past its stored explanation's; returns how many.

    ``ids``: incidents a pass opened or joined; ``fingerprints``: the pass's alerts, whose incidents
    are looked up too (an ongoing anomaly comes back under its own fingerprint with a later end:
    the workflow refreshes its alert row, and the incident's window is read from its alerts).

    Runs after the workflow's transaction, in its own short ones, and writes only the incident's
    ``explanation`` column: the exactly-once handling of anomalies and messages is untouched, and
    a crash here leaves the earlier explanation in place until the incident next extends. An
    explanation that cannot be computed is logged and skipped (the incident stands without it).
    ``explain``: the project's explain service (``ml.explain``); its context holds the incidents.
    """
    from metricloop.store.workflow_models import Incident, IncidentAlert

    ctx = explain.ctx
    done = 0
    tz = ctx.tz
    targets = list(ids)
    if fingerprints:
        with ctx.store.session() as s:
            targets += [i for i in s.scalars(
                sa.select(IncidentAlert.incident_id).where(IncidentAlert.fingerprint.in_(list(fingerprints)),
                                                           IncidentAlert.incident_id.is_not(None))) if i is not None]
    for incident_id in dict.fromkeys(targets):
        with ctx.store.session() as s:
            inc = s.get(Incident, incident_id)
            if inc is None:
                continue
            metric, scope = inc.metric, {str(k): str(v) for k, v in (inc.slice or {}).items()}
            alerts = s.execute(sa.select(IncidentAlert.metric, IncidentAlert.slice, IncidentAlert.end,
                                         IncidentAlert.actual, IncidentAlert.expected, IncidentAlert.impact,
                                         IncidentAlert.explanation)
                               .where(IncidentAlert.incident_id == incident_id)
                               .order_by(IncidentAlert.start, IncidentAlert.id)).all()
            ends = [a.end for a in alerts]
            metrics = list(dict.fromkeys([metric, *(a.metric for a in alerts)]))
            # what the monitor measured on the explained slice itself: its expected total
            deviations = [(a.actual, a.expected, a.impact) for a in alerts
                          if a.metric == metric and {str(k): str(v) for k, v in (a.slice or {}).items()} == scope]
            start_utc = _utc(inc.window_start, tz, stored=True)
            last_utc = max(t for t in (_utc(v, tz, stored=True) for v in [inc.window_end, *ends]) if t is not None)
            previous = dict(inc.explanation) if inc.explanation else None
        window = (previous or {}).get("window") or {}
        if previous and (_utc(window.get("start"), tz, stored=False), _utc(window.get("end"), tz, stored=False)) \
                == (start_utc, last_utc) and dict(previous.get("scope") or {}) == scope:
            continue  # same window, same scope: nothing new to explain
        assert start_utc is not None and last_utc is not None
        # the explain service and the alerts' payloads speak project-local wall-clock time
        start = start_utc.astimezone(tz).replace(tzinfo=None)
        last = last_utc.astimezone(tz).replace(tzinfo=None)
        grain_name = str((previous or {}).get("grain") or "hour")
        grain = Grain(grain_name) if grain_name in Grain.__members__ else Grain.hour
        try:
            result, baseline = explain_window(explain, metric, scope, start, last, grain, metrics=metrics,
                                              deviations=deviations)
        except MetricLoopError as exc:
            log.warning("cannot re-explain incident %s: %s", incident_id, exc)
            continue
        payload = incident_payload(result.to_dict(), scope, start=start, end=last, grain=grain.value,
                                   baseline=baseline)
        payload = with_history(with_alert_causes(payload, [a.explanation for a in alerts]), previous)
        with ctx.store.session() as s:
            s.execute(sa.update(Incident).where(Incident.id == incident_id).values(explanation=payload))
        done += 1
    return done
