"""A first ``metricloop --help`` (nothing cached) builds the whole CLI but loads neither pydantic
nor sqlglot: the commands' option types (``Grain``) and the display timezone live apart from them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RUN = (
    "import sys\nfrom metricloop.cli.entry import main\n"
    "sys.argv = ['metricloop', '--help']\n"
    "try:\n    main()\nexcept SystemExit:\n    pass\n"
    "print('LOADED', sorted(m for m in ('pydantic', 'sqlglot', 'typer') if m in sys.modules), file=sys.stderr)\n"
)


def test_a_first_help_lists_the_commands_without_pydantic_or_sqlglot(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "COLUMNS": "120"}
    done = subprocess.run([sys.executable, "-c", RUN], capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "query" in done.stdout and "--grain" not in done.stdout
    assert done.stderr.splitlines()[-1] == "LOADED ['typer']"  # the full command ran, and only it
    grain = subprocess.run([sys.executable, "-m", "metricloop", "query", "--help"], capture_output=True, text=True,
                           env=env, timeout=300, check=False)
    assert grain.returncode == 0 and "millisecond|second|minute|hour|day" in grain.stdout  # Grain's values
