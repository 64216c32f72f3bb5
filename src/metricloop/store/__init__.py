"""State store: SQLAlchemy models, Alembic migrations, repositories."""

from metricloop.store.db import Store

__all__ = ["Store"]
