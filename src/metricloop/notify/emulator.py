"""A loopback receiver that behaves like DingTalk, WeCom, Feishu, Slack and a Standard-Webhooks
endpoint, so senders, the dispatcher and the demo are tested against real HTTP without the internet.

It checks what the real platforms check (``chat-robots.md`` §8): DingTalk sign (1-hour window) and
keywords, Feishu sign (its own construction) and keywords, WeCom keys and byte limits, Standard
Webhooks signatures (±5 min) with dedup on ``webhook-id``, per-robot rate limits (DingTalk's
10-minute penalty included), and answers the way they do — HTTP 200 with an error code for the
Chinese robots. Faults can be injected per robot: a seeded failure rate, outage windows, a
permanent breakage, a slow response. Every request is recorded, and every message *acted on*
(shown in the group / accepted by the endpoint) is counted per idempotency id, which is how a
test proves that no message was acted on twice.

    with RobotEmulator() as emu:
        url = emu.dingtalk("tok", secret="SEC…", keywords=["告警"])
        ...  # point a channel at url, send
        assert emu.duplicates_acted() == {}
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from metricloop.notify.senders import IDEMPOTENCY_HEADER
from metricloop.notify.signing import dingtalk_sign, feishu_sign, standard_webhooks_verify

PLATFORM_LIMITS: dict[str, list[tuple[int, float]]] = {
    "dingtalk": [(20, 60.0)],
    "wecom": [(20, 60.0)],
    "feishu": [(5, 1.0), (100, 60.0)],
    "slack": [(1, 1.0)],
    "webhook": [],
}
DINGTALK_PENALTY_S = 600.0
SIGN_WINDOW_MS = 3_600_000
FEISHU_MAX_BODY = 20 * 1024
WECOM_LIMITS = {"text": 2048, "markdown": 4096, "markdown_v2": 4096}
DINGTALK_MSGTYPES = {"text", "link", "markdown", "actionCard", "feedCard"}
WECOM_MSGTYPES = {"text", "markdown", "markdown_v2", "image", "news", "file", "voice", "template_card"}
FEISHU_MSGTYPES = {"text", "post", "image", "share_chat", "interactive"}


@dataclass
class Robot:
    """One emulated robot / endpoint and its programmable faults."""

    platform: str
    ident: str
    secret: str | None = None
    secrets: list[str] = field(default_factory=list)  # Standard Webhooks: several during rotation
    keywords: list[str] = field(default_factory=list)
    limits: list[tuple[int, float]] = field(default_factory=list)
    penalty_s: float = 0.0
    tolerance_s: float = 300.0
    failure_rate: float = 0.0
    outages: list[tuple[float, float]] = field(default_factory=list)
    broken: bool = False
    delay_s: float = 0.0
    _sent: list[deque[float]] = field(default_factory=list, repr=False)
    _penalty_until: float = 0.0
    messages: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._sent = [deque() for _ in self.limits]

    def rate_ok(self, now: float) -> bool:
        """Sliding window per limit; a refused send is not counted; DingTalk adds a penalty."""
        if now < self._penalty_until:
            return False
        for (count, window), q in zip(self.limits, self._sent, strict=True):
            while q and q[0] <= now - window:
                q.popleft()
            if len(q) >= count:
                if self.penalty_s:
                    self._penalty_until = now + self.penalty_s
                return False
        for q in self._sent:
            q.append(now)
        return True


@dataclass(frozen=True)
class Recorded:
    """One request as received, and what the emulator answered."""

    platform: str
    robot: str | None
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    received_at: float
    status: int
    response: bytes
    acted: bool
    idempotency_id: str | None

    def json(self) -> Any:
        return json.loads(self.body)


class _Reply(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}


def _strings(obj: Any) -> Iterable[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def _dingtalk_text(payload: dict[str, Any]) -> str:
    """The text DingTalk scans for keywords, per message type."""
    t = payload.get("msgtype")
    part = payload.get(t, {}) if isinstance(t, str) else {}
    if not isinstance(part, dict):
        return ""
    if t == "text":
        return str(part.get("content", ""))
    if t == "feedCard":
        return " ".join(
            str(link.get("title", "")) for link in part.get("links", []) if isinstance(link, dict)
        )
    return f"{part.get('title', '')} {part.get('text', '')}"


class RobotEmulator:
    """Threaded HTTP server on 127.0.0.1 (free port); use as a context manager."""

    def __init__(
        self, *, clock: Callable[[], float] = time.time, seed: int = 0, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.clock = clock
        self.rng = random.Random(seed)
        self.robots: dict[tuple[str, str], Robot] = {}
        self.requests: list[Recorded] = []
        # (endpoint "platform/ident", idempotency id) → times acted on; Standard-Webhooks
        # duplicates that were recognised (2xx, not acted again) are counted separately.
        self.acted: Counter[tuple[str, str]] = Counter()
        self.duplicates_received: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> RobotEmulator:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="robot-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> RobotEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- robots -------------------------------------------------------------------------------

    def _add(self, robot: Robot) -> Robot:
        with self._lock:
            self.robots[(robot.platform, robot.ident)] = robot
        return robot

    def dingtalk(
        self,
        token: str = "dingtalk-token",
        *,
        secret: str | None = None,
        keywords: Iterable[str] = (),
        **faults: Any,
    ) -> str:
        """Add a DingTalk robot (sign when ``secret``, keyword check when ``keywords``); its URL."""
        self._add(
            Robot(
                "dingtalk",
                token,
                secret=secret,
                keywords=list(keywords),
                limits=list(PLATFORM_LIMITS["dingtalk"]),
                penalty_s=DINGTALK_PENALTY_S,
                **faults,
            )
        )
        return f"{self.base_url}/dingtalk/robot/send?access_token={token}"

    def wecom(self, key: str = "wecom-key", **faults: Any) -> str:
        self._add(Robot("wecom", key, limits=list(PLATFORM_LIMITS["wecom"]), **faults))
        return f"{self.base_url}/wecom/cgi-bin/webhook/send?key={key}"

    def feishu(
        self,
        hook_id: str = "feishu-hook",
        *,
        secret: str | None = None,
        keywords: Iterable[str] = (),
        **faults: Any,
    ) -> str:
        self._add(
            Robot(
                "feishu",
                hook_id,
                secret=secret,
                keywords=list(keywords),
                limits=list(PLATFORM_LIMITS["feishu"]),
                **faults,
            )
        )
        return f"{self.base_url}/feishu/open-apis/bot/v2/hook/{hook_id}"

    def slack(self, path: str = "T0000/B0000/slacksecret", **faults: Any) -> str:
        self._add(Robot("slack", path, limits=list(PLATFORM_LIMITS["slack"]), **faults))
        return f"{self.base_url}/slack/services/{path}"

    def webhook(
        self, name: str = "standard", *, secrets: str | list[str] | None = None, **faults: Any
    ) -> str:
        """A Standard-Webhooks endpoint (verifies when ``secrets`` given; dedups on webhook-id)."""
        sec = [secrets] if isinstance(secrets, str) else list(secrets or [])
        self._add(Robot("webhook", name, secrets=sec, **faults))
        return f"{self.base_url}/webhook/{name}"

    def robot(self, platform: str, ident: str) -> Robot:
        return self.robots[(platform, ident)]

    # --- assertions helpers -------------------------------------------------------------------

    def duplicates_acted(self) -> dict[tuple[str, str], int]:
        """(endpoint, idempotency id) pairs acted on more than once (must be empty)."""
        with self._lock:
            return {k: v for k, v in self.acted.items() if v > 1}

    def acted_ids(self, endpoint: str | None = None) -> set[str]:
        """Idempotency ids acted on at least once (on ``endpoint`` = ``"dingtalk/<token>"`` or anywhere)."""
        with self._lock:
            return {i for (e, i), n in self.acted.items() if n > 0 and (endpoint is None or e == endpoint)}

    def recorded(self, platform: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if platform is None or r.platform == platform]

    # --- request handling ---------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        emu = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def log_message(self, format: str, *args: Any) -> None:  # silence stderr
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                emu._dispatch(self, body)

            do_POST = _handle
            do_GET = _handle
            do_PUT = _handle

        return Handler

    def _dispatch(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        now = self.clock()
        parts = urlsplit(h.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in h.headers.items()}
        segments = [s for s in parts.path.split("/") if s]
        platform = segments[0] if segments else ""
        idem = headers.get("webhook-id") or headers.get(IDEMPOTENCY_HEADER.lower())
        robot_id: str | None = None
        acted = False
        try:
            route = {
                "dingtalk": self._dingtalk,
                "wecom": self._wecom,
                "feishu": self._feishu,
                "slack": self._slack,
                "webhook": self._standard,
            }.get(platform)
            if route is None:
                raise _Reply(404, "not found")
            robot_id, status, reply, extra = route(h.command, segments, query, headers, body, now)
            acted = True
        except _Reply as r:
            status, reply, extra = r.status, r.body, r.headers
        if acted and robot_id is not None:
            rb = self.robots[(platform, robot_id)]
            if rb.delay_s:
                time.sleep(rb.delay_s)  # the response is late, but the message was acted on
        data = reply.encode() if isinstance(reply, str) else json.dumps(reply, ensure_ascii=False).encode()
        with self._lock:
            if acted and robot_id is not None:
                self.robots[(platform, robot_id)].messages.append(json.loads(body))
                if idem:
                    self.acted[(f"{platform}/{robot_id}", idem)] += 1
            self.requests.append(
                Recorded(
                    platform,
                    robot_id,
                    h.command,
                    parts.path,
                    query,
                    headers,
                    body,
                    now,
                    status,
                    data,
                    acted,
                    idem,
                )
            )
        ctype = "text/plain" if isinstance(reply, str) else "application/json"
        try:
            h.send_response(status)
            h.send_header("Content-Type", f"{ctype}; charset=utf-8")
            h.send_header("Content-Length", str(len(data)))
            for k, v in extra.items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True  # the client gave up (timeout): like a real server, carry on

    def _robot(self, platform: str, ident: str | None, missing: _Reply) -> Robot:
        with self._lock:
            rb = self.robots.get((platform, ident or ""))
        if rb is None:
            raise missing
        return rb

    def _faults(self, rb: Robot, now: float, down: _Reply, busy: _Reply, broken: _Reply) -> None:
        if any(a <= now < b for a, b in rb.outages):
            raise down
        if rb.broken:
            raise broken
        with self._lock:
            fail = rb.failure_rate > 0 and self.rng.random() < rb.failure_rate
        if fail:
            raise busy

    def _rate(self, rb: Robot, now: float, reply: _Reply) -> None:
        with self._lock:
            ok = rb.rate_ok(now)
        if not ok:
            raise reply

    @staticmethod
    def _json(body: bytes, bad: _Reply) -> dict[str, Any]:
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise bad from None
        if not isinstance(data, dict):
            raise bad
        return data

    # DingTalk: always HTTP 200, the errcode tells.
    def _dingtalk(
        self, method: str, seg: list[str], q: dict[str, str], hd: dict[str, str], body: bytes, now: float
    ) -> tuple[str, int, Any, dict[str, str]]:
        def err(code: int, msg: str) -> _Reply:
            return _Reply(200, {"errcode": code, "errmsg": msg})

        down = _Reply(503, "<html>503 Service Temporarily Unavailable</html>")
        rb = self._robot("dingtalk", q.get("access_token"), err(300001, "token is not exist"))
        if any(a <= now < b for a, b in rb.outages):
            raise down
        if method != "POST":
            raise err(43002, "需要POST请求")
        if not hd.get("content-type", "").startswith("application/json"):
            raise err(43004, "无效的HTTP HEADER Content-Type")
        if rb.broken:
            raise err(400102, "robot stopped")
        if rb.secret is not None:
            ts, sign = q.get("timestamp", ""), q.get("sign", "")
            if not ts.isdigit() or abs(now * 1000 - int(ts)) > SIGN_WINDOW_MS:
                raise err(310000, "sign not match")
            if not hmac.compare_digest(dingtalk_sign(rb.secret, ts), sign):
                raise err(310000, "sign not match")
        payload = self._json(body, err(40035, "缺少参数 json"))
        if rb.keywords and not any(k in _dingtalk_text(payload) for k in rb.keywords):
            raise err(310000, "keywords not in content")
        self._faults(rb, now, down, err(-1, "系统繁忙"), err(400102, "robot stopped"))
        self._rate(rb, now, err(130101, "send too fast, exceed 20 times per minute"))
        if payload.get("msgtype") not in DINGTALK_MSGTYPES or not isinstance(
            payload.get(payload["msgtype"]), dict
        ):
            raise err(400105, "不支持的消息类型")
        if len(body) > 20000:
            raise err(460101, "message too long, exceed 20000 bytes")
        return rb.ident, 200, {"errcode": 0, "errmsg": "ok"}, {}

    def _wecom(
        self, method: str, seg: list[str], q: dict[str, str], hd: dict[str, str], body: bytes, now: float
    ) -> tuple[str, int, Any, dict[str, str]]:
        def err(code: int, msg: str) -> _Reply:
            return _Reply(200, {"errcode": code, "errmsg": msg})

        rb = self._robot("wecom", q.get("key"), err(93000, "invalid webhook url"))
        self._faults(
            rb, now, _Reply(502, "Bad Gateway"), err(-1, "system busy"), err(93000, "invalid webhook url")
        )
        payload = self._json(body, err(40058, "invalid Request Parameter"))
        self._rate(rb, now, err(45009, "api freq out of limit"))
        t = payload.get("msgtype")
        if t not in WECOM_MSGTYPES or not isinstance(payload.get(t), dict):
            raise err(40008, "invalid message type")
        part = payload[t]
        if t in WECOM_LIMITS:
            content = str(part.get("content", ""))
            if not content:
                raise err(44004, "empty content")
            if len(content.encode()) > WECOM_LIMITS[t]:
                raise err(40058, f"{t}.content exceed max length {WECOM_LIMITS[t]}")
        if t == "template_card" and "card_action" not in part:
            raise err(40058, "template_card.card_action missing")
        return rb.ident, 200, {"errcode": 0, "errmsg": "ok"}, {}

    def _feishu(
        self, method: str, seg: list[str], q: dict[str, str], hd: dict[str, str], body: bytes, now: float
    ) -> tuple[str, int, Any, dict[str, str]]:
        def err(code: int, msg: str) -> _Reply:
            return _Reply(200, {"code": code, "data": {}, "msg": msg})

        hook = seg[-1] if len(seg) >= 6 else None
        rb = self._robot("feishu", hook, err(19001, "param invalid: incoming webhook access token invalid"))
        self._faults(
            rb,
            now,
            _Reply(503, "Service Unavailable"),
            _Reply(500, "Internal Server Error"),
            err(19001, "param invalid: incoming webhook access token invalid"),
        )
        if len(body) > FEISHU_MAX_BODY:
            raise err(9499, "Bad Request: request body too large")
        payload = self._json(body, err(9499, "Bad Request"))
        if rb.secret is not None:
            ts, sign = str(payload.get("timestamp", "")), str(payload.get("sign", ""))
            if not ts.isdigit() or abs(now - int(ts)) > SIGN_WINDOW_MS / 1000:
                raise err(19021, "sign match fail or timestamp is not within one hour from current time")
            if not hmac.compare_digest(feishu_sign(rb.secret, ts), sign):
                raise err(19021, "sign match fail or timestamp is not within one hour from current time")
        if payload.get("msg_type") not in FEISHU_MSGTYPES:
            raise err(9499, "Bad Request")
        content = payload.get("card") if payload.get("msg_type") == "interactive" else payload.get("content")
        if content is None:
            raise err(9499, "Bad Request")
        if rb.keywords and not any(k in s for s in _strings(content) for k in rb.keywords):
            raise err(19024, "Key Words Not Found")
        self._rate(rb, now, err(11232, "frequency limited psm"))
        return (
            rb.ident,
            200,
            {"StatusCode": 0, "StatusMessage": "success", "code": 0, "msg": "success", "data": {}},
            {},
        )

    def _slack(
        self, method: str, seg: list[str], q: dict[str, str], hd: dict[str, str], body: bytes, now: float
    ) -> tuple[str, int, Any, dict[str, str]]:
        rb = self._robot("slack", "/".join(seg[2:]), _Reply(404, "no_service"))
        self._faults(
            rb,
            now,
            _Reply(503, "service_unavailable"),
            _Reply(500, "rollup_error"),
            _Reply(410, "channel_is_archived"),
        )
        payload = self._json(body, _Reply(400, "invalid_payload"))
        if not payload.get("text") and not payload.get("blocks"):
            raise _Reply(400, "no_text")
        if "blocks" in payload and (not isinstance(payload["blocks"], list) or len(payload["blocks"]) > 50):
            raise _Reply(400, "invalid_blocks")
        self._rate(rb, now, _Reply(429, "rate_limited", {"Retry-After": "1"}))
        return rb.ident, 200, "ok", {}

    def _standard(
        self, method: str, seg: list[str], q: dict[str, str], hd: dict[str, str], body: bytes, now: float
    ) -> tuple[str, int, Any, dict[str, str]]:
        rb = self._robot("webhook", seg[1] if len(seg) > 1 else None, _Reply(404, "not found"))
        self._faults(rb, now, _Reply(503, "unavailable"), _Reply(500, "internal error"), _Reply(410, "gone"))
        if rb.secrets:
            why = standard_webhooks_verify(rb.secrets, hd, body, now_s=now, tolerance_s=rb.tolerance_s)
            if why:
                raise _Reply(401, why)
        key = (f"webhook/{rb.ident}", hd.get("webhook-id", ""))
        with self._lock:
            seen = bool(key[1]) and self.acted.get(key, 0) > 0
            if seen:
                self.duplicates_received[key] += 1
        if seen:
            raise _Reply(200, {"status": "duplicate"})  # 2xx so the sender stops; not acted again
        self._json(body, _Reply(400, "invalid json"))
        return rb.ident, 200, {"status": "accepted"}, {}


def webhook_secret(seed: bytes = b"metricloop") -> str:
    """A deterministic ``whsec_`` secret for tests and the demo (32 bytes)."""
    return "whsec_" + base64.b64encode(hashlib.sha256(seed).digest()).decode()


def main(argv: list[str] | None = None) -> None:
    """``python -m metricloop.notify.emulator [--port 8025]``: one robot of each kind, until Ctrl-C."""
    import argparse

    parser = argparse.ArgumentParser(description="Loopback chat-robot / webhook receiver")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--failure-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    emu = RobotEmulator(port=args.port, seed=args.seed)
    fr = args.failure_rate
    secret = webhook_secret()
    urls = {
        "dingtalk (secret SECdemo, keyword 告警)": emu.dingtalk(
            "demo", secret="SECdemo", keywords=["告警"], failure_rate=fr
        ),
        "wecom": emu.wecom("demo", failure_rate=fr),
        "feishu (secret demo)": emu.feishu("demo", secret="demo", failure_rate=fr),
        "slack": emu.slack("T0/B0/demo", failure_rate=fr),
        f"webhook (secret {secret})": emu.webhook("demo", secrets=secret, failure_rate=fr),
    }
    for name, url in urls.items():
        print(f"{name}: {url}", flush=True)
    with emu:
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
