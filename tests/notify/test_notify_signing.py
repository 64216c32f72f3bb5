"""Every test vector of chat-robots.md §7, plus the verification side of Standard Webhooks."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from metricloop.notify.signing import (
    dingtalk_sign,
    dingtalk_sign_query,
    feishu_sign,
    grafana_signature,
    pagerduty_signature,
    slack_signature,
    standard_webhooks_headers,
    standard_webhooks_signature,
    standard_webhooks_verify,
    verify_hex_signature,
)

SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TS = 1614265330
SW_BODY = b'{"test": 2432232314}'


def test_dingtalk_vector_raw_and_url_encoded_once() -> None:
    assert (
        dingtalk_sign("SEC0123456789abcdef", 1700000000000) == "TSZbRFUuvaSQaRKUpF970OPCb2/LcQAP3wOvwZIzBZk="
    )
    query = dingtalk_sign_query("SEC0123456789abcdef", "1700000000000")
    assert query == "timestamp=1700000000000&sign=TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D"
    # Decoding once gives back the raw base64 (i.e. it was not double-encoded).
    assert parse_qs(query)["sign"] == ["TSZbRFUuvaSQaRKUpF970OPCb2/LcQAP3wOvwZIzBZk="]


def test_feishu_vector() -> None:
    assert feishu_sign("feishu-demo-secret", 1700000000) == "LJ3PlcwviZMXQxiZQ4Jou4SlI9YJEmjE2SI9xcS1EG0="


def test_feishu_and_dingtalk_constructions_differ() -> None:
    # Same secret and timestamp: the two platforms' signs must not be interchangeable.
    assert feishu_sign("s3cret", "1700000000") != dingtalk_sign("s3cret", "1700000000")


def test_standard_webhooks_vector_matches_published_example() -> None:
    sig = standard_webhooks_signature(SW_SECRET, SW_ID, SW_TS, SW_BODY)
    assert sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_grafana_vectors() -> None:
    body = b'{"status":"firing"}'
    assert (
        grafana_signature("grafana-demo-secret", body, 1700000000)
        == "e17e71fb05f735211f45c314f49f09077916a6307d4d7eb2a49812e3021a48c8"
    )
    assert (
        grafana_signature("grafana-demo-secret", body)
        == "83fa1ad2721464250aa5e6bb8fc57f915a0e0f67ad494a36620f7dcd3a94d05b"
    )


def test_pagerduty_vector() -> None:
    body = b'{"event":{"event_type":"incident.triggered"}}'
    expected = "v1=d564c5e11392df25b99c18908a3126fac6c55dd44239a2128a5e92a5444e767a"
    assert pagerduty_signature("pd-demo-secret", body) == expected
    # PagerDuty sends several signatures comma-separated during rotation.
    assert verify_hex_signature(expected, "v1=deadbeef," + expected)
    assert not verify_hex_signature(expected, "v1=deadbeef")


def test_slack_vector() -> None:
    assert (
        slack_signature("slack-demo-secret", 1700000000, b"payload=%7B%7D")
        == "v0=f6ed1e5df49589ce7e3b88614fef6af7843fbfdbe9aa4b525c7c3a79f85e36a6"
    )


def test_standard_webhooks_verify_accepts_rotation_and_rejects_tampering() -> None:
    headers = standard_webhooks_headers(SW_SECRET, SW_ID, SW_TS, SW_BODY)
    assert standard_webhooks_verify(SW_SECRET, headers, SW_BODY, now_s=SW_TS) is None
    # Receiver knows old and new secret; sender sends two signatures: either matches.
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3OA=="
    both = dict(headers)
    both["webhook-signature"] = (
        standard_webhooks_signature(other, SW_ID, SW_TS, SW_BODY) + " " + headers["webhook-signature"]
    )
    assert standard_webhooks_verify([other], both, SW_BODY, now_s=SW_TS) is None
    assert standard_webhooks_verify([SW_SECRET], both, SW_BODY, now_s=SW_TS) is None
    assert (
        standard_webhooks_verify(SW_SECRET, headers, SW_BODY + b" ", now_s=SW_TS) == "no matching signature"
    )
    assert standard_webhooks_verify(other, headers, SW_BODY, now_s=SW_TS) == "no matching signature"


@pytest.mark.parametrize(("skew", "ok"), [(-300, True), (300, True), (-301, False), (301, False)])
def test_standard_webhooks_tolerance_window(skew: int, ok: bool) -> None:
    headers = standard_webhooks_headers(SW_SECRET, SW_ID, SW_TS, SW_BODY)
    why = standard_webhooks_verify(SW_SECRET, headers, SW_BODY, now_s=SW_TS + skew)
    assert (why is None) is ok


def test_standard_webhooks_id_with_dot_is_refused() -> None:
    with pytest.raises(ValueError, match="must not contain"):
        standard_webhooks_signature(SW_SECRET, "a.b", SW_TS, SW_BODY)
