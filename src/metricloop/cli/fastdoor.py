"""Fast doors: ``metricloop query`` and ``metricloop --help`` answered without building the CLI.

A CLI call pays for its imports before it does any work: Typer and its Rich help renderer,
pydantic, sqlglot and the compiler cost several times the query itself at the demo's scale. The
two calls people repeat (the same query again, the overview) have answers that depend only on
files and settings, so they are kept under a hash of everything they depend on:

- a query: the compiled SQL, its columns and cell formats, under the hash of the project folder,
  ``metricloop.yaml``, the model files, the query's options and the code that compiles (the
  package's files, sqlglot's install). The rows are read live from DuckDB and printed by the same
  ``emit`` as the full command. Only queries the full command compiled before are answered, so a
  mistyped option or an unknown metric always reaches the full command and its error.
- ``--help``: the exact text printed, under the hash of the CLI's code, Typer's and Rich's
  installs and what their output depends on (terminal size, whether stdout is a terminal, the
  colour and width settings in the environment).

Anything else (an option this parser does not know, a repeated option, a cache that cannot be
read, a warehouse error) goes to the full command, which answers as it always did. This module
imports only the standard library until it has an answer to print.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metricloop.engine.compiler import CompiledQuery
    from metricloop.service import MetricLoop

_KEEP = 64  # cached queries kept per project (older ones are removed on write)

# `metricloop query`'s options (cli/commands.py): the key fields, then the output-only ones
KEY_FIELDS = ("metrics", "by", "grain", "start", "end", "where", "order", "limit", "compare")
_VALUE_OPTIONS = {
    "--project": "project", "-p": "project", "--by": "by", "--grain": "grain", "--start": "start", "--end": "end",
    "--where": "where", "--order": "order", "--limit": "limit", "--compare": "compare", "--format": "fmt",
    "-f": "fmt",
}
_FLAGS = {"--sql": "sql", "--dry-run": "dry_run"}
_FORMATS = ("table", "csv", "json")


def _install_stamp(*modules: str) -> str:
    """Where and when third-party packages were installed (an upgrade rewrites their files)."""
    from importlib.util import find_spec

    parts = []
    for name in modules:
        spec = find_spec(name)
        origin = spec.origin if spec else None
        st = os.stat(origin) if origin else None
        parts.append(f"{name}:{origin}:{st.st_size if st else 0}:{st.st_mtime_ns if st else 0}")
    return "\n".join(parts)


def _write(path: Path, text: str, keep: int, pattern: str) -> None:
    """Write atomically (another call may be reading); an unwritable folder just skips caching."""
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".fastdoor-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        old = sorted(path.parent.glob(pattern), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in old[keep:]:
            stale.unlink(missing_ok=True)
    except OSError:
        return


# ---------------------------------------------------------------------------------- query
def parse_query_args(args: list[str]) -> dict[str, Any] | None:
    """``metricloop query``'s arguments as click parses them, or None for anything this parser
    does not handle the same way (``--help``, unknown or repeated options, no or two metrics)."""
    found: dict[str, Any] = {}
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            positional += args[i:]
            break
        value: str | bool
        if arg in _FLAGS:
            name, value = _FLAGS[arg], True
        elif arg.startswith("--") and "=" in arg:
            option, value = arg.split("=", 1)
            if option not in _VALUE_OPTIONS:
                return None
            name = _VALUE_OPTIONS[option]
        elif arg in _VALUE_OPTIONS:
            if i >= len(args):
                return None
            name, value = _VALUE_OPTIONS[arg], args[i]
            i += 1
        elif arg[:2] in ("-p", "-f") and not arg.startswith("--"):
            name, value = _VALUE_OPTIONS[arg[:2]], arg[2:]  # -pDIR, -fjson
        elif arg.startswith("-") and arg != "-":
            return None
        else:
            positional.append(arg)
            continue
        if name in found:
            return None
        found[name] = value
    if len(positional) != 1:
        return None
    found["metrics"] = positional[0]
    if found.get("fmt", "table") not in _FORMATS:
        return None
    if "limit" in found:
        try:
            found["limit"] = int(found["limit"])  # click's INT type: int() of the text
        except ValueError:
            return None
    return found


def project_root(project: str | Path | None) -> Path:
    """The folder ``Project.load`` opens for ``--project`` (else ``$METRICLOOP_PROJECT``, else .)."""
    chosen = project if project is not None else os.environ.get("METRICLOOP_PROJECT") or "."
    return Path(chosen).expanduser()


def query_key(root: Path, params: dict[str, Any]) -> str | None:
    """Hash of what a compiled query depends on; None when the project cannot be read."""
    from metricloop import __version__
    from metricloop.catalog.cache import code_stamp, model_files

    h = hashlib.sha256()
    try:
        h.update(f"query 1\0{__version__}\0{sys.version}\0{root.resolve()}\0".encode())
        h.update(code_stamp("", "engine", "catalog").encode())
        h.update(_install_stamp("sqlglot").encode())
        h.update(b"\0" + (root / "metricloop.yaml").read_bytes())
        for f in model_files(root):
            data = f.read_bytes()
            h.update(f"\0{f.relative_to(root).as_posix()}\0{len(data)}\0".encode())
            h.update(data)
    except (OSError, ValueError):
        return None
    h.update(json.dumps([params.get(k) for k in KEY_FIELDS], ensure_ascii=False).encode())
    return h.hexdigest()


def _entry_path(root: Path, key: str) -> Path:
    return root / ".metricloop" / "cache" / f"query-{key[:32]}.json"


def remember_query(ml: MetricLoop, params: dict[str, Any], compiled: CompiledQuery, key: str | None) -> None:
    """Keep a query the full command compiled for the fast door (DuckDB projects with one
    warehouse and no acting user only); ``key`` is :func:`query_key` taken before compiling, so
    a model edited meanwhile is not stored under the old files' hash. Never fails the query."""
    try:
        from metricloop.access.context import current_principal
        from metricloop.cli.render import format_specs
        from metricloop.engine.warehouse import DuckDBWarehouse

        wh = ml.warehouse()
        if (key is None or current_principal() is not None or ml.project.config.warehouses
                or not isinstance(wh, DuckDBWarehouse) or compiled.dialect != "duckdb"
                or query_key(ml.project.root, params) != key):
            return
        entry = {
            "key": key,
            "database": os.path.abspath(wh.path),
            "sql": compiled.sql,
            "columns": [vars(c) for c in compiled.columns],
            "formats": format_specs(ml.catalog, compiled.columns),
            "timezone": ml.project.config.timezone,
        }
        _write(_entry_path(ml.project.root, key), json.dumps(entry, ensure_ascii=False), _KEEP, "query-*.json")
    except Exception:  # a cache is never a reason for a query to fail
        return


def answer_query(args: list[str]) -> bool:
    """Print the answer of ``metricloop query ARGS`` from its cached compilation; False (nothing
    printed) when the full command must answer."""
    params = parse_query_args(args)
    if params is None:
        return False
    root = project_root(params.get("project"))
    key = query_key(root, params)
    if key is None:
        return False
    try:
        entry = json.loads(_entry_path(root, key).read_text(encoding="utf-8"))
        if not isinstance(entry, dict) or entry.get("key") != key:
            return False
        sql, names = entry["sql"], [c["name"] for c in entry["columns"]]
        rows: list[dict[str, Any]] = []
        if not params.get("dry_run"):
            from metricloop.engine.warehouse import DuckDBWarehouse

            wh = DuckDBWarehouse(entry["database"])
            try:
                got, tuples = wh.rows(sql)
            finally:
                wh.close()
            if got != names:
                return False
            rows = [dict(zip(names, t, strict=True)) for t in tuples]
    except Exception:  # unreadable cache, warehouse error: the full command answers (and explains)
        return False
    _print(params, entry, rows)
    return True


def _print(params: dict[str, Any], entry: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """What the full ``query`` command prints (cli/commands.py), from the cached entry."""
    import datetime as dt

    from metricloop.cli.render import cell_formats, console, emit, err_console

    sql = entry["sql"]
    if params.get("dry_run"):
        console.print(sql, highlight=False, soft_wrap=True)
        return
    if any(isinstance(v, dt.datetime) and v.tzinfo for r in rows for v in r.values()):
        from zoneinfo import ZoneInfo

        from metricloop.localtime import set_display_timezone

        set_display_timezone(ZoneInfo(entry["timezone"]))  # as open_project does
    if params.get("sql"):
        err_console.print(sql, highlight=False, soft_wrap=True)
    emit(
        rows,
        params.get("fmt", "table"),
        columns=[c["name"] for c in entry["columns"]],
        formatters=cell_formats(entry["formats"]),
        payload={"sql": sql, "columns": entry["columns"], "rows": rows},
    )


# ---------------------------------------------------------------------------------- --help
_HELP_ENV = (  # what Rich and Typer read to shape their output
    "COLUMNS", "LINES", "JUPYTER_COLUMNS", "JUPYTER_LINES", "TERM", "COLORTERM", "NO_COLOR", "FORCE_COLOR",
    "PY_COLORS", "GITHUB_ACTIONS", "TTY_INTERACTIVE", "TTY_COMPATIBLE", "TERMINAL_WIDTH", "TYPER_USE_RICH",
    "_TYPER_FORCE_DISABLE_TERMINAL", "DATABRICKS_RUNTIME_VERSION", "PYTHONIOENCODING", "LANG", "LC_ALL",
    "LC_CTYPE",
)


def help_key() -> str | None:
    """Hash of what ``metricloop --help`` prints from; None when it cannot be known."""
    from metricloop import __version__
    from metricloop.catalog.cache import code_stamp

    parts = [f"help 1\0{__version__}\0{sys.version}\0{sys.executable}"]
    try:
        parts.append(code_stamp("", "cli"))
        parts.append(_install_stamp("typer", "rich", "click"))
    except (OSError, ValueError, ImportError):
        return None
    parts += [f"{k}={os.environ.get(k)}" for k in _HELP_ENV]
    main = sys.modules.get("__main__")  # click names the program from these ("python -m metricloop")
    spec = getattr(main, "__spec__", None)
    parts.append(f"prog={os.path.basename(sys.argv[0])} {getattr(main, '__package__', None)} "
                 f"{getattr(spec, 'name', None)}")
    out = sys.stdout
    try:
        parts.append(f"tty={out.isatty()} encoding={out.encoding} errors={out.errors}")
    except (AttributeError, ValueError):
        return None
    for fd in (0, 1, 2):  # Rich sizes the console from the first standard stream that is a terminal
        try:
            parts.append(str(os.get_terminal_size(fd)))
        except (OSError, ValueError):
            parts.append("-")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _help_path(key: str) -> Path | None:
    base = os.environ.get("XDG_CACHE_HOME")
    try:
        folder = Path(base) if base else Path.home() / ".cache"
    except RuntimeError:  # no home folder
        return None
    return folder / "metricloop" / f"help-{key[:32]}.txt"


class _Recorder:
    """``sys.stdout`` as it is, keeping a copy of the text written through it. Asked for its
    binary ``buffer`` (click wraps a stream it finds misconfigured), it can no longer see every
    write: the copy is then not kept."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.parts: list[str] = []
        self.complete = True

    def write(self, text: str) -> int:
        written = int(self.inner.write(text))  # click probes with b"" (a text stream refuses it)
        self.parts.append(text)
        return written

    def __getattr__(self, name: str) -> Any:
        if name in ("buffer", "detach", "fileno"):
            self.complete = False
        return getattr(self.inner, name)


def answer_help(full: Callable[[], None]) -> None:
    """``metricloop --help``: the text printed last time under the same conditions, else the full
    command's help (kept for next time when it succeeds)."""
    key = help_key()
    path = _help_path(key) if key else None
    if path is None:
        full()
        return
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = None
    if text is not None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    recorder = _Recorder(sys.stdout)
    sys.stdout = recorder
    try:
        full()
    except SystemExit as exc:
        if exc.code in (None, 0) and recorder.complete:
            _write(path, "".join(recorder.parts), 8, "help-*.txt")
        raise
    finally:
        sys.stdout = recorder.inner
    if recorder.complete:
        _write(path, "".join(recorder.parts), 8, "help-*.txt")
