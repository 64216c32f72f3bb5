"""What a signed-in user may see of the loop's stored records: anomalies, incidents,
explanations, reviews and cases.

Queries obey row policies inside the query compiler; stored records never pass through it, so
every door (API routes, UI pages) filters them here with one rule: the user may read the
record's metric, and the record's slice lies inside their rows (``Principal.sees_slice`` — a
record about the whole metric is a total over every region, so a region manager does not see
it). A hidden record answers 404 like an unknown one, so its existence does not leak.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from metricloop.access.policy import Principal, readable, sees_record
from metricloop.errors import MetricLoopError, NotFoundError
from metricloop.workflow.owners import person_name as owners_person_name

if TYPE_CHECKING:
    from metricloop.detect.service import AnomalyRecord
    from metricloop.review.service import Visible
    from metricloop.service import MetricLoop


def sees(ml: MetricLoop, principal: Principal, metric: str, slice_: Mapping[str, Any] | None) -> bool:
    """May ``principal`` see a stored record about ``metric`` on ``slice_``? (the rule is
    ``access.policy.sees_record``, shared with the assistant)"""
    return sees_record(lambda: ml.catalog, principal, metric, slice_)


def visible_to(ml: MetricLoop, principal: Principal) -> Visible:
    """``sees`` bound to one user, for services that take a ``visible(metric, slice)`` filter."""
    return lambda metric, slice_: sees(ml, principal, metric, slice_)


def incident(ml: MetricLoop, principal: Principal, ref: str) -> dict[str, Any]:
    """The incident in full (``ml.workflow.incident``), or 404 when it is not the user's to see."""
    inc = ml.workflow.incident(ref)
    if not sees(ml, principal, inc["metric"], inc["slice"]):
        raise NotFoundError(f"no incident {ref}", zh=f"没有事件 {ref}")
    return inc


def anomaly(ml: MetricLoop, principal: Principal, fingerprint: str) -> AnomalyRecord:
    a = ml.detection.anomaly(fingerprint)
    if not sees(ml, principal, a.metric, a.slice):
        raise NotFoundError(f"no anomaly with fingerprint '{fingerprint}'", zh=f"没有指纹为 '{fingerprint}' 的异常")
    return a


def explanation_visible(ml: MetricLoop, principal: Principal, payload: Mapping[str, Any],
                        anomaly_fingerprint: str | None = None) -> bool:
    """An explanation is visible when the user may read its metric and either sees all rows, or it
    was computed under exactly their row policies (``scope``), or it explains an anomaly they see."""
    metric = str(payload.get("metric", ""))
    try:
        if not readable(ml.catalog, principal, metric):
            return False
        if principal.unrestricted_rows:
            return True
        if sorted(payload.get("scope") or []) == sorted(principal.policy_filters()):
            return True
    except MetricLoopError:  # no catalog, or a policy attribute the user lacks: fail closed
        return False
    if anomaly_fingerprint:
        try:
            a = ml.detection.anomaly(anomaly_fingerprint)
        except NotFoundError:
            return False
        return sees(ml, principal, a.metric, a.slice)
    return False


def explanation(ml: MetricLoop, principal: Principal, explanation_id: int) -> dict[str, Any]:
    from metricloop.store.explain_models import Explanation

    payload = ml.explain.get(explanation_id)
    with ml.store.session() as s:
        row = s.get(Explanation, explanation_id)
        fingerprint = row.anomaly_fingerprint if row is not None else None
    if not explanation_visible(ml, principal, payload, fingerprint):
        raise NotFoundError(f"no explanation {explanation_id}", zh=f"没有编号为 {explanation_id} 的归因结果")
    return {**payload, "anomaly_fingerprint": fingerprint}


# ---------------------------------------------------------------------------------- names
def person_name(ml: MetricLoop, who: str | None) -> str:
    """A person as people know them: 王芳 for ``wang.fang`` (``workflow.owners.person_name``:
    owners.yaml, then the user's display name)."""
    if not who or who == "system":
        return who or "—"
    return owners_person_name(ml.workflow.owners, who, lambda user: ml.access.user(user).display_name)


def team_name(ml: MetricLoop, team: str | None, locale: str) -> str | None:
    return ml.workflow.owners.team_name(team, locale) if team else None


def metric_label(ml: MetricLoop, metric: str, locale: str) -> str:
    return ml.workflow.metric_label(metric, locale)
