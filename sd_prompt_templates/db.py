"""The database plumbing shared by the stores (the template library, the jobs): engines, transactions and schema
versions, through SQLAlchemy Core, the same code for SQLite (the default: a file in the WebUI's data folder) and
PostgreSQL (`SD_PROMPT_TEMPLATES_DATABASE_URL`: one database shared by several WebUIs).

- **Writes are serialized per store**, as SQLite serializes them: on SQLite a write is `BEGIN IMMEDIATE` (writers
  queue for up to `timeout` seconds, readers never block); on PostgreSQL it takes the store's transaction-level
  advisory lock first. So every check a write makes (a version, a state, a cap) holds until it commits, in any
  number of threads, processes or machines, with no dialect-specific locking in the stores. A process stopped in the
  middle of a write (frozen, swapping) would hold every WebUI's writes up: PostgreSQL ends a transaction left idle
  for `STALLED_WRITE_SECONDS`, and that process's write fails, changing nothing, when it wakes.
- SQLite runs in WAL mode with synchronous=FULL (or NORMAL where a store says so): a crash or a killed process leaves
  the last committed state.
- **The schema** of each store is one SQLAlchemy `MetaData` plus its upgrade steps, recorded in `schema_versions`
  (one row per store): a new database gets the current tables at once; an older one gets the steps above its
  version, in one transaction with the new version — all of them, or none. Files written before this table existed
  kept their version in `schema_version` (one per file), which is read once.

A store holds a `Database` and takes a connection per operation (`read()` / `write()`) from the engine's pool, so one
store serves every thread.
"""

from __future__ import annotations

import os
import re
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.schema import CreateColumn

DEFAULT_TIMEOUT = 30.0  # seconds a writer waits for another's transaction (SQLite) or for a pooled connection
CONNECT_TIMEOUT = 10  # seconds to reach a database server
# A process stopped inside a write (SIGSTOP, a frozen VM, a machine swapping) would hold the write lock of every WebUI
# sharing the database for as long as it stays stopped: the server ends a transaction left idle this long. Well under
# the shortest takeover (15 s): the heartbeats it holds up are not taken for silence.
STALLED_WRITE_SECONDS = 5.0

Upgrade = Callable[[Connection], None]
"""One step of a schema, run inside the migration's transaction."""

VERSIONS = sa.Table(
    "schema_versions",
    sa.MetaData(),
    sa.Column("component", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)
LEGACY_VERSION_TABLE = "schema_version"
SUPPORTED = ("sqlite", "postgresql")  # one per SQLite file, before several stores could share a database


class SchemaTooNew(Exception):
    """The database's schema is newer than any this code knows: it was written by a newer version."""

    def __init__(self, found: int, known: int) -> None:
        self.found, self.known = found, known
        super().__init__(f"schema version {found} is newer than {known}, the latest this code knows")


class DatabaseUnavailable(OSError):
    """The database could not be reached or opened; the message says which and why, without the password."""


@dataclass(frozen=True)
class Schema:
    """A store's tables (`metadata`, as they are now) and the steps that bring an older database to them:
    `upgrades[v]` takes version v-1 to v. `version` is the current one."""

    component: str
    metadata: sa.MetaData
    upgrades: Mapping[int, Upgrade] = field(default_factory=dict)

    @property
    def version(self) -> int:
        return max(self.upgrades, default=1)

    def __post_init__(self) -> None:
        if any(v < 2 for v in self.upgrades):
            raise ValueError(f"upgrade steps start at version 2 (1 is the first schema), not {sorted(self.upgrades)}")


def add_columns(table: sa.Table, *names: str) -> Upgrade:
    """An upgrade step adding columns that `table` (the current definition) has, in each dialect's own DDL."""

    def upgrade(conn: Connection) -> None:
        for name in names:
            ddl = CreateColumn(table.c[name]).compile(dialect=conn.dialect)
            conn.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN {ddl}"))

    return upgrade


def create_tables(*tables: sa.Table) -> Upgrade:
    """An upgrade step creating tables (with their indexes) as they are defined now."""

    def upgrade(conn: Connection) -> None:
        for table in tables:
            table.create(conn)

    return upgrade


def database_url(target: str | os.PathLike[str] | URL) -> URL:
    """A URL for `target`: a `postgresql://…` address (driven by psycopg 3), any SQLAlchemy URL, or a path to a
    SQLite file."""
    if isinstance(target, URL):
        url = target
    elif isinstance(target, str) and "://" in target:
        try:
            url = make_url(target)
        except (sa.exc.ArgumentError, ValueError):
            shown = _without_password(target)
            raise ValueError(f"'{shown}' is not a database URL (postgresql://user:password@host/db)") from None
    else:
        return URL.create("sqlite", database=str(Path(target).expanduser().resolve()))
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in SUPPORTED:
        raise ValueError(
            f"{describe(url)}: only PostgreSQL (postgresql://user:password@host/database) or SQLite can hold the "
            "library and the jobs"
        )
    return url


def _without_password(text: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", text)


def describe(url: URL) -> str:
    """The URL as it may be shown or logged: never the password."""
    return url.render_as_string(hide_password=True)


class Database:
    """One store's database: created and migrated when opened; then a pooled connection for each read or write.
    Whoever waits for a change (`changed`, `writes`) is woken after each write this process commits."""

    def __init__(
        self,
        target: str | os.PathLike[str] | URL,
        schema: Schema,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        synchronous: str = "FULL",
        stalled_after: float = STALLED_WRITE_SECONDS,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
        self.url = database_url(target)
        self.schema = schema
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.changed = threading.Condition()
        self.writes = 0  # commits so far, under `changed`
        self._lock_key = _lock_key(schema.component)  # this store's advisory lock (PostgreSQL)
        try:
            if self.is_sqlite:
                self.engine = _sqlite_engine(self.url, timeout, synchronous)
            else:
                self.engine = _server_engine(self.url, stalled_after)
            self.engine.connect().close()
        except (sa.exc.OperationalError, sa.exc.InterfaceError, OSError) as exc:
            raise DatabaseUnavailable(f"cannot open the database {describe(self.url)}: {_first_line(exc)}") from None
        try:
            migrate(self, schema)
        except BaseException:
            self.engine.dispose()
            raise

    @property
    def path(self) -> Path | None:
        """The SQLite file, or None for a server database."""
        return Path(self.url.database) if self.is_sqlite and self.url.database else None

    @property
    def shared(self) -> bool:
        """Whether other processes (other WebUIs) may use this database too: a server, not a local file."""
        return not self.is_sqlite

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads (one consistent snapshot on SQLite), returned to the pool when the block ends."""
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection inside one write transaction, serialized with every other writer of this store: committed
        whole when the block ends, rolled back whole if it raises (anything, KeyboardInterrupt included)."""
        with self.engine.connect().execution_options(write=True) as conn, conn.begin():
            if not self.is_sqlite:
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(self._lock_key)))
            yield conn
        with self.changed:  # held only to count and wake: never while anyone reads
            self.writes += 1
            self.changed.notify_all()

    def schema_version(self) -> int:
        with self.read() as conn:
            return _stored_version(conn, self.schema.component)

    def dispose(self) -> None:
        """Close the pooled connections (the database stays usable: new ones are opened as needed)."""
        self.engine.dispose()


def migrate(database: Database, schema: Schema) -> int:
    """Bring the store's tables to `schema.version` and return it (see the module's docstring). Raises
    SchemaTooNew, changing nothing, if the database is ahead."""
    with database.write() as conn:
        if not database.is_sqlite:  # stores sharing a new database would both create `schema_versions`
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_key("schema_versions"))))
        VERSIONS.create(conn, checkfirst=True)
        current = _stored_version(conn, schema.component)
        if current > schema.version:
            raise SchemaTooNew(current, schema.version)
        if current == 0:
            schema.metadata.create_all(conn, checkfirst=False)
        for version in range(current + 1, schema.version + 1):
            if current and version in schema.upgrades:
                schema.upgrades[version](conn)
        if current != schema.version:
            _store_version(conn, schema.component, schema.version)
    return schema.version


def _stored_version(conn: Connection, component: str) -> int:
    """The store's version; from the legacy one-row table only while no store has a row of its own (that file was
    one store's, and the first store to open it adopts it)."""
    inspector = sa.inspect(conn)
    if inspector.has_table(VERSIONS.name):
        row = conn.execute(sa.select(VERSIONS.c.version).where(VERSIONS.c.component == component)).first()
        if row is not None:
            return int(row[0])
        if conn.scalar(sa.select(sa.func.count()).select_from(VERSIONS)):
            return 0
    if inspector.has_table(LEGACY_VERSION_TABLE):
        row = conn.execute(sa.text(f"SELECT version FROM {LEGACY_VERSION_TABLE}")).first()
        return int(row[0]) if row else 0
    return 0


def _store_version(conn: Connection, component: str, version: int) -> None:
    updated = conn.execute(VERSIONS.update().where(VERSIONS.c.component == component).values(version=version))
    if not updated.rowcount:
        conn.execute(VERSIONS.insert().values(component=component, version=version))


def _sqlite_engine(url: URL, timeout: float, synchronous: str) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # pool_size connections stay open: when the last connection to a WAL file closes, SQLite checkpoints the log into
    # the file and deletes it, three more fsyncs at every change (measured: a job submit's p50 from 20 ms to 8 ms)
    engine = sa.create_engine(
        url,
        connect_args={"timeout": timeout, "check_same_thread": False},
        poolclass=sa.pool.QueuePool,
        pool_size=4,
        max_overflow=-1,
    )

    @sa.event.listens_for(engine, "connect")
    def _configure(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # the driver opens no transaction of its own: `_begin` does
        dbapi_conn.execute("PRAGMA journal_mode=WAL")
        dbapi_conn.execute(f"PRAGMA synchronous={synchronous}")

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")

    return engine


def _server_engine(url: URL, stalled_after: float) -> Engine:
    # pre_ping: a connection the server dropped (a restart, an idle timeout) is replaced, not handed out broken;
    # connect_timeout: a server that never answers fails the start in seconds, not after the system's two minutes
    connect_args = {} if "connect_timeout" in url.query else {"connect_timeout": CONNECT_TIMEOUT}
    engine = sa.create_engine(
        url,
        connect_args=connect_args,
        pool_size=5,
        max_overflow=15,
        pool_pre_ping=True,
        pool_timeout=DEFAULT_TIMEOUT,
    )

    @sa.event.listens_for(engine, "connect")
    def _configure(dbapi_conn: Any, _record: Any) -> None:
        # a SET, not the `options` startup parameter: connection poolers (PgBouncer) refuse that one
        with dbapi_conn.cursor() as cursor:
            cursor.execute(f"SET idle_in_transaction_session_timeout = {max(1, round(stalled_after * 1000))}")
        dbapi_conn.commit()

    return engine


def _lock_key(name: str) -> int:
    """A PostgreSQL advisory lock's key (a signed 64-bit integer) for a name."""
    return zlib.crc32(name.encode()) - 2**31


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
