"""What an anomaly leads to: the incident it joined and its stored explanation.

The API's ``GET /anomalies/{fingerprint}`` and the UI's alerts page both link an anomaly to these;
they read the workflow's and explain's tables here, not in the doors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa

from metricloop.store.explain_models import Explanation
from metricloop.store.workflow_models import IncidentAlert

if TYPE_CHECKING:
    from metricloop.service import MetricLoop


def explanation_id(ml: MetricLoop, fingerprint: str) -> int | None:
    """The newest stored explanation of the anomaly, if any."""
    with ml.store.session() as s:
        found = s.scalar(sa.select(sa.func.max(Explanation.id)).where(Explanation.anomaly_fingerprint == fingerprint))
    return int(found) if found is not None else None


def incident_number(ml: MetricLoop, fingerprint: str) -> int | None:
    """The number of the incident the anomaly joined, if it joined one."""
    with ml.store.session() as s:
        found = s.scalar(sa.select(IncidentAlert.incident_id).where(IncidentAlert.fingerprint == fingerprint))
    return int(found) if found is not None else None


def incident_numbers(ml: MetricLoop, fingerprints: Sequence[str]) -> dict[str, int]:
    """Fingerprint → incident number for a page of anomalies (one query)."""
    if not fingerprints:
        return {}
    with ml.store.session() as s:
        rows = s.execute(sa.select(IncidentAlert.fingerprint, IncidentAlert.incident_id)
                         .where(IncidentAlert.fingerprint.in_(list(fingerprints)))).all()
    return {str(fp): int(n) for fp, n in rows if n is not None}
