"""Stored explanations: what cause analysis found for a metric move (and for which anomaly)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from metricloop.store.models import Base, utcnow


class Explanation(Base):
    __tablename__ = "explanations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    metric: Mapped[str] = mapped_column(String(128), index=True)
    period_start: Mapped[dt.datetime]
    period_end: Mapped[dt.datetime]
    params_hash: Mapped[str] = mapped_column(String(64), index=True)
    anomaly_fingerprint: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
