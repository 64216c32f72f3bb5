"""Action links: signed, expiring, single-use, bound to one incident and action."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from metricloop.errors import ConfigError, ConflictError, PermissionDenied
from metricloop.notify.tokens import MemoryUsedTokens, action_url, make_action_token, verify_action_token

SECRET = "action-link-secret-0123456789abcdef"
NOW = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
EXP = NOW + timedelta(hours=24)


def test_round_trip_then_replay_is_refused() -> None:
    used = MemoryUsedTokens()
    token = make_action_token("inc-1", "ack", "zhangsan", EXP, SECRET)
    claim = verify_action_token(token, SECRET, used, now=NOW, incident_id="inc-1", action="ack")
    assert (claim.incident_id, claim.action, claim.actor) == ("inc-1", "ack", "zhangsan")
    assert claim.expires_at == EXP
    with pytest.raises(ConflictError, match="already used"):
        verify_action_token(token, SECRET, used, now=NOW)


def test_check_without_consuming_then_consume() -> None:
    used = MemoryUsedTokens()
    token = make_action_token("inc-1", "resolve", "lisi", EXP, SECRET)
    verify_action_token(token, SECRET, used, now=NOW, consume=False)
    verify_action_token(token, SECRET, used, now=NOW, consume=False)
    verify_action_token(token, SECRET, used, now=NOW)
    with pytest.raises(ConflictError):
        verify_action_token(token, SECRET, used, now=NOW, consume=False)


def test_expired_token_is_refused_at_the_second() -> None:
    used = MemoryUsedTokens()
    token = make_action_token("inc-1", "ack", "zhangsan", EXP, SECRET)
    with pytest.raises(PermissionDenied, match="expired"):
        verify_action_token(token, SECRET, used, now=EXP)
    verify_action_token(token, SECRET, used, now=EXP - timedelta(seconds=1))


@pytest.mark.parametrize(
    ("incident", "action", "secret"),
    [
        ("inc-2", None, SECRET),  # link for another incident
        (None, "resolve", SECRET),  # an ack link used to resolve
        (None, None, SECRET.replace("0", "1")),  # signed with another key
    ],
)
def test_mismatch_or_forgery_is_refused(incident: str | None, action: str | None, secret: str) -> None:
    token = make_action_token("inc-1", "ack", "zhangsan", EXP, SECRET)
    with pytest.raises(PermissionDenied, match="invalid"):
        verify_action_token(token, secret, MemoryUsedTokens(), now=NOW, incident_id=incident, action=action)


def test_tampered_payload_is_refused() -> None:
    token = make_action_token("inc-1", "ack", "zhangsan", EXP, SECRET)
    header, _payload, sig = token.split(".")
    forged = make_action_token("inc-1", "ack", "boss", EXP, SECRET).split(".")[1]
    with pytest.raises(PermissionDenied):
        verify_action_token(f"{header}.{forged}.{sig}", SECRET, MemoryUsedTokens(), now=NOW)
    with pytest.raises(PermissionDenied):
        verify_action_token("not-a-token", SECRET, MemoryUsedTokens(), now=NOW)


def test_short_secret_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        make_action_token("inc-1", "ack", "zhangsan", EXP, "short")


def test_used_ids_are_purged_after_expiry() -> None:
    used = MemoryUsedTokens()
    token = make_action_token("inc-1", "ack", "zhangsan", EXP, SECRET, jti="j1")
    verify_action_token(token, SECRET, used, now=NOW)
    assert used.purge(NOW) == 0
    assert used.is_used("j1")
    assert used.purge(EXP) == 1
    # Purged, but the token itself has expired, so it still cannot be replayed.
    with pytest.raises(PermissionDenied, match="expired"):
        verify_action_token(token, SECRET, used, now=EXP)


def test_action_url_carries_the_token() -> None:
    token = make_action_token("inc/1", "ack", "zhangsan", EXP, SECRET)
    url = action_url("https://ml.example/", "inc/1", "ack", token)
    parts = urlsplit(url)
    assert parts.path == "/a/inc%2F1/ack"
    assert parse_qs(parts.query)["t"] == [token]
