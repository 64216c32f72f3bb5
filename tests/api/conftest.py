from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.service import Service, build_service

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def svc(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Service]:
    """The service on SQLite, and on PostgreSQL when the machine has one."""
    url = request.getfixturevalue("fresh_postgres_url") if request.param == "postgres" else None
    service = build_service(tmp_path / "proj", url)
    yield service
    service.ml.close()


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[Service]:
    """SQLite only (for tests whose subject is not the state store)."""
    service = build_service(tmp_path / "proj")
    yield service
    service.ml.close()
