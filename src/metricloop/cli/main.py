"""The ``metricloop`` command: a thin door over the service facade.

Commands parse arguments, call :class:`metricloop.service.MetricLoop` and render the result.
Any :class:`MetricLoopError` becomes one clear line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import os
import sys

import typer

from metricloop.cli.bench import bench_app, load_benchmarks
from metricloop.cli.render import err_console
from metricloop.errors import MetricLoopError
from metricloop.secrets import redact

app = typer.Typer(
    name="metricloop",
    help="MetricLoop — closed-loop business-metric monitoring (指标监控闭环).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(bench_app, name="bench")


def _locale() -> str:
    return os.environ.get("METRICLOOP_LOCALE") or os.environ.get("LANG", "en")


def load_commands() -> None:
    """Import every ``metricloop.cli.*commands`` module; each registers its commands on ``app``."""
    import importlib
    import pkgutil

    import metricloop.cli as pkg

    for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if mod.name == "commands" or mod.name.endswith("_commands"):
            importlib.import_module(f"metricloop.cli.{mod.name}")
    load_benchmarks()


def narrowed(argv: list[str]) -> typer.Typer:
    """The app holding only the command (or group) named in ``argv``, else the whole app.

    Typer turns every registered command into a click command, resolving each one's type hints,
    before it runs one: with ~70 commands a fixed cost on every call. Running just the named one
    gives the same parsing, help and errors; ``metricloop --help``, options first and unknown
    names (click suggests the closest) get the whole app.
    """
    name = argv[1] if len(argv) > 1 else ""
    if not name or name.startswith("-"):
        return app
    from typer.main import get_command_name

    only = typer.Typer(name=app.info.name, help=app.info.help, no_args_is_help=True,
                       pretty_exceptions_enable=False, add_completion=False)
    only.callback()(_group)  # a callback keeps it a group: `metricloop query ...`, not `metricloop ...`
    for command in app.registered_commands:
        callback_name = command.callback.__name__ if command.callback else ""
        if (command.name or get_command_name(callback_name)) == name:
            only.registered_commands = [command]
            return only
    for group in app.registered_groups:
        if group.name == name:
            only.registered_groups = [group]
            return only
    return app


def _group() -> None:
    """MetricLoop — closed-loop business-metric monitoring (指标监控闭环)."""


def main() -> None:
    """Entry point: run the app and turn MetricLoop errors into one line and exit code 1."""
    from metricloop.logs import install as redact_logs

    redact_logs()  # every log record, tracebacks included, is redacted from here on
    load_commands()
    try:
        # without standalone mode click *returns* the code of `raise typer.Exit(n)`: pass it on
        code = narrowed(sys.argv)(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except MetricLoopError as exc:
        err_console.print(f"[bold red]error:[/] {redact(exc.localized(_locale()))}", highlight=False)
        sys.exit(1)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click usage errors, an unreachable database and the like
        import click

        from metricloop.store.db import unavailable

        vendored = sys.modules.get("typer._click.exceptions")  # typer >= 0.29 bundles its own click
        usage_errors = (click.ClickException, *([vendored.ClickException] if vendored else []))
        if isinstance(exc, usage_errors):
            exc.show()
            sys.exit(exc.exit_code)
        reason = unavailable(exc)
        if reason is not None:  # one line, not a driver traceback
            from metricloop.errors import StoreError

            outage = StoreError(f"the database cannot be used right now: {reason}",
                                zh=f"数据库暂时无法使用：{reason}")
            err_console.print(f"[bold red]error:[/] {outage.localized(_locale())}", highlight=False)
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
