"""``channels.yaml``: where notifications go, validated strictly, secrets kept out of every text.

Webhook URLs of chat robots *are* credentials (DingTalk ``access_token``, WeCom ``key``, the
Feishu hook id, the Slack service path), so URLs are held as :class:`pydantic.SecretStr` like
the signing secrets: ``repr()``, ``model_dump()`` and error messages show ``**********``.
``${ENV_VAR}`` references are resolved by :func:`metricloop.secrets.resolve_env`, which also
registers the values so :func:`metricloop.secrets.redact` masks them in any log line.

Example::

    channels:
      - name: ops-dingtalk
        type: dingtalk
        url: https://oapi.dingtalk.com/robot/send?access_token=${DINGTALK_TOKEN}
        secret: ${DINGTALK_SECRET}
        keyword: 指标告警
        fallback: ops-email
      - name: ops-email
        type: email
        smtp: {host: smtp.example.com, port: 587, security: starttls,
               username: alerts, password: "${SMTP_PASSWORD}"}
        sender: alerts@example.com
        to: [ops@example.com]
        locale: en
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from metricloop.errors import ConfigError, DefinitionError, Issue, Location
from metricloop.i18n import Locale
from metricloop.secrets import register, resolve_env

ChannelType = Literal["email", "webhook", "dingtalk", "wecom", "feishu", "slack"]
CHANNEL_TYPES: tuple[str, ...] = ("email", "webhook", "dingtalk", "wecom", "feishu", "slack")

# Keys whose ``${VAR}`` values are secrets (registered for redaction); other keys may use
# ``${VAR}`` too (a host name per environment) without being masked everywhere.
SECRET_KEYS = frozenset({"url", "secret", "password", "username"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimit(_Strict):
    """At most ``count`` messages in any ``per_seconds`` window."""

    count: int = Field(gt=0)
    per_seconds: float = Field(gt=0)


class SmtpSettings(_Strict):
    host: str
    port: int = Field(default=587, gt=0, lt=65536)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: SecretStr | None = None
    password: SecretStr | None = None
    timeout_s: float = Field(default=15.0, gt=0)
    # A CA bundle to trust (a private mail relay); the system store is used otherwise.
    ca_file: str | None = None


class _ChannelBase(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    locale: Locale = "zh-CN"
    rate_limit: list[RateLimit] | None = None
    fallback: str | None = None
    enabled: bool = True
    # Why the channel cannot send (an unset ``${VAR}``), set by :func:`parse_channels`; not part
    # of the file's schema. The channel's other values are stand-ins then and must not be used.
    _unconfigured: str | None = PrivateAttr(default=None)
    _unconfigured_zh: str | None = PrivateAttr(default=None)

    @property
    def unconfigured(self) -> str | None:
        """The reason this channel cannot send (naming the variable and the field), or None."""
        return self._unconfigured

    @property
    def unconfigured_zh(self) -> str | None:
        return self._unconfigured_zh or self._unconfigured

    @property
    def safe_target(self) -> str:
        """Where the channel points, without any credential (for logs and the UI)."""
        return self.name


class _UrlChannel(_ChannelBase):
    url: SecretStr

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: SecretStr) -> SecretStr:
        if urlsplit(v.get_secret_value()).scheme not in ("http", "https"):
            raise ValueError("must be an http:// or https:// URL")
        return v

    @property
    def safe_target(self) -> str:
        parts = urlsplit(self.url.get_secret_value())
        return f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}/…"


class DingTalkChannel(_UrlChannel):
    type: Literal["dingtalk"]
    secret: SecretStr | None = None
    keyword: str | None = None
    # card = actionCard with link buttons; markdown pings @-mentioned owners (actionCard cannot);
    # auto = markdown when the notification mentions someone, card otherwise.
    style: Literal["auto", "markdown", "card"] = "auto"


class WeComChannel(_UrlChannel):
    type: Literal["wecom"]


class FeishuChannel(_UrlChannel):
    type: Literal["feishu"]
    secret: SecretStr | None = None
    keyword: str | None = None


class SlackChannel(_UrlChannel):
    type: Literal["slack"]


class WebhookChannel(_UrlChannel):
    type: Literal["webhook"]
    secret: SecretStr | None = None

    @field_validator("secret")
    @classmethod
    def _whsec(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().startswith("whsec_"):
            raise ValueError("must be a Standard Webhooks secret: 'whsec_' followed by base64")
        return v


class EmailChannel(_ChannelBase):
    type: Literal["email"]
    smtp: SmtpSettings
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(min_length=1)

    @property
    def safe_target(self) -> str:
        return f"smtp://{self.smtp.host}:{self.smtp.port}"


Channel = Annotated[
    DingTalkChannel | WeComChannel | FeishuChannel | SlackChannel | WebhookChannel | EmailChannel,
    Field(discriminator="type"),
]


def _register_url_secrets(channel: _ChannelBase) -> None:
    """Register the credential parts of a robot URL so logs mask them even when written literally."""
    if isinstance(channel, _UrlChannel):
        url = channel.url.get_secret_value()
        parts = urlsplit(url)
        register(url, parts.password)
        if isinstance(channel, DingTalkChannel | WeComChannel):  # access_token / key
            register(*(v for _, v in parse_qsl(parts.query)))
        segments = [s for s in parts.path.split("/") if s]
        if isinstance(channel, FeishuChannel) and segments:
            register(segments[-1])
        if isinstance(channel, SlackChannel):
            register(*segments[-3:])
    secret = getattr(channel, "secret", None)
    if isinstance(secret, SecretStr):
        register(secret.get_secret_value())
    if isinstance(channel, EmailChannel):
        for s in (channel.smtp.password, channel.smtp.username):
            if s is not None:
                register(s.get_secret_value())


class ChannelsFile(_Strict):
    """The whole ``channels.yaml``: names are unique and fallbacks point at known channels."""

    channels: list[Channel] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_names(self) -> ChannelsFile:
        seen: set[str] = set()
        for i, ch in enumerate(self.channels):
            if ch.name in seen:
                raise ValueError(f"channels[{i}].name: duplicate channel name {ch.name!r}")
            seen.add(ch.name)
        for i, ch in enumerate(self.channels):
            if ch.fallback is not None and ch.fallback not in seen:
                raise ValueError(f"channels[{i}].fallback: unknown channel {ch.fallback!r}")
            if ch.fallback == ch.name:
                raise ValueError(f"channels[{i}].fallback: a channel cannot be its own fallback")
        for ch in self.channels:
            _register_url_secrets(ch)
        return self

    def by_name(self) -> dict[str, Channel]:
        return {c.name: c for c in self.channels}

    def get(self, name: str) -> Channel:
        for c in self.channels:
            if c.name == name:
                return c
        from metricloop.errors import NotFoundError

        raise NotFoundError(
            f"no channel named {name!r} in channels.yaml", zh=f"channels.yaml 中没有渠道 {name!r}"
        )


# Stand-ins for a value whose ``${VAR}`` is unset, so the rest of the channel is still checked.
# Distinctive on purpose: URL parts are registered for redaction, and a common word would then be
# masked in every log line.
_STAND_INS = {
    "url": "https://metricloop-unset.invalid/",
    "secret": "whsec_bWV0cmljbG9vcC11bnNldA==",
    "sender": "metricloop-unset@metricloop-unset.invalid",
    "to": "metricloop-unset@metricloop-unset.invalid",
    "port": "1",
}


def _resolve_refs(
    value: Any, path: str, key: str | None = None, unset: list[ConfigError] | None = None
) -> Any:
    """Expand ``${VAR}`` in every string, naming the field (``channels[1].secret``) if unset.

    With ``unset`` given, an unset variable does not raise: the error is collected and the value
    replaced by a stand-in (one channel's missing secret must not stop every other channel)."""
    if isinstance(value, str):
        try:
            return resolve_env(value, field=path, secret=key in SECRET_KEYS)
        except ConfigError as exc:
            if unset is None:
                raise
            unset.append(exc)
            return _STAND_INS.get(key or "", "metricloop-unset")
    if isinstance(value, Mapping):
        return {k: _resolve_refs(v, f"{path}.{k}", str(k), unset) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_refs(v, f"{path}[{i}]", key, unset) for i, v in enumerate(value)]
    return value


def _resolve_channels(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[int, list[ConfigError]]]:
    """``data`` with ``${VAR}`` expanded, and per channel index the variables that are unset."""
    unset: dict[int, list[ConfigError]] = {}
    resolved: dict[str, Any] = {}
    for k, v in data.items():
        if k == "channels" and isinstance(v, list):
            items = []
            for i, item in enumerate(v):
                errors: list[ConfigError] = []
                items.append(_resolve_refs(item, f"channels[{i}]", None, errors))
                if errors:
                    unset[i] = errors
            resolved[k] = items
        else:
            resolved[k] = _resolve_refs(v, str(k), str(k))
    return resolved, unset


def _loc(err_loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in err_loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in CHANNEL_TYPES and out.endswith("]"):
            continue  # discriminator tag pydantic inserts: channels[0].dingtalk.url → channels[0].url
        else:
            out += f".{part}" if out else str(part)
    return out


def parse_channels(data: Any, *, file: str = "channels.yaml") -> ChannelsFile:
    """Validate already-parsed YAML; every problem becomes an :class:`Issue` naming the field."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError("expected a mapping with a 'channels' list", location=Location(file=file))
    try:
        resolved, unset = _resolve_channels(data)
    except ConfigError as exc:
        raise ConfigError(exc.message, zh=exc.message_zh, location=Location(file=file)) from None
    try:
        parsed = ChannelsFile.model_validate(resolved)
    except ValidationError as exc:
        if unset:  # a stand-in did not fit (say ``port: ${SMTP_PORT}``): the unset variable is the error
            first = next(iter(unset.values()))[0]
            raise ConfigError(first.message, zh=first.message_zh, location=Location(file=file)) from None
        issues = []
        for e in exc.errors(include_input=False, include_url=False):
            field = _loc(e["loc"])
            msg = e["msg"].removeprefix("Value error, ")
            if msg.startswith("channels[") and ":" in msg:
                field, msg = msg.split(": ", 1)
            issues.append(Issue(msg, Location(file=file, field=field or None)))
        raise DefinitionError(issues) from None
    for i, errors in unset.items():
        ch = parsed.channels[i]
        ch._unconfigured = "; ".join(e.message for e in errors)
        ch._unconfigured_zh = "；".join(e.message_zh or e.message for e in errors)
    return parsed


def load_channels(path: str | Path) -> ChannelsFile:
    """Read and validate a ``channels.yaml`` file."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {p}: {exc.strerror}", location=Location(file=str(p))) from None
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise ConfigError(
            "invalid YAML",
            zh="YAML 格式错误",
            location=Location(file=str(p), line=line + 1 if line is not None else None),
        ) from None
    return parse_channels(data, file=str(p))
