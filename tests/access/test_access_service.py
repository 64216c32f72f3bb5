"""Users, passwords, tokens and sessions in the real state store."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from metricloop.errors import ConfigError, ConflictError, PermissionDenied
from metricloop.store.access_models import ApiToken, AuditEvent, User
from tests.api.service import PASSWORD, Service


def test_secrets_are_stored_hashed(svc: Service) -> None:
    with svc.ml.store.session() as s:
        boss = s.scalars(sa.select(User).where(User.username == "boss")).one()
        assert boss.password_hash is not None
        assert boss.password_hash.startswith("$argon2id$")
        assert PASSWORD not in boss.password_hash
        digests = set(s.scalars(sa.select(ApiToken.digest)))
    assert svc.tokens["boss"] not in digests
    assert all(len(d) == 64 for d in digests)


def test_login_checks_password_and_records_failures(svc: Service) -> None:
    access = svc.ml.access
    assert access.authenticate("boss", PASSWORD).username == "boss"
    with pytest.raises(PermissionDenied):
        access.authenticate("boss", "wrong password")
    with pytest.raises(PermissionDenied):
        access.authenticate("nobody", PASSWORD)
    with pytest.raises(PermissionDenied):
        access.authenticate("east", "")  # token-only account
    with svc.ml.store.session() as s:
        outcomes = [(e.target, e.outcome) for e in s.scalars(sa.select(AuditEvent).where(AuditEvent.action == "login")
                                                             .order_by(AuditEvent.id))]
    assert outcomes == [("boss", "ok"), ("boss", "denied"), ("nobody", "denied"), ("east", "denied")]


def test_sessions_end_at_logout_and_when_a_user_is_disabled(svc: Service) -> None:
    access = svc.ml.access
    a = access.login("editor", PASSWORD)
    b = access.login("editor", PASSWORD)
    assert access.session_principal(a.cookie) is not None
    access.logout(a.cookie)
    assert access.session_principal(a.cookie) is None
    assert access.session_principal(b.cookie) is not None
    access.update_user("editor", active=False)
    assert access.session_principal(b.cookie) is None
    assert access.token_principal(svc.tokens["editor"]) is None
    tampered = b.cookie[:-3] + ("aaa" if not b.cookie.endswith("aaa") else "bbb")
    access.update_user("editor", active=True)
    assert access.session_principal(tampered) is None


def test_session_key_is_shared_through_the_store(svc: Service) -> None:
    from metricloop.access.service import AccessService

    other = AccessService(svc.ml)  # another worker process would build its own service
    assert other.secret_key() == svc.ml.access.secret_key()
    login = svc.ml.access.login("boss", PASSWORD)
    found = other.session_principal(login.cookie)
    assert found is not None
    assert found[1] == login.csrf


def test_input_is_validated(svc: Service) -> None:
    access = svc.ml.access
    with pytest.raises(ConfigError):
        access.create_user("Bad Name")
    with pytest.raises(ConfigError):
        access.create_user("ok.name", role="god")
    with pytest.raises(ConfigError):
        access.create_user("ok.name", password="short")
    with pytest.raises(ConflictError):
        access.create_user("boss")
    with pytest.raises(ConfigError):
        access.add_policy("p", "region; drop table x", "region")


def test_expired_tokens_do_not_authenticate(svc: Service) -> None:
    import datetime as dt

    token, info = svc.ml.access.create_token("boss", "short-lived", days=1)
    assert svc.ml.access.token_principal(token) is not None
    with svc.ml.store.session() as s:
        row = s.get(ApiToken, info.id)
        assert row is not None
        row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    assert svc.ml.access.token_principal(token) is None
