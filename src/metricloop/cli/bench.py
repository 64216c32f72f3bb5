"""``metricloop bench ...``: each benchmark is a module ``metricloop.cli.bench_<name>`` that
registers its command on :data:`bench_app`; they are discovered, never listed by hand."""

from __future__ import annotations

import importlib
import pkgutil

import typer

bench_app = typer.Typer(
    help="Benchmarks: speed and accuracy, measured side by side with a baseline.", no_args_is_help=True
)


def load_benchmarks() -> None:
    import metricloop.cli as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name.startswith("bench_"):
            importlib.import_module(f"metricloop.cli.{mod.name}")
