"""Send one notification to one channel and say, from the response *body*, what happened.

DingTalk, WeCom and Feishu answer most errors with HTTP 200 and a code in the body, so success
is judged on the body (``errcode``/``code``/``StatusCode`` 0, Slack's ``ok``), and every code is
classified ``retryable`` (try again later, same idempotency id) or ``permanent`` (configuration is
wrong: mark the channel broken, use the fallback). Unknown codes are permanent: retrying a
misconfigured robot for days helps nobody, while the fallback channel reaches the owner now.

The building blocks are pure (:func:`build_request`, :func:`classify_response`); :class:`Notifier`
adds the one ``httpx.Client`` (timeouts, no redirects, injectable ``transport``) and SMTP.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, parsedate_to_datetime
from types import TracebackType
from typing import Any, Literal

import httpx

from metricloop.notify.config import (
    Channel,
    DingTalkChannel,
    EmailChannel,
    FeishuChannel,
    SlackChannel,
    WebhookChannel,
    WeComChannel,
)
from metricloop.notify.message import Notification
from metricloop.notify.render import (
    render_dingtalk,
    render_email,
    render_feishu,
    render_slack,
    render_webhook,
    render_wecom,
)
from metricloop.notify.signing import dingtalk_sign_query, feishu_sign, standard_webhooks_headers
from metricloop.secrets import redact

log = logging.getLogger("metricloop.notify")

Outcome = Literal["sent", "retryable", "permanent"]
IDEMPOTENCY_HEADER = "X-MetricLoop-Idempotency-Id"
USER_AGENT = "MetricLoop-notify/1"


@dataclass(frozen=True)
class DeliveryResult:
    """Outcome of one attempt. ``status``: HTTP status or SMTP reply code; ``code``: the
    platform's error code (``"310000"``, ``"channel_is_archived"``); ``detail`` is redacted;
    ``retry_after`` (seconds) comes from ``Retry-After``, DingTalk's ``wait`` or a known limit."""

    outcome: Outcome
    status: int | None = None
    code: str | None = None
    detail: str = ""
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "sent"


@dataclass(frozen=True)
class HttpRequest:
    url: str
    headers: dict[str, str]
    body: bytes


def _result(
    outcome: Outcome, status: int | None, code: object, detail: str, retry_after: float | None = None
) -> DeliveryResult:
    return DeliveryResult(
        outcome=outcome,
        status=status,
        code=None if code is None else str(code),
        detail=redact(detail)[:500],
        retry_after=retry_after,
    )


# --- requests ---------------------------------------------------------------------------------


def _json_bytes(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def build_request(
    channel: Channel, notification: Notification, idempotency_id: str, now: float
) -> HttpRequest:
    """The exact bytes to POST (signed for ``now``, epoch seconds); email has no HTTP request."""
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        IDEMPOTENCY_HEADER: idempotency_id,
    }
    if isinstance(channel, DingTalkChannel):
        url = channel.url.get_secret_value()
        if channel.secret is not None:
            sep = "&" if "?" in url else "?"
            url += sep + dingtalk_sign_query(channel.secret.get_secret_value(), int(now * 1000))
        return HttpRequest(url, headers, _json_bytes(render_dingtalk(channel, notification)))
    if isinstance(channel, WeComChannel):
        return HttpRequest(
            channel.url.get_secret_value(), headers, _json_bytes(render_wecom(channel, notification))
        )
    if isinstance(channel, FeishuChannel):
        payload = render_feishu(channel, notification)
        if channel.secret is not None:
            ts = str(int(now))
            payload = {"timestamp": ts, "sign": feishu_sign(channel.secret.get_secret_value(), ts), **payload}
        return HttpRequest(channel.url.get_secret_value(), headers, _json_bytes(payload))
    if isinstance(channel, SlackChannel):
        return HttpRequest(
            channel.url.get_secret_value(), headers, _json_bytes(render_slack(channel, notification))
        )
    if isinstance(channel, WebhookChannel):
        if "." in idempotency_id:
            raise ValueError("a webhook-id must not contain '.' (Standard Webhooks signs 'id.ts.body')")
        body = _json_bytes(render_webhook(channel, notification, now=datetime.fromtimestamp(now, tz=UTC)))
        if channel.secret is not None:
            headers |= standard_webhooks_headers(
                channel.secret.get_secret_value(), idempotency_id, int(now), body
            )
        else:
            headers |= {"webhook-id": idempotency_id, "webhook-timestamp": str(int(now))}
        return HttpRequest(channel.url.get_secret_value(), headers, body)
    raise TypeError(f"no HTTP request for channel type {channel.type}")


# --- responses --------------------------------------------------------------------------------

# Codes from chat-robots.md (§1–§3). Value = retry-after hint in seconds (None: use backoff).
DINGTALK_RETRYABLE: dict[int, float | None] = {130101: 60.0, 410100: 60.0, -1: None}
WECOM_RETRYABLE: dict[int, float | None] = {45009: 60.0, -1: None}
FEISHU_RETRYABLE: dict[int, float | None] = {11232: 1.0}


def parse_retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def _json_or_none(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def classify_response(
    channel_type: str, status: int, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> DeliveryResult:
    """Judge one HTTP response; the body decides for the chat robots."""
    now = time.time() if now is None else now
    text = body[:300].decode("utf-8", errors="replace").strip()
    if status == 429 or status == 408 or status >= 500:
        ra = parse_retry_after(headers.get("retry-after") or headers.get("Retry-After"), now)
        return _result(
            "retryable",
            status,
            text.split()[0] if text and channel_type == "slack" else None,
            f"{channel_type}: HTTP {status} {text}",
            ra,
        )
    if channel_type == "webhook":
        if 200 <= status < 300:
            return _result("sent", status, None, f"webhook: HTTP {status}")
        # 410 Gone = disable the endpoint; other 3xx/4xx are configuration errors too.
        return _result("permanent", status, None, f"webhook: HTTP {status} {text}")
    if channel_type == "slack":
        if status == 200 and text == "ok":
            return _result("sent", status, None, "slack: ok")
        if status == 200:
            return _result("retryable", status, None, f"slack: unexpected body {text!r}")
        return _result("permanent", status, text.split()[0] if text else None, f"slack: HTTP {status} {text}")
    if status != 200:
        return _result("permanent", status, None, f"{channel_type}: HTTP {status} {text}")
    data = _json_or_none(body)
    if data is None:
        return _result("retryable", status, None, f"{channel_type}: unreadable response body {text!r}")
    if channel_type in ("dingtalk", "wecom"):
        code, msg = data.get("errcode"), str(data.get("errmsg", ""))
        if code == 0:
            return _result("sent", status, 0, f"{channel_type}: ok")
        if (
            channel_type == "dingtalk" and data.get("status") == 1111
        ):  # anti-abuse layer: {"status":1111,"wait":5}
            return _result(
                "retryable",
                status,
                1111,
                f"dingtalk: throttled, wait {data.get('wait')}s",
                float(data.get("wait") or 5),
            )
        table = DINGTALK_RETRYABLE if channel_type == "dingtalk" else WECOM_RETRYABLE
        if isinstance(code, int) and code in table:
            return _result("retryable", status, code, f"{channel_type} errcode {code}: {msg}", table[code])
        return _result("permanent", status, code, f"{channel_type} errcode {code}: {msg}")
    if channel_type == "feishu":
        code = data.get("code", data.get("StatusCode"))
        if data.get("code") == 0 or data.get("StatusCode") == 0:
            return _result("sent", status, 0, "feishu: ok")
        msg = str(data.get("msg", data.get("StatusMessage", "")))
        if isinstance(code, int) and code in FEISHU_RETRYABLE:
            return _result("retryable", status, code, f"feishu code {code}: {msg}", FEISHU_RETRYABLE[code])
        return _result("permanent", status, code, f"feishu code {code}: {msg}")
    return _result("permanent", status, None, f"{channel_type}: unknown channel type")


# --- email ------------------------------------------------------------------------------------


def build_email(
    channel: EmailChannel, notification: Notification, idempotency_id: str, now: float
) -> EmailMessage:
    """A multipart (text + HTML) message; Message-ID derives from the idempotency id so a
    re-sent copy is recognisably the same message."""
    content = render_email(channel, notification)
    to = list(dict.fromkeys([*channel.to, *(m.email for m in notification.mentions if m.email)]))
    msg = EmailMessage()
    msg["Subject"] = content.subject
    msg["From"] = channel.sender
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(now, localtime=False)
    msg["Message-ID"] = f"<{idempotency_id}@metricloop>"
    msg["Content-Language"] = channel.locale
    msg.set_content(content.text)
    msg.add_alternative(content.html, subtype="html")
    return msg


def _smtp_code_outcome(code: int) -> Outcome:
    return "retryable" if 400 <= code < 500 else "permanent"


def send_email(
    channel: EmailChannel, notification: Notification, idempotency_id: str, now: float
) -> DeliveryResult:
    """Deliver through SMTP (``none`` / ``starttls`` / ``ssl``), classifying replies: 4xx and
    connection problems are retryable; 5xx, refused recipients, auth and TLS-verify failures
    are permanent."""
    s = channel.smtp
    msg = build_email(channel, notification, idempotency_id, now)
    ctx = ssl.create_default_context(cafile=s.ca_file) if s.security != "none" else None
    try:
        smtp: smtplib.SMTP
        if s.security == "ssl":
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_s, context=ctx)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
        with smtp:
            if s.security == "starttls":
                smtp.starttls(context=ctx)
            if s.username is not None and s.password is not None:
                smtp.login(s.username.get_secret_value(), s.password.get_secret_value())
            refused = smtp.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [c for c, _ in exc.recipients.values()]
        outcome: Outcome = "retryable" if codes and all(400 <= c < 500 for c in codes) else "permanent"
        return _result(outcome, codes[0] if codes else None, None, f"email: all recipients refused {codes}")
    except smtplib.SMTPResponseException as exc:  # includes auth errors (535) and sender refused
        err = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        return _result(
            _smtp_code_outcome(exc.smtp_code), exc.smtp_code, exc.smtp_code, f"email: {exc.smtp_code} {err}"
        )
    except smtplib.SMTPNotSupportedError as exc:
        return _result("permanent", None, None, f"email: server does not support it: {exc}")
    except ssl.SSLCertVerificationError as exc:
        return _result("permanent", None, None, f"email: TLS certificate not trusted: {exc.verify_message}")
    except (smtplib.SMTPException, OSError) as exc:
        return _result("retryable", None, None, f"email: {type(exc).__name__}: {exc}")
    if refused:
        return _result("sent", 250, None, f"email: sent, {len(refused)} recipient(s) refused")
    return _result("sent", 250, None, "email: sent")


# --- the notifier ---


class RedactingFilter(logging.Filter):
    """Masks secrets in records of third-party loggers: httpx logs every request URL at INFO,
    and a robot URL carries its access token."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def install_log_redaction(names: tuple[str, ...] = ("httpx", "httpcore")) -> None:
    """Attach :class:`RedactingFilter` to the HTTP client loggers (idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


# --- the notifier -----------------------------------------------------------------------------


class Notifier:
    """Sends notifications; one instance (one connection pool) per process.

    ``transport`` is passed to ``httpx.Client`` (as httpx allows); ``clock`` gives epoch seconds
    for signatures (a skewed clock is how tests reproduce "timestamp outside the window").
    """

    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = 15.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        install_log_redaction()
        self._client = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(timeout_s, connect=min(5.0, timeout_s)),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )

    def __enter__(self) -> Notifier:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def send(self, channel: Channel, notification: Notification, idempotency_id: str) -> DeliveryResult:
        """One attempt; never raises for delivery problems (they are the result)."""
        now = self.clock()
        if not channel.enabled:
            result = _result("permanent", None, "disabled", f"channel {channel.name} is disabled")
        elif channel.unconfigured is not None:  # its values are stand-ins: never send them anywhere
            result = _result("retryable", None, "unconfigured", f"channel {channel.name}: {channel.unconfigured}")
        elif isinstance(channel, EmailChannel):
            result = send_email(channel, notification, idempotency_id, now)
        else:
            result = self._post(channel, build_request(channel, notification, idempotency_id, now), now)
        log.info(
            "notify %s channel=%s target=%s id=%s kind=%s status=%s code=%s %s",
            result.outcome,
            channel.name,
            channel.safe_target,
            idempotency_id,
            notification.kind,
            result.status,
            result.code,
            result.detail,
        )
        return result

    def _post(self, channel: Channel, req: HttpRequest, now: float) -> DeliveryResult:
        try:
            resp = self._client.post(req.url, content=req.body, headers=req.headers)
        except httpx.TimeoutException as exc:
            return _result("retryable", None, "timeout", f"{channel.type}: timeout ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            return _result("retryable", None, "transport", f"{channel.type}: {type(exc).__name__}: {exc}")
        return classify_response(channel.type, resp.status_code, resp.headers, resp.content, now)
