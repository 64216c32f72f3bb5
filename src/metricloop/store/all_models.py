"""Every table of the state store, imported in one place for Alembic's autogenerate."""

import metricloop.store.workflow_models  # noqa: F401  (workflow + review tables)
from metricloop.store import detect_models  # noqa: F401  (detection: monitors, runs, anomalies, labels)
from metricloop.store import access_models  # noqa: F401  (access control, scheduler)
from metricloop.store import explain_models  # noqa: F401  (stored explanations)
from metricloop.store.models import Base, DefinitionRevision, IngestLoad, IngestReject, TableCheck

__all__ = ["Base", "DefinitionRevision", "IngestLoad", "IngestReject", "TableCheck"]
