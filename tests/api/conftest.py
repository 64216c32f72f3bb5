from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.demo import Demo, demo_copy
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


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """A copy of the session's replayed demo (incidents, explanations, reviews) behind the real app."""
    from fastapi.testclient import TestClient

    from metricloop.api import create_app

    d = demo_copy(tmp_path_factory)
    d.client = TestClient(create_app(d.ml, ui=False))
    yield d
    d.ml.close()
