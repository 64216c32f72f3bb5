"""The entry point runs only the command named (fast start) with the same parsing and errors."""

from __future__ import annotations

from collections.abc import Callable

from metricloop.cli.main import app, load_commands, narrowed
from tests.cli.conftest import Result


def test_only_the_named_command_is_built_and_the_rest_still_reachable() -> None:
    load_commands()
    only = narrowed(["metricloop", "query", "gmv"])
    assert only is not app
    assert [c.callback.__name__ for c in only.registered_commands if c.callback] == ["query"]
    assert [g.name for g in narrowed(["metricloop", "catalog", "list"]).registered_groups] == ["catalog"]
    # the whole app for the overview, options first and names it does not know
    for argv in (["metricloop"], ["metricloop", "--help"], ["metricloop", "qurey"]):
        assert narrowed(argv) is app


def test_usage_errors_are_one_message_with_exit_code_2(cli: Callable[..., Result]) -> None:
    typo = cli("qurey")
    assert typo.returncode == 2
    assert "Did you mean 'query'?" in typo.stderr and "Traceback" not in typo.stderr
    missing = cli("query")
    assert missing.returncode == 2
    assert "Missing argument 'metrics'" in missing.stderr and "Traceback" not in missing.stderr
    assert "Usage:" in missing.stderr and "query" in missing.stderr
