"""Engines and migrations: SQLite tuned for one writer (WAL, busy timeout, BEGIN IMMEDIATE)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from monitor.errors import StoreError


def migrations_dir() -> Path:
    """The Alembic scripts: the copy shipped in the wheel (``monitor/migrations``), else the
    ``migrations/`` folder of a source checkout."""
    shipped = Path(__file__).resolve().parent.parent / "migrations"
    if (shipped / "env.py").is_file():
        return shipped
    checkout = Path(__file__).resolve().parent.parent.parent / "migrations"
    if (checkout / "env.py").is_file() and (checkout / "versions" / "0001_initial.py").is_file():
        return checkout
    raise StoreError(f"the Alembic migrations are missing (looked in {shipped} and {checkout})")


def make_engine(url: str) -> Engine:
    """Build the engine for ``url``; SQLite files get WAL, a busy timeout and BEGIN IMMEDIATE."""
    try:
        parsed = make_url(_with_driver(url))
        if parsed.get_backend_name() != "sqlite":
            return create_engine(parsed, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise StoreError(f"unusable database URL {_masked(url)}: {exc} (SQLite: sqlite:///path/to.db; "
                         "PostgreSQL: postgresql+psycopg://user:password@host/db)") from None
    db = parsed.database
    if db and db != ":memory:":
        try:
            Path(db).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StoreError(f"cannot create the folder of the SQLite database {db}: {exc.strerror}") from None
    engine = create_engine(parsed, connect_args={"timeout": 15})
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _with_driver(url: str) -> str:
    """``postgres://`` and ``postgresql://`` (as hosting providers write them) use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _masked(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable)"


def reading(engine: Engine) -> Connection:
    """A connection for reads only: on SQLite it begins a deferred transaction, so readers never queue
    behind the writer's lock (WAL lets them read while it writes)."""
    return engine.connect().execution_options(news_monitor_readonly=True)


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # stop pysqlite's own implicit BEGIN handling
    cur = dbapi_conn.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=15000"):
        cur.execute(f"PRAGMA {pragma}")
    cur.close()


def _sqlite_on_begin(conn: Any) -> None:
    # Writers take the lock up front: a deferred transaction that upgrades fails at once with
    # "database is locked", whatever the busy timeout (reliability.md D05). Reads stay deferred.
    readonly = conn.get_execution_options().get("news_monitor_readonly")
    conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> None:
    """Migrate the database to the newest revision (creates it when empty)."""
    from alembic import command

    old = os.umask(0o077)  # the database and its -wal/-shm files are private
    try:
        command.upgrade(_alembic_config(engine), "head")
    except SQLAlchemyError as exc:
        raise StoreError(f"database {engine.url.render_as_string(hide_password=True)}: migration failed: "
                         f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}") from exc
    finally:
        os.umask(old)


def is_current(engine: Engine) -> bool:
    """True when the database is at the newest migration."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()
    with reading(engine) as conn:
        return MigrationContext.configure(conn).get_current_revision() == head


def ping(engine: Engine) -> bool:
    """True when the database answers a trivial query."""
    try:
        with reading(engine) as conn:
            conn.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        return False
