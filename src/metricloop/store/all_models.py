"""Every table of the state store, imported in one place for Alembic's autogenerate."""

from metricloop.store import (
    access_models,  # noqa: F401  (access control, scheduler)
    detect_models,  # noqa: F401  (detection: monitors, runs, anomalies, labels)
    explain_models,  # noqa: F401  (stored explanations)
    workflow_models,  # noqa: F401  (workflow, notification outbox, review)
)
from metricloop.store.models import Base, DefinitionRevision, IngestLoad, IngestReject, TableCheck

__all__ = ["Base", "DefinitionRevision", "IngestLoad", "IngestReject", "TableCheck"]
