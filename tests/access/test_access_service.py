"""Users, passwords, tokens and sessions in the real state store."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from metricloop.access.ratelimit import LoginLimit, TooManyAttempts, retry_after
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

    other = AccessService(svc.ml.ctx)  # another worker process would build its own service
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


# ------------------------------------------------------------------------------ sign-in throttling
T = dt.datetime(2030, 1, 7, 9, 0, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)


def test_retry_after_counts_failures_inside_the_window_only() -> None:
    limit = LoginLimit(3, dt.timedelta(minutes=5))
    assert retry_after([T, T + S], T + 2 * S, limit) is None
    assert retry_after([T, T + S, T + 2 * S], T + 10 * S, limit) == dt.timedelta(minutes=5) - 10 * S
    old = T - dt.timedelta(minutes=6)
    assert retry_after([old, T + S, T + 2 * S], T + 10 * S, limit) is None  # the old one has left the window
    assert retry_after([T] * 10, T + S, LoginLimit(0)) is None  # 0: throttling off


def test_five_failures_lock_the_user_name_for_five_minutes_in_every_worker(svc: Service) -> None:
    from metricloop.access.service import AccessService

    access = svc.ml.access
    for i in range(5):
        with pytest.raises(PermissionDenied):
            access.authenticate("boss", f"guess {i}", client="10.0.0.1", now=T + i * S)
    other_worker = AccessService(svc.ml.ctx)
    with pytest.raises(TooManyAttempts) as e:  # even the right password, from another address
        other_worker.authenticate("boss", PASSWORD, client="10.0.0.2", now=T + 10 * S)
    assert e.value.retry_after == 290 and e.value.http_status == 429
    assert e.value.message_zh and "5 分钟" in e.value.message_zh
    assert access.authenticate("boss", PASSWORD, client="10.0.0.2", now=T + 301 * S).username == "boss"
    with svc.ml.store.session() as s:
        rows = list(s.scalars(sa.select(AuditEvent).where(AuditEvent.action == "login").order_by(AuditEvent.id)))
    assert [r.outcome for r in rows] == ["denied"] * 5 + ["throttled", "ok"]
    assert rows[0].detail == {"client": "10.0.0.1"}
    assert rows[5].detail == {"client": "10.0.0.2", "retry_after": 290}


def test_one_address_has_its_own_higher_limit_and_does_not_lock_out_every_user(svc: Service) -> None:
    """Per user name 5, per address 8 here (50 by default): failures on other names from a shared
    address (office NAT, proxy) leave a user's sign-in alone until the address's own limit."""
    from metricloop.access.service import AccessService

    access = AccessService(svc.ml.ctx, LoginLimit(5, dt.timedelta(minutes=5), max_failures_per_address=8))
    for i in range(7):
        with pytest.raises(PermissionDenied):
            access.authenticate(f"user{i}", "guess", client="203.0.113.7", now=T + i * S)
    assert access.authenticate("editor", PASSWORD, client="203.0.113.7", now=T + 8 * S).username == "editor"
    with pytest.raises(PermissionDenied):
        access.authenticate("user7", "guess", client="203.0.113.7", now=T + 9 * S)
    with pytest.raises(TooManyAttempts):  # 8 failures from the address: now it is locked for every name
        access.authenticate("editor", PASSWORD, client="203.0.113.7", now=T + 10 * S)
    assert access.authenticate("editor", PASSWORD, client="198.51.100.1", now=T + 11 * S).username == "editor"


def test_concurrent_wrong_passwords_never_pass_the_limit(svc: Service) -> None:
    """40 simultaneous wrong passwords for one name: at most 5 reach the password check (each
    attempt commits its row before it counts), the rest are refused; on SQLite and PostgreSQL."""
    from concurrent.futures import ThreadPoolExecutor

    from metricloop.access.service import AccessService

    access = AccessService(svc.ml.ctx, LoginLimit(5, dt.timedelta(minutes=5)))

    def attempt(i: int) -> str:
        try:
            access.authenticate("boss", f"guess {i}", client=f"10.9.0.{i}")
        except TooManyAttempts:
            return "throttled"
        except PermissionDenied:
            return "denied"
        return "ok"

    with ThreadPoolExecutor(40) as pool:
        outcomes = list(pool.map(attempt, range(40)))
    assert outcomes.count("denied") <= 5 and outcomes.count("ok") == 0
    assert outcomes.count("throttled") >= 35
    with svc.ml.store.session() as s:
        rows = list(s.scalars(sa.select(AuditEvent.outcome).where(AuditEvent.action == "login")))
    assert sorted(set(rows)) == ["denied", "throttled"] and rows.count("denied") == outcomes.count("denied")


def test_unknown_user_names_cost_one_argon2_verification(svc: Service) -> None:
    """The constant-time path: an unknown name is checked against a dummy hash, like a real one."""
    from argon2 import PasswordHasher

    calls: list[str] = []
    original = PasswordHasher.verify

    def counting(self: PasswordHasher, hash: str, password: str) -> bool:
        calls.append(hash)
        return original(self, hash, password)

    PasswordHasher.verify = counting  # type: ignore[method-assign]
    try:
        for name in ("boss", "no-such-user", "viewer"):  # viewer has no password (token-only)
            with pytest.raises(PermissionDenied):
                svc.ml.access.authenticate(name, "wrong password", client="10.7.0.1")
    finally:
        PasswordHasher.verify = original  # type: ignore[method-assign]
    assert len(calls) == 3 and all(h.startswith("$argon2id$") for h in calls)


def test_a_successful_sign_in_restarts_the_count_of_its_user_name(svc: Service) -> None:
    access = svc.ml.access
    t = T
    for _round in range(2):
        for _ in range(4):
            t += S
            with pytest.raises(PermissionDenied):
                access.authenticate("editor", "typo", client=f"10.1.0.{_round}", now=t)
        t += S
        assert access.authenticate("editor", PASSWORD, client=f"10.1.0.{_round}", now=t).username == "editor"
