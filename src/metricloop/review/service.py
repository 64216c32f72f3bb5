"""The review stage as a service (reached as ``ml.review``): effect verification, the review
document, the case library, loop health and the weekly report.

Effect verification takes the metric and its counterfactual as arrays so the caller can feed the
detector's baseline or forecast; a verified recovery closes an incident that is ``verifying``,
a failed one re-opens it — that is how the loop closes itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import ArrayLike

from metricloop.errors import ConflictError, NotFoundError
from metricloop.notify.message import DigestItem, Notification
from metricloop.notify.outbox import broken_channels, enqueue, message_id
from metricloop.review import cases, document, glossary, health
from metricloop.review.effect import EffectResult, effective_index, verify_effect
from metricloop.review.glossary import Glossary, stem
from metricloop.review.report import WeeklyReport, build_weekly
from metricloop.store.workflow_models import ActionItem, AuditEvent, EffectCheck, Incident, Review
from metricloop.workflow.service import UTC, as_utc, incident_ref, parse_incident_id

if TYPE_CHECKING:
    from metricloop.context import Context
    from metricloop.workflow.service import WorkflowService

#: ``visible(metric, slice)``: may the reader see an incident about this metric and slice?
Visible = Callable[[str, Mapping[str, Any]], bool]


#: ``user_name(username)``: a MetricLoop user's display name (access; raises when unknown).
UserName = Callable[[str], str | None]


class ReviewService:
    """Reviews, effect checks, the case library and loop health (reached as ``ml.review``).

    Takes the shared :class:`~metricloop.context.Context`, the workflow whose incidents and
    actions it reviews, and how to name a user who is not in owners.yaml."""

    def __init__(self, ctx: Context, workflow: WorkflowService, user_name: UserName | None = None) -> None:
        self.ctx = ctx
        self.workflow = workflow
        self.user_name = user_name
        self._glossary: tuple[object, Glossary] | None = None

    @property
    def wf(self) -> WorkflowService:
        return self.workflow

    def person_name(self, who: Any) -> str:
        """``wang.fang`` → 王芳 (owners.yaml); users and ``system`` as they are."""
        if not who:
            return "—"
        if self.wf.owners.person(str(who)) is not None:
            return self.wf.owners.display(str(who))
        try:  # a MetricLoop user acting in the UI: their display name
            return (self.user_name(str(who)) if self.user_name else None) or str(who)
        except Exception:
            return str(who)

    def _now(self, now: dt.datetime | None) -> dt.datetime:
        return as_utc(now or dt.datetime.now(UTC), self.wf.tz)

    # ------------------------------------------------------------------ effect verification
    def verify(
        self,
        ref: str | int,
        actual: ArrayLike,
        expected: ArrayLike,
        timestamps: Sequence[Any],
        effective_at: dt.datetime,
        *,
        action_id: int | None = None,
        actor: str = "system",
        now: dt.datetime | None = None,
        noise: float | None = None,
        close: bool = True,
        **options: Any,
    ) -> dict[str, Any]:
        """Verify the effect of a fix from ``effective_at`` on (arrays aligned with
        ``timestamps``, naive = project-local). The damage is measured from the incident's first
        anomalous point. Records the check, audits it and, with ``close``, closes a ``verifying``
        incident that recovered or re-opens one that did not."""
        now = self._now(now)
        tz = self.wf.tz
        ts = np.asarray([np.datetime64(as_utc(t, tz).replace(tzinfo=None)) if isinstance(t, dt.datetime)
                         else np.datetime64(t) for t in timestamps]).astype("datetime64[ns]")
        eff = as_utc(effective_at, tz)
        with self.ctx.store.session() as s:
            inc = s.get(Incident, parse_incident_id(ref))
            if inc is None:
                raise NotFoundError(f"no incident {ref}", zh=f"没有事件 {ref}")
            start = effective_index(ts, inc.window_start.replace(tzinfo=None))
            idx = effective_index(ts, eff.replace(tzinfo=None))
            result: EffectResult = verify_effect(actual, expected, idx, start_index=min(start, idx), noise=noise,
                                                 **options)
            summary = result.summary(self.wf.locale)
            check = EffectCheck(
                incident_id=inc.id, action_id=action_id, checked_at=now, effective_at=eff, verdict=result.verdict,
                recovery=result.recovery, recovery_low=result.recovery_ci[0] if result.recovery_ci else None,
                recovery_high=result.recovery_ci[1] if result.recovery_ci else None, gap_after=result.gap_after,
                gap_after_low=result.gap_after_ci[0] if result.gap_after_ci else None,
                gap_after_high=result.gap_after_ci[1] if result.gap_after_ci else None,
                details={**result.to_dict(), "summary": summary},
            )
            s.add(check)
            if action_id is not None:
                act = s.get(ActionItem, action_id)
                if act is not None and act.effective_at is None:
                    act.effective_at = eff
            s.add(AuditEvent(incident_id=inc.id, at=now, actor=actor, kind="effect_verified", before=None,
                             after={"verdict": result.verdict, "recovery": result.recovery, "action": action_id},
                             comment=summary))
            status = inc.status
        out = {"incident": incident_ref(parse_incident_id(ref)), **result.to_dict(), "summary": summary}
        if close and status == "verifying":
            if result.verdict == "recovered":
                self.wf.act(ref, "close", actor=actor, now=now, comment=summary)
                out["incident_status"] = "closed"
            elif result.verdict == "not_recovered":
                self.wf.act(ref, "reopen", actor=actor, now=now, comment=summary)
                out["incident_status"] = "investigating"
        return out

    def effect_series(self, ref: str | int, around: dt.datetime | None = None) -> dict[str, Any]:
        """The incident's metric and slice per hour, from a day before ``around`` to two days after,
        next to the same hour a week earlier (the counterfactual a fix is verified against).

        ``around`` (project wall clock or aware) defaults to when the fix took effect: the latest
        done action's ``effective_at``, else the resolution time, else the end of the anomaly.
        Queries run as the acting user (row policies apply). Chart-ready: ``{"timestamps",
        "actual", "expected", "effective_at"}`` with naive project-local ISO times."""
        from metricloop.catalog.models import Grain
        from metricloop.engine.filters import slice_filter
        from metricloop.engine.query import MetricQuery

        tz = self.wf.tz
        inc = self.wf.incident(ref)
        if around is None:
            done = [a["effective_at"] for a in inc["actions"] if a["status"] == "done" and a["effective_at"]]
            around = max(done) if done else inc["resolved_at"] or inc["window_end"]
        assert around is not None
        local = as_utc(around, tz).astimezone(tz).replace(tzinfo=None, minute=0, second=0, microsecond=0)
        where = slice_filter(inc["slice"] or {})
        metric = inc["metric"]
        key = "metric_time__hour"

        def rows(a: dt.datetime, b: dt.datetime) -> dict[dt.datetime, float]:
            q = MetricQuery(metrics=[metric], grain=Grain.hour, start=a, end=b, where=where)
            return {r[key]: float(r[metric]) for r in self.ctx.query(q).rows() if r[metric] is not None}

        lo, hi = local - dt.timedelta(days=1), local + dt.timedelta(days=2)
        week = dt.timedelta(days=7)
        now_rows, before = rows(lo, hi), rows(lo - week, hi - week)
        ts = [t for t in sorted(now_rows) if t - week in before]
        return {"metric": metric, "effective_at": local.isoformat(), "timestamps": [t.isoformat() for t in ts],
                "actual": [now_rows[t] for t in ts], "expected": [before[t - week] for t in ts]}

    def verify_from_data(self, ref: str | int, *, effective_at: dt.datetime | None = None,
                         action_id: int | None = None, actor: str, now: dt.datetime | None = None,
                         close: bool = True) -> dict[str, Any]:
        """:meth:`verify` on the warehouse's data: the slice per hour vs the same hour last week
        around ``effective_at`` (default as in :meth:`effect_series`). Too little data after the
        fix gives the verdict ``insufficient_data`` and leaves the incident as it is."""
        if effective_at is None and action_id is not None:
            act = next((a for a in self.wf.incident(ref)["actions"] if a["id"] == action_id), None)
            if act is None:
                raise NotFoundError(f"{incident_ref(parse_incident_id(ref))} has no action item {action_id}",
                                    zh=f"{incident_ref(parse_incident_id(ref))} 没有行动项 {action_id}")
            effective_at = act["effective_at"] or act["done_at"]
        series = self.effect_series(ref, effective_at)
        stamps = [dt.datetime.fromisoformat(t) for t in series["timestamps"]]
        eff = dt.datetime.fromisoformat(series["effective_at"])
        out = self.verify(ref, series["actual"], series["expected"], stamps, eff, action_id=action_id,
                          actor=actor, now=now, close=close)
        out["series"] = series
        return out

    def effects(self, ref: str | int) -> list[dict[str, Any]]:
        with self.ctx.store.session() as s:
            rows = s.scalars(sa.select(EffectCheck).where(EffectCheck.incident_id == parse_incident_id(ref))
                             .order_by(EffectCheck.checked_at, EffectCheck.id))
            return [{"id": r.id, "action_id": r.action_id, "checked_at": r.checked_at, "effective_at": r.effective_at,
                     "verdict": r.verdict, "recovery": r.recovery, "recovery_ci": [r.recovery_low, r.recovery_high],
                     "gap_after": r.gap_after, "summary": (r.details or {}).get("summary")} for r in rows]

    # ------------------------------------------------------------------ review document
    def _review_row(self, s: sa.orm.Session, inc_id: int) -> Review | None:
        return s.scalars(sa.select(Review).where(Review.incident_id == inc_id)).first()

    def draft(self, ref: str | int, *, actor: str = "system", now: dt.datetime | None = None,
              chart: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Create or refresh the review of an incident (auto sections redrafted, people's text kept)."""
        now = self._now(now)
        inc = self.wf.incident(ref)
        effects = self.effects(ref)
        with self.ctx.store.session() as s:
            row = self._review_row(s, inc["number"])
            if row is not None and row.status == "completed":
                return self._dict(row, inc)
            sections = document.draft(inc, effects, row.sections if row else None,
                                      metric_label=self.wf.metric_label(inc["metric"]),
                                      unit=self.wf._unit(inc["metric"]), locale=self.wf.locale, tz=self.wf.tz,
                                      chart=chart, name=self.person_name)
            if row is None:
                row = Review(incident_id=inc["number"], status="draft", sections=sections, metric=inc["metric"],
                             slice=inc["slice"] or {}, cause_keys=[], terms="", author=actor, created_at=now,
                             updated_at=now)
                s.add(row)
            else:
                row.sections, row.updated_at = sections, now
            s.flush()
            return self._dict(row, inc)

    def edit(self, ref: str | int, section: str, text: str, *, actor: str,
             now: dt.datetime | None = None) -> dict[str, Any]:
        """Write one section (marks it edited: later drafts keep this text)."""
        if section not in document.SECTION_KEYS:
            raise NotFoundError(f"unknown section {section!r}; sections: {', '.join(document.SECTION_KEYS)}",
                                zh=f"未知章节 {section!r}；可用章节：{', '.join(document.SECTION_KEYS)}")
        now = self._now(now)
        self.draft(ref, actor=actor, now=now)
        with self.ctx.store.session() as s:
            row = self._review_row(s, parse_incident_id(ref))
            assert row is not None
            if row.status == "completed":
                raise ConflictError("the review is completed; it can no longer be edited", zh="复盘已完成，不能再修改")
            sections = dict(row.sections)
            before = (sections.get(section) or {}).get("text")
            sections[section] = {**(sections.get(section) or {}), "text": text, "edited": True}
            row.sections, row.updated_at = sections, now
            s.add(AuditEvent(incident_id=row.incident_id, at=now, actor=actor, kind="review",
                             before={"section": section, "text": before}, after={"section": section, "text": text}))
        return self.get(ref)

    def complete(self, ref: str | int, *, actor: str, now: dt.datetime | None = None) -> dict[str, Any]:
        """Complete the review; refused while a required section is empty. It then enters the
        case library (indexed for search in zh-CN and en)."""
        now = self._now(now)
        self.draft(ref, actor=actor, now=now)
        inc = self.wf.incident(ref)
        with self.ctx.store.session() as s:
            row = self._review_row(s, inc["number"])
            assert row is not None
            if row.status == "completed":
                return self._dict(row, inc)
            missing = document.missing_sections(row.sections)
            if missing:
                raise ConflictError(
                    f"the review cannot be completed: required sections are empty: {', '.join(missing)}",
                    zh=f"复盘无法完成：以下必填章节为空：{', '.join(missing)}",
                )
            verdicts = [i.get("verdict") for i in row.sections["actions"]["data"].get("items", []) if i.get("verdict")]
            verdicts += [e["verdict"] for e in self.effects(ref)]
            order = ("recovered", "partially_recovered", "not_recovered", "insufficient_data")
            row.verdict = min(verdicts, key=order.index) if verdicts else None
            row.cause_keys = cases.cause_keys_of(self._explanation(s, inc["number"]), inc["slice"] or {})
            row.terms = " ".join(cases.tokenize(self._search_text(inc, row.sections)))
            row.status, row.completed_at, row.updated_at = "completed", now, now
            s.add(AuditEvent(incident_id=row.incident_id, at=now, actor=actor, kind="review", before=None,
                             after={"status": "completed", "verdict": row.verdict}))
            s.flush()
            return self._dict(row, inc)

    def _explanation(self, s: sa.orm.Session, inc_id: int) -> dict[str, Any] | None:
        inc = s.get(Incident, inc_id)
        return inc.explanation if inc else None

    def _search_text(self, inc: Mapping[str, Any], sections: Mapping[str, Any]) -> str:
        label_zh = self.wf.metric_label(inc["metric"], "zh-CN")
        label_en = self.wf.metric_label(inc["metric"], "en")
        slice_txt = " ".join(f"{k} {v}" for k, v in (inc.get("slice") or {}).items())
        texts = [inc["title"], inc["metric"], label_zh, label_en, slice_txt, *(inc.get("causes") or [])]
        keys = ("summary", "root_cause", "actions", "lessons")
        texts += [str((sections.get(k) or {}).get("text") or "") for k in keys]
        texts += [a["title"] for a in inc.get("actions") or []]
        return "\n".join(texts)

    def get(self, ref: str | int) -> dict[str, Any]:
        inc = self.wf.incident(ref)
        with self.ctx.store.session() as s:
            row = self._review_row(s, inc["number"])
            if row is None:
                raise NotFoundError(f"no review for {inc['id']} yet (run 'metricloop review draft {inc['id']}')",
                                    zh=f"{inc['id']} 还没有复盘（运行 'metricloop review draft {inc['id']}'）")
            return self._dict(row, inc)

    def _dict(self, row: Review, inc: Mapping[str, Any]) -> dict[str, Any]:
        loc = self.wf.locale
        return {
            "incident": inc["id"], "title": inc["title"], "status": row.status, "verdict": row.verdict,
            "missing": document.missing_sections(row.sections),
            "sections": {
                s.key: {"label": s.label.render(loc), "required": s.required, **(row.sections.get(s.key) or {})}
                for s in document.SECTIONS
            },
            "markdown": document.to_markdown(inc["title"], row.sections, loc),
            "created_at": row.created_at, "completed_at": row.completed_at, "author": row.author,
        }

    # ------------------------------------------------------------------ case library
    def _docs(self) -> list[cases.Doc]:
        with self.ctx.store.session() as s:
            rows = s.execute(
                sa.select(Review, Incident).join(Incident, Incident.id == Review.incident_id)
                .where(Review.status == "completed")
            ).all()
            docs = []
            for rv, inc in rows:
                items = ((rv.sections.get("actions") or {}).get("data") or {}).get("items", [])
                docs.append(cases.Doc(
                    rv.incident_id, [stem(t) for t in rv.terms.split()], rv.metric, rv.slice or {}, rv.cause_keys or [],
                    {"incident": incident_ref(rv.incident_id), "title": inc.title, "metric": rv.metric,
                     "slice": rv.slice, "verdict": rv.verdict, "completed_at": rv.completed_at,
                     "root_cause": (rv.sections.get("root_cause") or {}).get("text"),
                     "summary": (rv.sections.get("summary") or {}).get("text"),
                     "actions": [{"title": i["title"], "verdict": i.get("verdict")} for i in items]},
                ))
            return docs

    def cases(self, limit: int = 500) -> list[dict[str, Any]]:
        """Completed reviews, newest first (the case library before anyone searches)."""
        rows = [d.payload for d in self._docs()]
        rows.sort(key=lambda r: r["completed_at"] or dt.datetime.min.replace(tzinfo=UTC), reverse=True)
        return rows[:limit]

    def search(self, query: str, limit: int = 20) -> list[dict[str, Any]]:
        """Completed reviews matching ``query`` (Chinese or English), best first."""
        return [{**d.payload, "score": round(score, 3)}
                for d, score in cases.search(self._docs(), query, limit, self.glossary())]

    def glossary(self) -> Glossary:
        """The project's bilingual glossary (from the catalog's labels and synonyms), rebuilt when
        the catalog is reloaded; an unloadable catalog leaves the base vocabulary."""
        try:
            catalog = self.ctx.catalog
        except Exception:  # search still works on a project whose catalog is broken
            return glossary.build([], [])
        if self._glossary is None or self._glossary[0] is not catalog:
            self._glossary = (catalog, glossary.from_catalog(catalog))
        return self._glossary[1]

    def similar(self, ref: str | int, limit: int = 5) -> list[dict[str, Any]]:
        """Past cases most like this incident (same metric / slice / cause), with what was done
        and whether it worked."""
        inc = self.wf.incident(ref)
        with self.ctx.store.session() as s:
            expl = self._explanation(s, inc["number"])
        docs = [d for d in self._docs() if d.id != inc["number"]]
        ranked = cases.similar(docs, inc["metric"], inc["slice"] or {}, cases.cause_keys_of(expl, inc["slice"] or {}),
                               " ".join(inc.get("causes") or []) + " " + inc["title"], limit, self.glossary())
        return [{**r.doc.payload, "score": round(r.score, 3), "why": {k: round(v, 3) for k, v in r.parts.items()}}
                for r in ranked]

    # ------------------------------------------------------------------ loop health
    def health(self, *, start: dt.datetime | None = None, end: dt.datetime | None = None,
               now: dt.datetime | None = None, visible: Visible | None = None) -> dict[str, Any]:
        """Loop-health figures for incidents triggered in [start, end), overall and by owner/team/metric.

        ``visible(metric, slice)`` keeps only the incidents a reader may see (a region manager's
        figures are about their region's incidents)."""
        now = self._now(now)
        with self.ctx.store.session() as s:
            q = sa.select(Incident)
            if start is not None:
                q = q.where(Incident.triggered_at >= as_utc(start, self.wf.tz))
            if end is not None:
                q = q.where(Incident.triggered_at < as_utc(end, self.wf.tz))
            incs = [i for i in s.scalars(q) if visible is None or visible(i.metric, i.slice or {})]
            ids = [i.id for i in incs]
            acts = list(s.scalars(sa.select(ActionItem).where(ActionItem.incident_id.in_(ids)))) if ids else []
        facts = [health.IncidentFacts(i.id, i.metric, i.owner, i.team, i.status, i.window_start, i.triggered_at,
                                      i.acknowledged_at, i.resolved_at, i.ack_due_at, i.resolve_due_at) for i in incs]
        afacts = [health.ActionFacts(a.incident_id, a.owner, a.status, a.due_at, a.done_at) for a in acts]
        out = health.loop_health(facts, afacts, now)
        out["window"] = {"start": start, "end": end, "now": now}
        return out

    def weekly_report(self, *, week_of: dt.date | None = None, now: dt.datetime | None = None,
                      locale: str | None = None, visible: Visible | None = None) -> WeeklyReport:
        """The report of the (Monday-started) week containing ``week_of`` (default: last week)."""
        now = self._now(now)
        tz = self.wf.tz
        local_today = now.astimezone(tz).date()
        day = week_of or (local_today - dt.timedelta(days=7))
        start = day - dt.timedelta(days=day.weekday())
        end = start + dt.timedelta(days=6)
        t0 = dt.datetime.combine(start, dt.time(), tzinfo=tz)
        t1 = t0 + dt.timedelta(days=7)
        h = self.health(start=t0, end=t1, now=now, visible=visible)
        incs = [i for i in self.wf.list_incidents(limit=100000) if t0 <= i["triggered_at"] < t1
                and (visible is None or visible(i["metric"], i["slice"] or {}))]
        for i in incs:
            i["triggered_at"] = i["triggered_at"].astimezone(tz)
        loc = locale or self.wf.locale
        owners = self.wf.owners
        teams = {t: owners.team_name(t, loc) for t in owners.teams}
        metrics = {m: self.wf.metric_label(m, loc) for m in {i["metric"] for i in incs}}
        return build_weekly(h, sorted(incs, key=lambda i: i["triggered_at"]), start, end, loc,
                            team_names=teams, metric_names=metrics)

    def send_weekly_report(self, channels: Sequence[str], *, week_of: dt.date | None = None,
                           now: dt.datetime | None = None) -> list[str]:
        """Queue the week's summary (KPIs + incidents, link to the full report) to ``channels``
        through the outbox; returns the outbox ids (the dispatcher delivers them)."""
        now = self._now(now)
        rep = self.weekly_report(week_of=week_of, now=now)
        o = rep.data["health"]["overall"]
        incs = [i for i in self.wf.list_incidents(limit=100000)
                if rep.data["start"] <= i["triggered_at"].astimezone(self.wf.tz).date() <= rep.data["end"]]
        items = [DigestItem(kind="alert", metric=i["title"], severity=i["severity"], slice=i["slice"] or {},
                            value=i["actual"], expected=i["expected"],
                            incident_url=f"{self.wf.base_url}/incidents/{i['number']}") for i in incs[:50]]
        note = (f"{rep.title} · MTTA {o['mtta_min'] or '—'} min · MTTR {o['mttr_min'] or '—'} min · "
                f"SLA {o['ack_within_sla'] if o['ack_within_sla'] is not None else '—'} · "
                f"overdue {o['overdue']} · {self.wf.base_url}/reports/weekly/{rep.data['start']}")
        n = Notification(kind="digest", severity="info", items=items, note=note)
        known = self.wf._channel_map()
        ids = []
        with self.ctx.store.session() as s:
            broken = broken_channels(s)
            for ch in channels:
                if ch not in known:
                    raise NotFoundError(f"unknown channel {ch!r} (not in channels.yaml)",
                                        zh=f"channels.yaml 中没有渠道 {ch!r}")
                mid = message_id("weekly", rep.data["start"], ch)
                enqueue(s, idempotency_id=mid, target=ch, notification=n, now=now, channels=known, broken=broken)
                ids.append(mid)
        return ids
