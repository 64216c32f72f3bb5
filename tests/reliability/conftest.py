"""Fixtures of the reliability suite: the generated project once per session, and the outcome of
an undisturbed backfill of it, which every disturbed-and-resumed run must reproduce exactly."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.reliability.project import backfill_args, copy_project, outcome, run, state_url, write_project

POSTGRES_URL = os.environ.get("METRICLOOP_TEST_POSTGRES_URL")


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project with its data loaded and nothing run yet (copy it, never run in it)."""
    return write_project(tmp_path_factory.mktemp("reliability") / "template")


@pytest.fixture(scope="session")
def reference(template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An undisturbed backfill's outcome (messages queued, not sent)."""
    root = copy_project(template, tmp_path_factory.mktemp("reference") / "p")
    run(root, *backfill_args("--no-notify"))
    return outcome(state_url(root))


@pytest.fixture
def project(template: Path, tmp_path: Path) -> Path:
    return copy_project(template, tmp_path / "p")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test's state store (dropped afterwards)."""
    if not POSTGRES_URL:
        pytest.skip("METRICLOOP_TEST_POSTGRES_URL is not set (no PostgreSQL to test against)")
    schema = f"rel_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as con:
        con.exec_driver_sql(f"create schema {schema}")
    try:
        yield f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as con:
            con.exec_driver_sql(f"drop schema {schema} cascade")
        engine.dispose()
