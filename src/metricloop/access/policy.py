"""Who may see which metric and which rows — pure functions over records, no IO.

*Metric permissions* (``MetricRule``): a metric is open to every signed-in user until someone
grants ``read`` on it; from then on only the granted users/teams/roles (and admins) see it.
A ``deny`` rule always wins. A metric computed from a hidden metric is hidden too, because its
value would reveal the hidden one.

*Row policies* (``PolicyRule``): "rows whose ``dimension`` is not among my ``attribute`` values
are not mine". They become filter expressions (``region in ('华东')``) that the query compiler
adds to every leaf aggregation, so a query, a drill-down, an explanation or an export all see
the same rows. A user without the attribute sees nothing (fail closed); the value ``*`` means
"all values". A metric that cannot be sliced by the policy's dimension is refused rather than
shown unfiltered.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from metricloop.access.roles import Role, allowed
from metricloop.catalog.catalog import Catalog, available_dimensions
from metricloop.engine.filters import quote
from metricloop.engine.query import MetricQuery
from metricloop.errors import MetricLoopError, PermissionDenied

ALL_VALUES = "*"


@dataclass(frozen=True)
class MetricRule:
    metric: str  # name or glob
    principal_type: str  # user | team | role
    principal: str
    access: str  # read | deny

    def matches_metric(self, name: str) -> bool:
        return fnmatch.fnmatchcase(name, self.metric)


@dataclass(frozen=True)
class PolicyRule:
    name: str
    dimension: str
    attribute: str
    applies_to_type: str = "all"  # all | role | team | user
    applies_to: str | None = None


@dataclass(frozen=True)
class Principal:
    """The acting user as every door and service sees it (built once per request)."""

    username: str
    role: Role
    user_id: int | None = None
    team: str | None = None
    display_name: str | None = None
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    rules: tuple[MetricRule, ...] = ()
    policies: tuple[PolicyRule, ...] = ()
    via: str = "system"  # session | token | system
    locale: str | None = None

    # ---------------------------------------------------------------- actions
    def can(self, action: str) -> bool:
        return allowed(self.role, action)

    def require(self, action: str) -> None:
        if not self.can(action):
            raise PermissionDenied(f"role '{self.role.value}' may not {action}",
                                   zh=f"角色 '{self.role.value}' 无权执行 {action}")

    # ---------------------------------------------------------------- metrics
    def _matches(self, rule: MetricRule) -> bool:
        return ((rule.principal_type == "user" and rule.principal == self.username)
                or (rule.principal_type == "team" and rule.principal == self.team)
                or (rule.principal_type == "role" and rule.principal == self.role.value))

    def can_read_metric(self, name: str) -> bool:
        """The metric itself (not its inputs): see :func:`readable` for the whole definition."""
        if self.role is Role.admin:
            return True
        relevant = [r for r in self.rules if r.matches_metric(name)]
        mine = [r for r in relevant if self._matches(r)]
        if any(r.access == "deny" for r in mine):
            return False
        restricted = any(r.access == "read" for r in relevant)
        return not restricted or any(r.access == "read" for r in mine)

    # ---------------------------------------------------------------- rows
    @property
    def unrestricted_rows(self) -> bool:
        """No row policy limits this user (admin, no policy applies, or '*' for every policy)."""
        return self.role is Role.admin or not self.policy_dimensions()

    def policy_dimensions(self) -> list[str]:
        """Dimensions this user's rows are limited by (none for admins and '*' values)."""
        if self.role is Role.admin:
            return []
        return sorted({p.dimension for p in self.policies if ALL_VALUES not in self.attributes.get(p.attribute, ())})

    def policy_filters(self) -> tuple[str, ...]:
        """Filter expressions in the documented filter language, one per applicable policy."""
        if self.role is Role.admin:
            return ()
        out: list[str] = []
        for p in self.policies:
            values = self.attributes.get(p.attribute, ())
            if ALL_VALUES in values:
                continue
            if not values:
                raise PermissionDenied(
                    f"row policy '{p.name}' limits data by your '{p.attribute}', which is not set for "
                    f"'{self.username}'; ask an administrator",
                    zh=f"行级策略 '{p.name}' 按 '{p.attribute}' 限制数据，但用户 '{self.username}' 未设置该属性，"
                       "请联系管理员")
            quoted = ", ".join(quote(v) for v in sorted(values))
            out.append(f"{p.dimension} in ({quoted})")
        return tuple(out)

    def sees_slice(self, slice_: Mapping[str, object]) -> bool:
        """Whether a stored record about ``slice_`` (e.g. an anomaly on region=华北) is visible.

        A record about the whole metric (no value for a policy dimension) is the total across
        every region, so a region-restricted user does not see it.
        """
        if self.role is Role.admin:
            return True
        for p in self.policies:
            values = self.attributes.get(p.attribute, ())
            if ALL_VALUES in values:
                continue
            if str(slice_.get(p.dimension)) not in values:
                return False
        return True


def applicable_policies(policies: Iterable[PolicyRule], *, username: str, role: str,
                        team: str | None) -> tuple[PolicyRule, ...]:
    out = []
    for p in policies:
        if (p.applies_to_type == "all"
                or (p.applies_to_type == "role" and p.applies_to == role)
                or (p.applies_to_type == "team" and p.applies_to == team)
                or (p.applies_to_type == "user" and p.applies_to == username)):
            out.append(p)
    return tuple(out)


def merge_attributes(team_attrs: Mapping[str, object] | None, user_attrs: Mapping[str, object] | None
                     ) -> dict[str, tuple[str, ...]]:
    """User attributes override the team's; every value becomes a tuple of strings."""
    merged: dict[str, tuple[str, ...]] = {}
    for source in (team_attrs or {}, user_attrs or {}):
        for key, value in source.items():
            items = value if isinstance(value, list | tuple) else [value]
            merged[key] = tuple(str(v) for v in items if v is not None)
    return merged


def readable(catalog: Catalog, principal: Principal, name: str, _seen: frozenset[str] = frozenset()) -> bool:
    """The metric and everything it is computed from are readable by ``principal``."""
    if not principal.can_read_metric(name):
        return False
    metric = catalog.metrics.get(name)
    if metric is None or name in _seen:
        return True
    return all(readable(catalog, principal, dep, _seen | {name}) for dep in catalog.inputs(metric))


def sees_record(catalog: Callable[[], Catalog], principal: Principal, metric: str,
                slice_: Mapping[str, object] | None) -> bool:
    """May ``principal`` see a stored record (anomaly, incident, case) about ``metric`` on ``slice_``?
    Its slice lies inside their rows and they may read the metric; when the catalog (``catalog()``)
    does not load, only admins see records. One rule for the read layer and the assistant."""
    if not principal.sees_slice(slice_ or {}):
        return False
    try:
        loaded = catalog()
    except MetricLoopError:
        return principal.can("users.manage")
    return readable(loaded, principal, metric)


def enforce(catalog: Catalog, principal: Principal, query: MetricQuery) -> tuple[str, ...]:
    """Check ``query`` against ``principal``; return the row filters to inject (raises PermissionDenied)."""
    principal.require("query")
    for name in query.metrics:
        if name in catalog.metrics and not readable(catalog, principal, name):
            raise PermissionDenied(f"you may not read metric '{name}'", zh=f"无权查看指标 '{name}'")
    filters = principal.policy_filters()
    dims = principal.policy_dimensions()
    if dims:
        for name in query.metrics:
            if name not in catalog.metrics:
                continue  # the compiler reports unknown metrics
            missing = [d for d in dims if d not in available_dimensions(catalog, catalog.metrics[name])]
            if missing:
                raise PermissionDenied(
                    f"metric '{name}' cannot be limited to your rows (it has no dimension "
                    f"{', '.join(missing)}), so it is not shown",
                    zh=f"指标 '{name}' 无法按 {', '.join(missing)} 限定到您的数据范围，因此不予显示")
    return filters
