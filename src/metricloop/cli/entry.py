"""The ``metricloop`` command's entry point.

``metricloop query`` with a query compiled before and ``metricloop --help`` are answered by the
fast doors (:mod:`metricloop.cli.fastdoor`) without importing Typer, pydantic or the compiler;
every other call, and any call those cannot answer exactly as the full command would, goes to
:func:`metricloop.cli.main.main`.
"""

from __future__ import annotations

import os
import sys


def _full() -> None:
    from metricloop.cli.main import main as full

    full()


def main() -> None:
    """Run ``metricloop`` with ``sys.argv``."""
    args = sys.argv[1:]
    if any(k.endswith("_COMPLETE") for k in os.environ):  # shell completion: click's own protocol
        _full()
    elif args[:1] == ["query"]:
        from metricloop.cli.fastdoor import answer_query

        if not answer_query(args[1:]):
            _full()
    elif args == ["--help"]:
        from metricloop.cli.fastdoor import answer_help

        answer_help(_full)
    else:
        _full()


if __name__ == "__main__":
    main()
