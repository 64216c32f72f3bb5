"""Every message reaches a flaky receiver exactly once: 1,000 alerts (25 incidents, their openings,
escalations and deadline reminders) go to a real Standard Webhooks receiver on 127.0.0.1 that
fails 30 % of requests and is down for ten minutes of the loop's clock. After recovery the
receiver has acknowledged (2xx) every outbox message, each id once; nothing is pending or dead.

The history is replayed by a real ``metricloop run --backfill-from`` process (messages queued);
the outage is met by the loop's passes (``loop.run_pass``, what ``metricloop run --at`` runs) every
two minutes of its clock, the recovery by the scheduled jobs' work (``workflow.timers``,
``outbox.dispatch``) at advancing times, so the outage and the backoff take simulated minutes
and hours, not real ones.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa

from metricloop.notify.signing import standard_webhooks_verify
from tests.reliability.project import AT, FLOOD_DROPS, WEBHOOK_SECRET, backfill_args, run, write_project

FAILURE_RATE = 0.3
OUTAGE = dt.timedelta(minutes=10)


class Receiver:
    """A Standard Webhooks endpoint: verifies signatures, fails a seeded 30 %, can be down."""

    def __init__(self) -> None:
        self.rng = random.Random(14)
        self.down = False
        self.requests = 0
        self.failed = 0
        self.ok: list[str] = []  # webhook-id of every request answered 2xx
        self.rejected: list[str] = []  # bad signatures (must stay empty)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                import time

                why = standard_webhooks_verify(WEBHOOK_SECRET, headers, body, now_s=time.time())
                with receiver.lock:
                    receiver.requests += 1
                    if why is not None:
                        receiver.rejected.append(why)
                        status = 401
                    elif receiver.down or receiver.rng.random() < FAILURE_RATE:
                        receiver.failed += 1
                        status = 503
                    else:
                        receiver.ok.append(headers.get("webhook-id", ""))
                        status = 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.mark.slow
def test_thousand_alerts_through_a_flaky_receiver_and_an_outage_arrive_exactly_once(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from metricloop import loop
    from metricloop.service import MetricLoop

    root = write_project(tmp_path / "flood", flood=True)
    webhook = {"ML_WEBHOOK_URL": receiver.url}
    run(root, *backfill_args("--no-notify"), extra_env=webhook)  # history: 1,000 alerts, messages queued

    monkeypatch.setenv("ML_WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("ML_WEBHOOK_SECRET", WEBHOOK_SECRET)
    ml = MetricLoop.open(root)
    try:
        with ml.store.session() as s:
            alerts = s.scalar(sa.text("select count(*) from wf_alerts"))
            expected = set(s.scalars(sa.text("select id from notify_outbox")))
        assert alerts == len(FLOOD_DROPS) == 1000 and len(expected) > 25

        receiver.down = True  # ten minutes of outage by the loop's clock: a loop pass, then the
        assert loop.run_pass(ml, AT, explain=False).messages_sent == 0  # jobs every two minutes
        t = AT + dt.timedelta(minutes=2)
        while t < AT + OUTAGE:
            ml.workflow.tick(now=t)
            assert ml.workflow.dispatch(now=t).delivered == 0
            t += dt.timedelta(minutes=2)
        assert receiver.requests > 0 and not receiver.ok
        receiver.down = False

        passes = 0  # then the minute-ly jobs (workflow.timers, outbox.dispatch) at the loop's clock,
        while _pending(ml) and passes < 500:  # jumping over the minutes where no retry is due
            ml.workflow.tick(now=t)
            ml.workflow.dispatch(now=t)
            passes += 1
            nxt = _next_retry(ml)
            t = max(t + dt.timedelta(minutes=1), nxt or t)
        with ml.store.session() as s:
            status = dict(s.execute(sa.text("select status, count(*) from notify_outbox group by status")).all())
            expected = set(s.scalars(sa.text("select id from notify_outbox")))  # deadlines fired since, too
    finally:
        ml.close()

    assert not receiver.rejected, receiver.rejected[:3]
    assert status == {"delivered": len(expected)}, status  # 0 pending, 0 dead
    twice = [i for i, n in Counter(receiver.ok).items() if n > 1]
    assert not twice, f"delivered more than once: {twice[:5]}"
    assert set(receiver.ok) == expected  # 0 lost
    assert receiver.failed >= 0.2 * receiver.requests  # the faults really happened


def _pending(ml: object) -> int:
    with ml.store.session() as s:  # type: ignore[attr-defined]
        return int(s.scalar(sa.text("select count(*) from notify_outbox where status = 'pending'")) or 0)


def _next_retry(ml: object) -> dt.datetime | None:
    with ml.store.session() as s:  # type: ignore[attr-defined]
        t = s.scalar(sa.text("select min(next_attempt_at) from notify_outbox where status = 'pending'"))
    if t is None:
        return None
    t = t if isinstance(t, dt.datetime) else dt.datetime.fromisoformat(str(t))
    return t.replace(tzinfo=None)  # UTC, and the project's timezone is UTC
