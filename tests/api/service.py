"""A real service for tests: the tiny project, users with roles and scopes, the real app.

``Service.client`` drives the FastAPI app in-process (no mocks); ``as_(user)`` returns headers
with that user's API token. Used by tests/api and tests/access, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import textwrap
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metricloop.service import MetricLoop
from tests.conftest import write_tiny_project

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

# a model without 'region': a region-limited user must not see its metric unfiltered
EXTRA_MODELS = textwrap.dedent("""\
    semantic_models:
      - name: signups
        table: buyers
        defaults: {agg_time_dimension: signup_time}
        dimensions:
          - {name: signup_time, type: time}
          - {name: tier, type: categorical}
        measures:
          - {name: signup_count, agg: count, expr: id}
    metrics:
      - {name: signups, measure: signup_count}
    """)

PASSWORD = "correct horse battery"
USERS: dict[str, dict[str, Any]] = {
    "boss": {"role": "admin"},
    "east": {"role": "owner", "attributes": {"region": ["华东"]}},
    "north": {"role": "analyst", "attributes": {"region": ["华北"]}},
    "editor": {"role": "editor", "attributes": {"region": ["*"]}},
    "viewer": {"role": "viewer", "attributes": {"region": ["华东", "华南"]}},
    "noscope": {"role": "viewer"},
}


@dataclass
class Service:
    ml: MetricLoop
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)

    def as_(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}


def build_service(root: Path, state_url: str | None = None) -> Service:
    from metricloop.api import create_app

    write_tiny_project(root, state_url)
    (root / "models" / "signups.yaml").write_text(EXTRA_MODELS, encoding="utf-8")
    ml = MetricLoop.open(root)
    ml.access.add_policy("region", "region", "region")
    svc = Service(ml, TestClient(create_app(ml, ui=False)))
    for name, spec in USERS.items():  # argon2 is slow on purpose: passwords only where a test signs in
        ml.access.create_user(name, password=PASSWORD if name in ("boss", "editor") else None, **spec)
        svc.tokens[name] = ml.access.create_token(name, "tests")[0]
    return svc
