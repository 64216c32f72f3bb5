"""Every table of the state store, imported in one place for Alembic's autogenerate."""

from metricloop.store.models import Base, DefinitionRevision, IngestLoad, IngestReject, TableCheck

__all__ = ["Base", "DefinitionRevision", "IngestLoad", "IngestReject", "TableCheck"]
