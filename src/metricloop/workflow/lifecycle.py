"""The incident lifecycle as declared transition rules (pure: no IO, no clock).

    triggered → acknowledged → investigating → mitigated → verifying → closed
              ↘ false_positive, duplicate (from any open state)

An incident changes state ONLY through :func:`transition`, which looks the action up in
:data:`RULES`; anything else is a :class:`ConflictError` naming the actions that are allowed.
Rules also say what an action requires (a comment, a duplicate target) so the doors (CLI, API,
chat links) cannot skip it.
"""

from __future__ import annotations

from dataclasses import dataclass

from metricloop.errors import ConflictError
from metricloop.i18n import Text

STATES = (
    "triggered",
    "acknowledged",
    "investigating",
    "mitigated",
    "verifying",
    "closed",
    "false_positive",
    "duplicate",
)
OPEN_STATES = ("triggered", "acknowledged", "investigating", "mitigated", "verifying")
TERMINAL_STATES = ("closed", "false_positive", "duplicate")

STATE_LABELS = {
    "triggered": Text(en="triggered", zh="已触发"),
    "acknowledged": Text(en="acknowledged", zh="已确认"),
    "investigating": Text(en="investigating", zh="排查中"),
    "mitigated": Text(en="mitigated", zh="已止损"),
    "verifying": Text(en="verifying", zh="效果验证中"),
    "closed": Text(en="closed", zh="已关闭"),
    "false_positive": Text(en="false positive", zh="误报"),
    "duplicate": Text(en="duplicate", zh="重复"),
}


@dataclass(frozen=True)
class Rule:
    """``action`` moves an incident from any of ``sources`` to ``target``."""

    action: str
    sources: tuple[str, ...]
    target: str
    label: Text
    needs_comment: bool = False
    needs_duplicate_of: bool = False


RULES: tuple[Rule, ...] = (
    Rule("ack", ("triggered",), "acknowledged", Text(en="acknowledge", zh="确认")),
    Rule("investigate", ("triggered", "acknowledged"), "investigating", Text(en="start investigating", zh="开始排查")),
    Rule("mitigate", ("acknowledged", "investigating"), "mitigated", Text(en="mark mitigated", zh="标记已止损")),
    # resolve = the fix is in; the effect is verified before the incident is closed
    Rule(
        "resolve",
        ("acknowledged", "investigating", "mitigated"),
        "verifying",
        Text(en="resolve", zh="标记解决"),
        needs_comment=True,
    ),
    Rule("close", ("verifying",), "closed", Text(en="close", zh="关闭")),
    Rule("reopen", ("mitigated", "verifying"), "investigating", Text(en="reopen", zh="重新打开")),
    # the ack timed out with no progress: back to triggered (PagerDuty's acknowledgement_timeout)
    Rule("retrigger", ("acknowledged",), "triggered", Text(en="re-trigger", zh="重新触发")),
    Rule(
        "false_positive",
        ("triggered", "acknowledged", "investigating"),
        "false_positive",
        Text(en="mark false positive", zh="标记误报"),
        needs_comment=True,
    ),
    Rule(
        "duplicate",
        OPEN_STATES,
        "duplicate",
        Text(en="mark duplicate", zh="标记重复"),
        needs_duplicate_of=True,
    ),
)
RULES_BY_ACTION = {r.action: r for r in RULES}
ACTIONS = tuple(RULES_BY_ACTION)


def allowed_actions(state: str) -> list[str]:
    """Actions that are legal from ``state`` (what a UI shows as buttons)."""
    return [r.action for r in RULES if state in r.sources]


def transition(state: str, action: str, *, comment: str | None = None, duplicate_of: int | None = None) -> str:
    """The state after ``action``, or :class:`ConflictError` explaining why it is not allowed."""
    rule = RULES_BY_ACTION.get(action)
    if rule is None:
        raise ConflictError(
            f"unknown action {action!r}; actions: {', '.join(ACTIONS)}",
            zh=f"未知操作 {action!r}；可用操作：{', '.join(ACTIONS)}",
        )
    if state not in rule.sources:
        allowed = ", ".join(allowed_actions(state)) or "none"
        raise ConflictError(
            f"cannot {action} an incident that is {state} (allowed: {allowed})",
            zh=f"事件当前为「{STATE_LABELS[state].zh}」，不能执行「{rule.label.zh}」（可执行：{allowed}）",
        )
    if rule.needs_comment and not (comment and comment.strip()):
        raise ConflictError(
            f"{action} needs a comment (what was done / why)",
            zh=f"「{rule.label.zh}」需要填写说明（做了什么 / 为什么）",
        )
    if rule.needs_duplicate_of and duplicate_of is None:
        raise ConflictError(
            "duplicate needs the id of the incident it duplicates", zh="标记重复需要指定被重复的事件编号"
        )
    return rule.target
