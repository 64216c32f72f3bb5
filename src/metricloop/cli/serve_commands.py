"""``metricloop serve``, ``metricloop users ...`` and ``metricloop demo``.

Thin: parse options, call the facade / access service, print. The demo's preparation steps are
a list (``DEMO_STEPS``) so later stages add "backfill history" and "run the loop" as one entry
each.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from metricloop.cli.commands import Fmt, FormatOpt, ProjectOpt, gate_project, locale_of, open_project
from metricloop.cli.main import app
from metricloop.cli.render import console, emit, err_console
from metricloop.errors import ConfigError
from metricloop.i18n import Text

if TYPE_CHECKING:
    from metricloop.service import MetricLoop

HostOpt = Annotated[str, typer.Option("--host", help="Interface to listen on.")]
PortOpt = Annotated[int, typer.Option("--port", help="Port to listen on.")]


# ---------------------------------------------------------------------------------- serve
@app.command()
def serve(
    project: ProjectOpt = None,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    worker: Annotated[bool, typer.Option("--worker", help="Run scheduled jobs only (no HTTP); start several "
                                         "with a PostgreSQL state store to share the work.")] = False,
    no_scheduler: Annotated[bool, typer.Option("--no-scheduler", help="Serve HTTP only (jobs run elsewhere).")] = False,
    no_ui: Annotated[bool, typer.Option("--no-ui", help="Serve the API without the web UI.")] = False,
    demo_receivers: Annotated[bool, typer.Option(
        "--demo-receivers", help="Start the local chat-robot and mail receivers the demo's channels point at "
        "(sets the ML_* variables for this process), as `metricloop demo` does.")] = False,
    forwarded_allow_ips: Annotated[str | None, typer.Option(
        "--forwarded-allow-ips", envvar="FORWARDED_ALLOW_IPS",
        help="Behind a TLS proxy: the proxy addresses (comma-separated, '*' = any) whose X-Forwarded-For/-Proto "
        "are trusted, so sign-in cookies get 'Secure' and throttling sees the browser's address. "
        "Default: none (the headers are ignored).")] = None,
) -> None:
    """API + web UI + scheduler in one process (or only the scheduler with --worker)."""
    from metricloop.logs import install as redact_logs

    redact_logs()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if demo_receivers:
        start_demo_receivers()
    gate_project(project)  # refuse to serve an invalid project
    ml = open_project(project)
    if demo_receivers:
        console.print(RECEIVERS_STARTED.render(locale_of(ml)))
    if worker:
        run_worker(ml)
        return
    serve_http(ml, host, port, scheduler=not no_scheduler, ui=not no_ui, forwarded_allow_ips=forwarded_allow_ips)


def run_worker(ml: MetricLoop) -> None:
    """The scheduler in the foreground until SIGINT/SIGTERM."""
    from metricloop.scheduler.runner import Scheduler

    sched = Scheduler(ml)
    signal.signal(signal.SIGTERM, lambda *_: sched.request_stop())
    signal.signal(signal.SIGINT, lambda *_: sched.request_stop())
    err_console.print(f"worker {sched.worker}: running scheduled jobs (Ctrl+C to stop)")
    sched.run_forever()


def serve_http(ml: MetricLoop, host: str, port: int, *, scheduler: bool = True, ui: bool = True,
               forwarded_allow_ips: str | None = None) -> None:
    """Serve until SIGINT/SIGTERM. Proxy headers are trusted only from ``forwarded_allow_ips``."""
    import uvicorn

    from metricloop.api import create_app
    from metricloop.api.guards import max_body_bytes
    from metricloop.logs import install as redact_logs
    from metricloop.scheduler.runner import Scheduler

    redact_logs()
    max_body_bytes()  # a bad METRICLOOP_MAX_BODY_BYTES fails here, before the port opens
    application = create_app(ml, ui=ui, scheduler=Scheduler(ml) if scheduler else None)
    console.print(f"MetricLoop on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    trusted = (forwarded_allow_ips or "").strip()
    uvicorn.run(application, host=host, port=port, log_level="info", proxy_headers=bool(trusted),
                forwarded_allow_ips=trusted or None)


# ---------------------------------------------------------------------------------- users
users_app = typer.Typer(help="Users, teams, API tokens, metric permissions and row policies.", no_args_is_help=True)
app.add_typer(users_app, name="users")


def _attrs(values: list[str] | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--attr {item!r} must look like key=value (e.g. region=华东)",
                              zh=f"--attr {item!r} 格式应为 key=value（如 region=华东）")
        out.setdefault(key.strip(), []).extend(v.strip() for v in value.split(",") if v.strip())
    return out


AttrOpt = Annotated[list[str] | None, typer.Option("--attr", help="Data-scope attribute key=value[,value]; "
                                                    "repeatable, e.g. --attr region=华东.")]


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Login name, e.g. wang.fang.")],
    role: Annotated[str, typer.Option(help="admin | editor | owner | analyst | viewer")] = "viewer",
    password: Annotated[str | None, typer.Option(help="Password (default: a generated one, printed once).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Display name, e.g. 王芳.")] = None,
    email: Annotated[str | None, typer.Option(help="E-mail address.")] = None,
    team: Annotated[str | None, typer.Option(help="Team (create it with 'users team-add').")] = None,
    attr: AttrOpt = None,
    no_password: Annotated[bool, typer.Option("--no-password", help="Token-only account (scripts).")] = False,
    project: ProjectOpt = None,
) -> None:
    """Create a user; prints the generated password once."""
    from metricloop.access.crypto import generate_password

    ml = open_project(project)
    pw = None if no_password else (password or generate_password())
    ml.access.create_user(username, role=role, password=pw, display_name=name, email=email, team=team,
                          attributes=_attrs(attr), actor=_actor())
    console.print(f"[green]user {username} created[/] ({role})")
    if pw and not password:
        console.print(f"password (shown once): [bold]{pw}[/]")


@users_app.command("set")
def users_set(
    username: Annotated[str, typer.Argument()],
    role: Annotated[str | None, typer.Option(help="New role.")] = None,
    password: Annotated[str | None, typer.Option(help="New password.")] = None,
    reset_password: Annotated[bool, typer.Option("--reset-password", help="Generate a new password.")] = False,
    team: Annotated[str | None, typer.Option(help="New team.")] = None,
    attr: AttrOpt = None,
    active: Annotated[bool | None, typer.Option("--active/--disabled", help="Enable or disable the user.")] = None,
    project: ProjectOpt = None,
) -> None:
    """Change a user's role, password, team, data scope or status."""
    from metricloop.access.crypto import generate_password

    ml = open_project(project)
    pw = generate_password() if reset_password else password
    ml.access.update_user(username, role=role, password=pw, team=team,
                          attributes=_attrs(attr) if attr else None, active=active, actor=_actor())
    console.print(f"[green]user {username} updated[/]")
    if reset_password:
        console.print(f"password (shown once): [bold]{pw}[/]")


@users_app.command("list")
def users_list(project: ProjectOpt = None, fmt: FormatOpt = Fmt.table) -> None:
    """Users with their role, team, data scope and last sign-in."""
    ml = open_project(project)
    rows = [{"username": u.username, "name": u.display_name or "", "role": u.role, "team": u.team or "",
             "scope": "; ".join(f"{k}={','.join(v)}" for k, v in u.attributes.items()), "active": u.active,
             "last_login": u.last_login_at} for u in ml.access.users()]
    emit(rows, fmt.value, title="users 用户", columns=["username", "name", "role", "team", "scope", "active",
                                                       "last_login"])


@users_app.command("token")
def users_token(
    username: Annotated[str, typer.Argument(help="Whose token.")],
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "cli",
    days: Annotated[int | None, typer.Option(help="Expire after N days.")] = None,
    project: ProjectOpt = None,
) -> None:
    """Create an API token (printed once; use it as 'Authorization: Bearer <token>')."""
    ml = open_project(project)
    token, info = ml.access.create_token(username, name, days=days, actor=_actor())
    err_console.print(f"token {info.id} for {username} ({name}); shown once:")
    print(token)


@users_app.command("team-add")
def users_team_add(
    name: Annotated[str, typer.Argument()],
    label: Annotated[str | None, typer.Option(help="Display name, e.g. 华东大区.")] = None,
    attr: AttrOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Create a team; its attributes (data scope) apply to all members."""
    ml = open_project(project)
    ml.access.create_team(name, label={"zh-CN": label, "en": label} if label else None, attributes=_attrs(attr),
                          actor=_actor())
    console.print(f"[green]team {name} created[/]")


@users_app.command("policy-add")
def users_policy_add(
    name: Annotated[str, typer.Argument(help="Policy name, e.g. region.")],
    dimension: Annotated[str, typer.Option(help="Dimension to limit, e.g. region.")],
    attribute: Annotated[str | None, typer.Option(help="User attribute with the allowed values "
                                                  "(default: same as the dimension).")] = None,
    role: Annotated[str | None, typer.Option(help="Only for this role.")] = None,
    team: Annotated[str | None, typer.Option(help="Only for this team.")] = None,
    project: ProjectOpt = None,
) -> None:
    """Add a row-level policy: users see only rows whose DIMENSION is among their ATTRIBUTE values."""
    ml = open_project(project)
    kind, target = ("role", role) if role else ("team", team) if team else ("all", None)
    ml.access.add_policy(name, dimension, attribute or dimension, applies_to_type=kind, applies_to=target,
                         actor=_actor())
    console.print(f"[green]row policy {name}[/]: {dimension} limited to each user's '{attribute or dimension}'")


@users_app.command("policies")
def users_policies(project: ProjectOpt = None, fmt: FormatOpt = Fmt.table) -> None:
    """Row-level policies and metric permissions."""
    ml = open_project(project)
    rows: list[dict[str, Any]] = [{"kind": "row policy", "name": p.name, "rule": f"{p.dimension} ∈ user.{p.attribute}",
                                   "applies_to": p.applies_to or p.applies_to_type} for p in ml.access.policies()]
    rows += [{"kind": f"metric {p.access}", "name": p.metric, "rule": f"{p.principal_type}={p.principal}",
              "applies_to": p.principal} for p in ml.access.permissions()]
    emit(rows, fmt.value, columns=["kind", "name", "rule", "applies_to"])


@users_app.command("grant")
def users_grant(
    metric: Annotated[str, typer.Argument(help="Metric name or glob (payment_*).")],
    user: Annotated[str | None, typer.Option(help="Grant to this user.")] = None,
    team: Annotated[str | None, typer.Option(help="Grant to this team.")] = None,
    role: Annotated[str | None, typer.Option(help="Grant to this role.")] = None,
    deny: Annotated[bool, typer.Option("--deny", help="Deny instead of grant.")] = False,
    project: ProjectOpt = None,
) -> None:
    """Restrict a metric: once granted to someone, only grantees (and admins) see it."""
    given = [(k, v) for k, v in (("user", user), ("team", team), ("role", role)) if v]
    if len(given) != 1:
        raise ConfigError("give exactly one of --user, --team, --role")
    ml = open_project(project)
    kind, who = given[0]
    assert who is not None
    ml.access.grant(metric, kind, who, "deny" if deny else "read", actor=_actor())
    console.print(f"[green]{'denied' if deny else 'granted'}[/] {metric} to {kind} {who}")


@users_app.command("audit")
def users_audit(project: ProjectOpt = None, limit: int = 50, actor: str | None = None,
                action: str | None = None, fmt: FormatOpt = Fmt.table) -> None:
    """The audit log: every query and change, newest first."""
    ml = open_project(project)
    rows, _ = ml.access.audit_log(limit=limit, actor=actor, action=action)
    emit([{"at": r.at, "actor": r.actor, "action": r.action, "target": r.target, "outcome": r.outcome,
           "detail": r.detail} for r in rows], fmt.value, columns=["at", "actor", "action", "target", "outcome"])


def _actor() -> str:
    from metricloop.catalog.revisions import current_author

    return f"cli:{current_author()}"[:64]


# ---------------------------------------------------------------------------------- demo
SERVE_AGAIN = Text(
    en="later, [bold]metricloop demo --dir {dir}[/] serves it again with its local chat-robot and mail receivers; "
    "[bold]metricloop serve -p {dir}[/] serves it without them (its channels then need real ML_* webhook "
    "settings, or --demo-receivers)",
    zh="之后：[bold]metricloop demo --dir {dir}[/] 会连同本地机器人与邮件接收端再次启动；"
    "[bold]metricloop serve -p {dir}[/] 则不启动它们（渠道需配置真实的 ML_* webhook 变量，或加 --demo-receivers）",
)
RECEIVERS_STARTED = Text(
    en="local demo receivers started (DingTalk, WeCom, Feishu, webhook, SMTP on 127.0.0.1)",
    zh="已启动本地演示接收端（钉钉、企业微信、飞书、webhook、SMTP，127.0.0.1）",
)
StepProgress = Callable[[str, float], None]
#: Extra preparation after the demo project exists, in order: ``step(ml, progress)``.
#: The lead adds here: backfill history, then run the loop over it (detect → explain →
#: incidents → actions → reviews) once detection and workflow land.
DEMO_STEPS: list[Callable[[MetricLoop, StepProgress], None]] = []


_receivers: list[Any] = []  # the demo's local robot and mail receivers live as long as the process


def start_demo_receivers() -> dict[str, str]:
    """Local DingTalk/WeCom/Feishu/webhook receivers and an SMTP sink on 127.0.0.1; their env vars."""
    import socket

    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    from metricloop.notify.emulator import RobotEmulator
    from metricloop.workflow.demo import emulator_env

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        smtp_port = s.getsockname()[1]
    smtp = Controller(Sink(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    emu = RobotEmulator()
    emu.__enter__()
    _receivers.extend([smtp, emu])
    env = emulator_env(emu, smtp_port=smtp_port)
    os.environ.update(env)
    return env


def prepare_demo(directory: Path, *, scale: float = 1.0, progress: StepProgress | None = None
                 ) -> tuple[MetricLoop, list[tuple[str, str, str]]]:
    """Create (or reuse) the demo project, its users and policies; return the logins to print."""
    from metricloop import scaffold
    from metricloop.access.crypto import generate_password
    from metricloop.errors import ConflictError

    def step(name: str, frac: float) -> None:
        if progress:
            progress(name, frac)

    if not (directory / "metricloop.yaml").exists():
        scaffold.init_demo(directory, scale=scale, progress=lambda s, f: step(s, f * 0.8))
    else:
        step("reusing demo project", 0.8)
    ml = open_project(directory)
    step("recording catalog revisions", 0.85)
    ml.sync_catalog(author="metricloop demo")
    step("creating users", 0.9)
    logins: list[tuple[str, str, str]] = []
    if not any(p.name == "region" for p in ml.access.policies()):
        ml.access.add_policy("region", "region", "region", actor="metricloop demo")
    for username, role, display, attrs in (
        ("admin", "admin", "Admin 管理员", {}),
        ("he.jing", "owner", "何静", {"region": ["华东"]}),
    ):
        password = generate_password()
        try:
            ml.access.create_user(username, role=role, password=password, display_name=display, attributes=attrs,
                                  actor="metricloop demo")
        except ConflictError:  # reused project: a new password, printed once like the first
            ml.access.update_user(username, password=password, active=True, actor="metricloop demo")
        logins.append((username, password, role))
    for i, extra in enumerate(DEMO_STEPS):

        def sub(name: str, frac: float, i: int = i) -> None:
            step(name, 0.9 + 0.1 * (i + frac) / len(DEMO_STEPS))

        extra(ml, sub)
    step("ready", 1.0)
    return ml, logins


@app.command()
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Demo project folder (created or reused).")] = Path(
        "metricloop-demo"),
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    scale: Annotated[float, typer.Option(help="Data volume (1.0 = full demo).", hidden=True)] = 1.0,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Prepare only; do not start the server.")] = False,
) -> None:
    """One command: build the demo company, then serve UI + API on http://127.0.0.1:8000."""
    from metricloop.cli.commands import _progress

    with _progress() as bar:
        task = bar.add_task("demo", total=1.0)
        ml, logins = prepare_demo(directory, scale=scale,
                                  progress=lambda s, f: bar.update(task, description=s, completed=f))
    console.print(f"[green]demo ready[/] in {directory.resolve()}")
    console.print(f"open http://{host}:{port} and sign in (passwords shown once):")
    for username, password, role in logins:
        console.print(f"  {username:<8} {password}   ({role}{', sees only 华东 rows' if username != 'admin' else ''})")
    console.print(SERVE_AGAIN.render(locale_of(ml), dir=directory))
    if not no_serve:
        serve_http(ml, host, port)
