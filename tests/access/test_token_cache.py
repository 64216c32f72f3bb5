"""API tokens are checked on every request although their principal is reused for a moment."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from metricloop.store.access_models import ApiToken, User
from tests.api.service import Service


def test_a_revoked_or_deactivated_token_fails_at_once_even_from_another_process(svc: Service) -> None:
    access = svc.ml.access
    token, info = access.create_token("boss", "cache")
    assert access.token_principal(token) is not None
    assert access.token_principal(token) is not None  # the principal is now cached
    with svc.ml.store.session() as s:  # as `metricloop users ...` in another process would
        s.execute(sa.update(ApiToken).where(ApiToken.id == info.id).values(revoked_at=dt.datetime.now(dt.UTC)))
    assert access.token_principal(token) is None
    other, _ = access.create_token("boss", "cache 2")
    assert access.token_principal(other) is not None
    with svc.ml.store.session() as s:
        s.execute(sa.update(User).where(User.username == "boss").values(active=False))
    assert access.token_principal(other) is None


def test_a_change_made_here_applies_to_the_next_request(svc: Service) -> None:
    access = svc.ml.access
    token, _ = access.create_token("boss", "cache")
    before = access.token_principal(token)
    assert before is not None and before.role.value == "admin"
    access.update_user("boss", role="viewer")
    after = access.token_principal(token)
    assert after is not None and after.role.value == "viewer"
