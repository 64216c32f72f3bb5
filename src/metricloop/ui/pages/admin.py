"""Administration: users, their roles and data scope; row policies; what each role may do."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from metricloop.access.roles import ROLE_ACTIONS, Role
from metricloop.access.service import UserInfo
from metricloop.errors import MetricLoopError
from metricloop.ui.data import local_time
from metricloop.ui.layout import PageContext, page, section_title


def parse_scope(text: str) -> dict[str, list[str]]:
    """``region=华东,华南; channel=app`` → ``{"region": ["华东", "华南"], "channel": ["app"]}``."""
    out: dict[str, list[str]] = {}
    for part in text.replace("；", ";").split(";"):
        if not part.strip():
            continue
        key, _, values = part.partition("=")
        out[key.strip()] = [v.strip() for v in values.replace("，", ",").split(",") if v.strip()]
    return out


def scope_text(attributes: dict[str, Any]) -> str:
    return "; ".join(f"{k}={','.join(map(str, v if isinstance(v, list) else [v]))}" for k, v in attributes.items())


def _row(ctx: PageContext, u: UserInfo) -> dict[str, Any]:
    return {"username": u.username, "display_name": u.display_name or "", "role": ctx.t(f"role_{u.role}"),
            "role_key": u.role, "team": u.team or "", "scope": scope_text(u.attributes),
            "active": "✓" if u.active else "✗",
            "last_login": local_time(ctx.ml, u.last_login_at) if u.last_login_at else ""}


@page("/admin", nav="admin", action="users.manage")
def admin(ctx: PageContext) -> None:
    section_title(ctx.t("admin_title"))
    roles = {r.value: ctx.t(f"role_{r.value}") for r in Role}
    cols = [{"name": k, "label": ctx.t(lbl), "field": k, "align": "left"} for k, lbl in (
        ("username", "username"), ("display_name", "display_name"), ("role", "role"), ("team", "team"),
        ("scope", "attributes"), ("active", "active"), ("last_login", "last_login"))]
    table = ui.table(columns=cols, rows=[], row_key="username").props('flat bordered data-testid="user-table"') \
        .classes("w-full cursor-pointer")

    def refresh() -> None:
        table.rows = [_row(ctx, u) for u in ctx.ml.access.users()]
        table.update()

    def save(username: str | None, fields: dict[str, Any], dialog: ui.dialog) -> None:
        try:
            scope = parse_scope(fields["scope"].value or "")
            if username is None:
                ctx.ml.access.create_user(fields["username"].value.strip(), role=fields["role"].value,
                                          password=fields["password"].value or None,
                                          display_name=fields["display_name"].value or None,
                                          attributes=scope, actor=ctx.principal.username)
                ui.notify(ctx.t("user_created", user=fields["username"].value), type="positive")
            else:
                ctx.ml.access.update_user(username, role=fields["role"].value,
                                          password=fields["password"].value or None,
                                          display_name=fields["display_name"].value or None,
                                          attributes=scope, active=fields["active"].value,
                                          actor=ctx.principal.username)
        except MetricLoopError as exc:
            ui.notify(exc.localized(ctx.locale), type="negative")
            return
        dialog.close()
        refresh()

    def edit(existing: dict[str, Any] | None) -> None:
        with ui.dialog() as dialog, ui.card().classes("w-[420px]"):
            ui.label(ctx.t("add_user") if existing is None else existing["username"]).classes("text-lg font-semibold")
            fields: dict[str, Any] = {}
            if existing is None:
                fields["username"] = ui.input(ctx.t("username")).classes("w-full")
            fields["display_name"] = ui.input(ctx.t("display_name"),
                                              value=existing["display_name"] if existing else "").classes("w-full")
            fields["role"] = ui.select(roles, value=existing["role_key"] if existing else "viewer",
                                       label=ctx.t("role")).classes("w-full")
            fields["scope"] = ui.input(ctx.t("attributes"), value=existing["scope"] if existing else "",
                                       placeholder=ctx.t("region_scope_hint")).classes("w-full")
            fields["password"] = ui.input(ctx.t("password"), password=True, password_toggle_button=True) \
                .classes("w-full")
            if existing is not None:
                fields["active"] = ui.switch(ctx.t("active"), value=existing["active"] == "✓")
            with ui.row().classes("w-full justify-end"):
                ui.button(ctx.t("cancel"), on_click=dialog.close).props("flat")
                ui.button(ctx.t("save"), on_click=lambda: save(existing["username"] if existing else None,
                                                               fields, dialog))
        dialog.open()

    ui.button(ctx.t("add_user"), icon="person_add", on_click=lambda: edit(None))
    table.on("rowClick", lambda e: edit(e.args[1]))
    refresh()

    with ui.row().classes("w-full gap-4 items-start"):
        with ui.card().classes("grow"):
            ui.label(ctx.t("row_policies")).classes("font-semibold")
            policies = ctx.ml.access.policies()
            if not policies:
                ui.label("–")
            for p in policies:
                who = p.applies_to_type if p.applies_to_type == "all" else f"{p.applies_to_type}={p.applies_to}"
                ui.label(f"{p.name}: {ctx.t('policy_desc', dimension=p.dimension, attribute=p.attribute)} ({who})") \
                    .classes("text-sm")
        with ui.card().classes("grow"):
            ui.label(ctx.t("role")).classes("font-semibold")
            for r in Role:
                acts = "*" if r is Role.admin else ", ".join(sorted(str(a) for a in ROLE_ACTIONS[r]))
                ui.label(f"{ctx.t(f'role_{r.value}')} ({r.value}): {acts}").classes("text-sm")
