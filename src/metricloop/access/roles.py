"""Roles and the actions each may perform.

Roles are fixed and small so that anyone can read who may do what:

=========  ==========================================================================
viewer     read the catalog, query metrics (row policies apply), read incidents
owner      viewer + explain, label anomalies, act on incidents, write reviews
analyst    owner + export data, edit monitors
editor     analyst + create/update metric definitions, run loads, see and test-send channels
admin      everything: users, teams, permissions, policies, audit log, run the loop; no row policy
=========  ==========================================================================

Stages add their actions here (one string each) rather than inventing role checks of their own.
"""

from __future__ import annotations

from enum import StrEnum

from metricloop.i18n import Text


class Role(StrEnum):
    admin = "admin"
    editor = "editor"
    owner = "owner"
    analyst = "analyst"
    viewer = "viewer"


class Action(StrEnum):
    catalog_read = "catalog.read"
    catalog_write = "catalog.write"
    query = "query"
    export = "export"
    explain = "explain"
    ingest_read = "ingest.read"
    ingest_run = "ingest.run"
    anomaly_label = "anomaly.label"
    incident_read = "incident.read"
    incident_act = "incident.act"
    review_write = "review.write"
    monitor_write = "monitor.write"
    channel_test = "channel.test"  # also: list channels (without secrets), see the outbox
    loop_run = "loop.run"  # run a loop pass on demand (admins only)
    users_manage = "users.manage"
    audit_read = "audit.read"


_VIEWER = frozenset({Action.catalog_read, Action.query, Action.incident_read, Action.ingest_read})
_OWNER = _VIEWER | {Action.explain, Action.anomaly_label, Action.incident_act, Action.review_write}
_ANALYST = _OWNER | {Action.export, Action.monitor_write}
_EDITOR = _ANALYST | {Action.catalog_write, Action.ingest_run, Action.channel_test}

ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.viewer: _VIEWER,
    Role.owner: _OWNER,
    Role.analyst: _ANALYST,
    Role.editor: _EDITOR,
    Role.admin: frozenset(Action),
}

ROLE_LABELS: dict[Role, Text] = {
    Role.admin: Text(en="Administrator", zh="管理员"),
    Role.editor: Text(en="Editor", zh="编辑"),
    Role.owner: Text(en="Metric owner", zh="指标负责人"),
    Role.analyst: Text(en="Analyst", zh="分析师"),
    Role.viewer: Text(en="Viewer", zh="只读用户"),
}


def allowed(role: Role, action: str) -> bool:
    """Whether ``role`` may perform ``action`` (unknown actions are allowed to admins only)."""
    if role is Role.admin:
        return True
    try:
        return Action(action) in ROLE_ACTIONS[role]
    except ValueError:
        return False
