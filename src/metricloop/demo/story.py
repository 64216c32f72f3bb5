"""The demo's story: the people's part, played on the demo company after the loop has replayed history.

Owners acknowledge, fix, verify and write reviews with the times they would have, so the case
library and loop-health figures exist from the first minute. Moved out of :mod:`metricloop.loop`
(issue 17) so the loop carries only the loop; ``metricloop demo`` calls :func:`demo_history`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import TYPE_CHECKING, Any

from metricloop.catalog.models import Grain
from metricloop.engine.compiler import shift_by
from metricloop.errors import MetricLoopError
from metricloop.loop import Progress, backfill

if TYPE_CHECKING:
    from metricloop.service import MetricLoop

log = logging.getLogger("metricloop.loop")  # the logger these messages always had


def _truth(ml: MetricLoop) -> list[dict[str, Any]]:
    path = ml.project.root / "data" / "ground_truth.json"
    if not path.exists():
        return []
    return list(json.loads(path.read_text(encoding="utf-8")).get("incidents", []))


def _overlaps(inc: dict[str, Any], truth: dict[str, Any], tz: dt.tzinfo) -> bool:
    t0, t1 = (dt.datetime.fromisoformat(truth[k]) for k in ("start", "end"))
    w0, w1 = inc["window_start"], inc["window_end"]
    if isinstance(w0, dt.datetime) and w0.tzinfo is not None:
        w0, w1 = w0.astimezone(tz).replace(tzinfo=None), w1.astimezone(tz).replace(tzinfo=None)
    if isinstance(w1, dt.datetime) and w0.time() == w1.time() == dt.time(0):
        w1 += dt.timedelta(days=1)  # a daily window's end is the start of its last day: cover that day
    return bool(w0 <= t1 + dt.timedelta(days=1) and w1 >= t0 - dt.timedelta(hours=1))


def demo_story(ml: MetricLoop, *, progress: Progress | None = None) -> dict[str, int]:
    """Owners answer the demo's incidents: ack, act, verify, review — with the times they would have.

    Incidents that match an injected cause (ground truth) are worked through to a completed
    review whose root cause is the injected one; the others are triaged as false positives,
    except the most recent few, left open for the board.
    """
    step = progress or (lambda _s, _f: None)
    tz = ml.project.tz
    truth = _truth(ml)
    incidents = sorted(ml.workflow.list_incidents(), key=lambda i: i["window_start"])
    done = {"acknowledged": 0, "false_positive": 0, "reviewed": 0, "open": 0}
    keep_open = {i["number"] for i in incidents[-4:]}
    for n, inc in enumerate(incidents):
        step("owners working the incidents", n / max(len(incidents), 1))
        ref, owner = inc["id"], inc.get("owner") or "li.na"
        t = inc["triggered_at"]
        t = t.astimezone(tz).replace(tzinfo=None) if isinstance(t, dt.datetime) and t.tzinfo else t
        if inc["number"] in keep_open or inc["status"] != "triggered":
            done["open"] += 1
            continue
        match = next((g for g in truth if _overlaps(inc, g, tz)), None)
        try:
            ml.workflow.act(ref, "ack", actor=owner, now=t + dt.timedelta(minutes=12 + 7 * (n % 5)))
            done["acknowledged"] += 1
            if match is None:
                ml.workflow.act(
                    ref,
                    "false_positive",
                    actor=owner,
                    now=t + dt.timedelta(minutes=40),
                    comment="季节性波动，非故障 / seasonal swing, not a fault",
                )
                done["false_positive"] += 1
                continue
            desc = match.get("description", {})
            ml.workflow.act(ref, "investigate", actor=owner, now=t + dt.timedelta(minutes=30))
            fixed_at = dt.datetime.fromisoformat(match["end"])
            action = ml.workflow.add_action(
                ref,
                f"修复：{desc.get('zh-CN', match['kind'])}",
                actor=owner,
                due=t + dt.timedelta(days=1),
                now=t + dt.timedelta(minutes=45),
                expected_effect="指标恢复到上周同期水平 / back to last week's level",
            )
            ml.workflow.update_action(
                action["id"],
                actor=owner,
                status="done",
                effective_at=fixed_at,
                now=max(fixed_at, t + dt.timedelta(hours=1)),
            )
            ml.workflow.act(ref, "mitigate", actor=owner, now=max(fixed_at, t + dt.timedelta(hours=1)))
            resolved_at = max(fixed_at, t + dt.timedelta(hours=1)) + dt.timedelta(hours=2)
            ml.workflow.act(
                ref,
                "resolve",
                actor=owner,
                now=resolved_at,
                comment=f"已修复：{desc.get('zh-CN', '')} / fixed: {desc.get('en', '')}",
            )
            ml.review.verify_from_data(ref, effective_at=fixed_at, action_id=action["id"], actor=owner,
                                       now=resolved_at + dt.timedelta(hours=20))
            review_at = resolved_at + dt.timedelta(days=1)
            ml.review.edit(
                ref, "summary", f"{desc.get('zh-CN', '')}\n\n{desc.get('en', '')}", actor=owner, now=review_at
            )
            ml.review.edit(
                ref,
                "root_cause",
                f"{match['kind']}: {desc.get('zh-CN', '')} / {desc.get('en', '')}",
                actor=owner,
                now=review_at,
            )
            ml.review.edit(
                ref,
                "lessons",
                "为该切片增加独立监控与降级预案；在发布和变更前检查支付/物流依赖。\n"
                "Add a dedicated monitor and a fallback plan for this slice; check payment and "
                "logistics dependencies before releases.",
                actor=owner,
                now=review_at,
            )
            ml.review.complete(ref, actor=owner, now=review_at + dt.timedelta(minutes=30))
            done["reviewed"] += 1
        except MetricLoopError as exc:
            log.warning("demo story: %s: %s", ref, exc)
    step("done", 1.0)
    return done


def demo_history(ml: MetricLoop, *, months: int = 6, progress: Progress | None = None) -> dict[str, Any]:
    """The demo's replay: the last ``months`` of history through the loop, then the people's part."""
    step = progress or (lambda _s, _f: None)
    truth_file = ml.project.root / "data" / "ground_truth.json"
    end = (
        dt.datetime.fromisoformat(json.loads(truth_file.read_text(encoding="utf-8"))["generator"]["end"])
        if truth_file.exists()
        else dt.datetime.now().replace(minute=0, second=0, microsecond=0)
    )
    start = shift_by(end, -months, Grain.month)
    summary = backfill(ml, start, end, progress=lambda s, f: step(s, 0.8 * f))
    story = demo_story(ml, progress=lambda s, f: step(s, 0.8 + 0.2 * f))
    return {"pass": summary.to_dict(), "story": story}
