"""Metric permissions and row policies as pure rules (no database)."""

from __future__ import annotations

import pytest

from metricloop.access.policy import MetricRule, PolicyRule, Principal, applicable_policies, merge_attributes
from metricloop.access.roles import Role, allowed
from metricloop.errors import PermissionDenied

REGION = PolicyRule("region", "region", "region")


def user(role: Role = Role.viewer, **kw: object) -> Principal:
    return Principal(username=str(kw.pop("username", "u")), role=role, **kw)  # type: ignore[arg-type]


def test_roles_grow_from_viewer_to_admin() -> None:
    assert allowed(Role.viewer, "query") and not allowed(Role.viewer, "export")
    assert allowed(Role.analyst, "export") and not allowed(Role.analyst, "catalog.write")
    assert allowed(Role.editor, "catalog.write") and not allowed(Role.editor, "users.manage")
    assert allowed(Role.admin, "users.manage") and allowed(Role.admin, "some.future.action")
    assert not allowed(Role.editor, "some.future.action")


def test_metrics_are_open_until_granted_and_deny_wins() -> None:
    rules = (MetricRule("payment_*", "team", "payment", "read"), MetricRule("gmv", "user", "bob", "deny"))
    payer = user(team="payment", rules=rules)
    other = user(team="trade", rules=rules)
    bob = user(username="bob", rules=rules)
    assert payer.can_read_metric("payment_success_rate")
    assert not other.can_read_metric("payment_success_rate")
    assert other.can_read_metric("orders")
    assert not bob.can_read_metric("gmv")
    assert user(Role.admin, username="bob", rules=rules).can_read_metric("gmv")


def test_row_filters_come_from_attributes_and_quote_values() -> None:
    east = user(attributes={"region": ("华东", "O'Brien")}, policies=(REGION,))
    assert east.policy_filters() == ("region in ('O''Brien', '华东')",)
    assert not east.unrestricted_rows
    everyone = user(attributes={"region": ("*",)}, policies=(REGION,))
    assert everyone.policy_filters() == ()
    assert everyone.unrestricted_rows
    assert user(Role.admin, policies=(REGION,)).policy_filters() == ()


def test_a_missing_attribute_sees_nothing() -> None:
    with pytest.raises(PermissionDenied, match="region"):
        user(policies=(REGION,)).policy_filters()


def test_stored_slices_follow_the_same_policy() -> None:
    east = user(attributes={"region": ("华东",)}, policies=(REGION,))
    assert east.sees_slice({"region": "华东", "channel": "app"})
    assert not east.sees_slice({"region": "华北"})
    assert not east.sees_slice({})  # the all-regions total is not east's
    assert user(attributes={"region": ("*",)}, policies=(REGION,)).sees_slice({})


def test_policies_apply_by_role_team_or_user() -> None:
    ps = [PolicyRule("a", "region", "region"), PolicyRule("b", "channel", "channel", "role", "viewer"),
          PolicyRule("c", "province", "province", "team", "east"), PolicyRule("d", "x", "x", "user", "zoe")]
    assert [p.name for p in applicable_policies(ps, username="zoe", role="viewer", team="east")] == ["a", "b", "c", "d"]
    assert [p.name for p in applicable_policies(ps, username="al", role="editor", team=None)] == ["a"]


def test_user_attributes_override_the_team() -> None:
    merged = merge_attributes({"region": ["华东"], "channel": "app"}, {"region": ["华北", "华南"]})
    assert merged == {"region": ("华北", "华南"), "channel": ("app",)}
