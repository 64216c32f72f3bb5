"""Open the state store, migrate it to the current schema, hand out sessions."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.orm import Session, sessionmaker

from metricloop.errors import StoreError
from metricloop.secrets import redact

MIGRATIONS = Path(__file__).parent / "migrations"
_migrate_lock = threading.Lock()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


class Store:
    """The state database (SQLite by default, PostgreSQL in production)."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        kwargs: dict[str, object] = {"pool_pre_ping": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            private_sqlite_file(url)
        try:
            self.engine = sa.create_engine(url, **kwargs)
        except Exception as exc:
            raise StoreError(f"cannot open state store {redact(url)}: {redact(str(exc))}") from None
        if url.startswith("sqlite"):
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if migrate:
            self.upgrade()

    def upgrade(self, revision: str = "heads") -> None:
        """Bring the schema to ``revision`` (all branch heads by default); safe on every start.

        Each stage owns a migration branch rooted at ``0001`` (detection, workflow, access ...),
        so stages can evolve their tables independently; ``heads`` applies all of them.
        """
        with _migrate_lock:
            try:
                with self.engine.begin() as con:
                    cfg = alembic_config(self.url)
                    cfg.attributes["connection"] = con
                    if self.current_heads(con) != self.head_revisions():
                        command.upgrade(cfg, revision)
            except sa.exc.OperationalError as exc:
                raise StoreError(
                    f"state store unreachable ({redact(self.url)}): {redact(str(exc.orig)).splitlines()[0]}",
                    zh="无法连接状态库",
                ) from None

    def downgrade(self, revision: str) -> None:
        with _migrate_lock, self.engine.begin() as con:
            cfg = alembic_config(self.url)
            cfg.attributes["connection"] = con
            command.downgrade(cfg, revision)

    @staticmethod
    def current_heads(con: sa.Connection) -> set[str]:
        return set(MigrationContext.configure(con).get_current_heads())

    @staticmethod
    def head_revisions() -> set[str]:
        return set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on any error."""
        s = self._sessions()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def dispose(self) -> None:
        self.engine.dispose()


def private_sqlite_file(url: str) -> None:
    """The SQLite state file holds the session-signing key, password hashes and token digests:
    create it owner-only (0600) before SQLite does (with the umask's 0644), and tighten an
    existing one. SQLite gives its -wal/-shm files the database file's mode."""
    try:
        path = sa.engine.make_url(url).database
    except sa.exc.ArgumentError:
        return
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    try:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
        for suffix in ("", "-wal", "-shm", "-journal"):
            if os.path.exists(path + suffix):
                os.chmod(path + suffix, 0o600)
    except OSError:
        pass  # a missing folder or a read-only mount: SQLite's own error says it better


def unavailable(exc: BaseException) -> str | None:
    """Why a database cannot be used right now (refused, dropped, locked, unreadable file), or
    None when ``exc`` is not that kind of failure (a bug, a constraint): the CLI prints it as one
    line and the API answers 503 instead of a traceback or a 500."""
    if not isinstance(exc, sa.exc.SQLAlchemyError):
        return None
    outage = isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.DisconnectionError) or (
        isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated)
    orig = getattr(exc, "orig", None)
    if not outage and orig is not None and type(orig).__name__ == "DatabaseError" and (
            type(orig).__module__ == "sqlite3"):  # "file is not a database": a replaced or damaged file
        outage = True
    if not outage:
        return None
    lines = str(orig if orig is not None else exc).strip().splitlines()
    return redact(lines[0] if lines else type(exc).__name__)[:300]


def _sqlite_pragmas(dbapi_con: object, _record: object) -> None:
    cur = dbapi_con.cursor()  # type: ignore[attr-defined]
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    # WAL + NORMAL: a commit is safe from a crashed process and needs no fsync (SQLite's advice for
    # WAL); FULL fsynced every audit row of every API query (~4 ms each on a shared disk)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
