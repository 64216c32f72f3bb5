"""channels.yaml: strict validation that names the field, and secrets that never show."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from metricloop.errors import ConfigError, DefinitionError
from metricloop.notify.config import DingTalkChannel, EmailChannel, load_channels, parse_channels
from metricloop.secrets import redact

TOKEN = "dt-access-token-5f1c9a"
SECRET = "SECdingtalk-secret-77ab"
SMTP_PW = "smtp-password-91xz"

YAML = """
channels:
  - name: ops-dingtalk
    type: dingtalk
    url: https://oapi.dingtalk.com/robot/send?access_token=${ML_TEST_DT_TOKEN}
    secret: ${ML_TEST_DT_SECRET}
    keyword: 指标告警
    rate_limit: [{count: 10, per_seconds: 60}]
    fallback: ops-email
  - name: ops-email
    type: email
    smtp:
      host: smtp.example.com
      port: 587
      security: starttls
      username: alerts
      password: "${ML_TEST_SMTP_PW}"
    sender: alerts@example.com
    to: [ops@example.com]
    locale: en
  - name: lark
    type: feishu
    url: https://open.feishu.cn/open-apis/bot/v2/hook/literal-hook-id-0042
    enabled: false
"""


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ML_TEST_DT_TOKEN", TOKEN)
    monkeypatch.setenv("ML_TEST_DT_SECRET", SECRET)
    monkeypatch.setenv("ML_TEST_SMTP_PW", SMTP_PW)


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "channels.yaml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.usefixtures("env")
def test_loads_channels_and_resolves_env_refs(tmp_path: Path) -> None:
    cfg = load_channels(_write(tmp_path, YAML))
    dt = cfg.get("ops-dingtalk")
    assert isinstance(dt, DingTalkChannel)
    assert dt.url.get_secret_value().endswith(TOKEN)
    assert dt.secret is not None
    assert dt.secret.get_secret_value() == SECRET
    assert dt.keyword == "指标告警"
    assert dt.locale == "zh-CN"
    assert dt.fallback == "ops-email"
    assert dt.rate_limit is not None
    assert dt.rate_limit[0].count == 10
    email = cfg.get("ops-email")
    assert isinstance(email, EmailChannel)
    assert email.locale == "en"
    assert email.smtp.password is not None
    assert email.smtp.password.get_secret_value() == SMTP_PW
    assert cfg.get("lark").enabled is False


@pytest.mark.usefixtures("env")
def test_secrets_absent_from_repr_dumps_and_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = load_channels(_write(tmp_path, YAML))
    texts = [
        repr(cfg),
        str(cfg),
        str(cfg.model_dump()),
        json.dumps(cfg.model_dump(mode="json"), ensure_ascii=False),
        cfg.model_dump_json(),
        *(c.safe_target for c in cfg.channels),
    ]
    for text in texts:
        for secret in (TOKEN, SECRET, SMTP_PW, "literal-hook-id-0042"):
            assert secret not in text
    # Values seen by the loader are registered: redact() masks them wherever they appear,
    # including a literal Feishu hook id that never went through an env var.
    dt = cfg.get("ops-dingtalk")
    assert isinstance(dt, DingTalkChannel)
    with caplog.at_level(logging.INFO):
        logging.getLogger("metricloop.test").info(
            redact(f"posting to {dt.url.get_secret_value()} pw={SMTP_PW} {SECRET}")
        )
        logging.getLogger("metricloop.test").info(redact("hook literal-hook-id-0042 failed"))
    assert caplog.text
    for secret in (TOKEN, SECRET, SMTP_PW, "literal-hook-id-0042"):
        assert secret not in caplog.text


def test_missing_env_var_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    # kept but unconfigured (one channel's missing secret must not block the others), never a value
    monkeypatch.delenv("ML_TEST_UNSET_VAR", raising=False)
    [ch] = parse_channels(
        {"channels": [{"name": "w", "type": "wecom", "url": "https://q.example/send?key=${ML_TEST_UNSET_VAR}"}]}
    ).channels
    assert ch.unconfigured is not None
    assert "ML_TEST_UNSET_VAR" in ch.unconfigured and "channels[0].url" in ch.unconfigured
    assert "q.example" not in ch.unconfigured
    # a stand-in that cannot fit the field is still the unset variable's error, for the whole file
    monkeypatch.delenv("ML_TEST_UNSET_PORT", raising=False)
    with pytest.raises(ConfigError) as exc:
        parse_channels({"channels": [{"name": "e", "type": "email", "sender": "a@b.c", "to": ["x@y.z"],
                                      "smtp": {"host": "h", "timeout_s": "${ML_TEST_UNSET_PORT}"}}]})
    assert "ML_TEST_UNSET_PORT" in str(exc.value)


@pytest.mark.parametrize(
    ("channel", "field", "words"),
    [
        (
            {"name": "a", "type": "slack", "url": "https://h.example/x", "colour": "red"},
            "channels[0].colour",
            "extra",
        ),
        ({"name": "a", "type": "dingtalk"}, "channels[0].url", "required"),
        ({"name": "a", "type": "sms", "url": "https://h.example/x"}, "channels[0]", "tag"),
        ({"name": "a", "type": "slack", "url": "ftp://h.example/x"}, "channels[0].url", "http"),
        (
            {"name": "a", "type": "slack", "url": "https://h.example/x", "locale": "fr"},
            "channels[0].locale",
            "zh-CN",
        ),
        (
            {"name": "a", "type": "webhook", "url": "https://h.example/x", "secret": "plain"},
            "channels[0].secret",
            "whsec_",
        ),
        (
            {
                "name": "a",
                "type": "email",
                "smtp": {"host": "m", "port": 25, "tls": True},
                "sender": "a@b",
                "to": ["c@d"],
            },
            "channels[0].smtp.tls",
            "extra",
        ),
        (
            {"name": "a", "type": "slack", "url": "https://h.example/x", "fallback": "nope"},
            "channels[0].fallback",
            "nope",
        ),
    ],
)
def test_invalid_definitions_name_the_field(channel: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(DefinitionError) as exc:
        parse_channels({"channels": [channel]}, file="channels.yaml")
    fields = [i.location.field for i in exc.value.issues]
    assert field in fields, fields
    assert words.lower() in str(exc.value.issues[fields.index(field)]).lower()
    assert str(exc.value).startswith("channels.yaml")


def test_duplicate_names_are_rejected() -> None:
    ch = {"name": "same", "type": "slack", "url": "https://h.example/x"}
    with pytest.raises(DefinitionError, match="duplicate channel name"):
        parse_channels({"channels": [ch, ch]})


def test_invalid_values_do_not_echo_secrets() -> None:
    secret_url = "ftp://h.example/services/T1/B2/very-secret-path-123"
    with pytest.raises(DefinitionError) as exc:
        parse_channels({"channels": [{"name": "s", "type": "slack", "url": secret_url, "bad": 1}]})
    assert "very-secret-path-123" not in str(exc.value)
    assert "very-secret-path-123" not in json.dumps(exc.value.to_dict())


def test_invalid_yaml_reports_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_channels(_write(tmp_path, "channels:\n  - name: a\n    type: [unclosed\n"))
    assert exc.value.location is not None
    assert exc.value.location.line is not None
