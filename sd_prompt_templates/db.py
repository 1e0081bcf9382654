"""SQLite plumbing shared by the stores (the template library, next the jobs): connections, transactions and
schema migrations, through the standard library only.

- WAL journal with synchronous=FULL: a crash or power cut mid-write leaves the last committed state.
- Connections are in autocommit mode (`isolation_level=None`): transactions are explicit, one `transaction()` per
  write, opened with `BEGIN IMMEDIATE` so that concurrent writers queue (up to `timeout` seconds) rather than
  interleave, and readers never block.
- The schema carries its version in a `schema_version` table (one row); `migrate()` applies the steps above it,
  in one transaction with the version update: all of them land, or none.

A store holds a `Database` and opens a short-lived connection per operation (`read()` / `write()`), so one store
serves every thread.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from itertools import pairwise
from pathlib import Path

DEFAULT_TIMEOUT = 30.0  # seconds a writer waits for another's transaction before "database is locked"

Migration = tuple[int, str]
"""One step of a schema: (the version it brings the schema to, its SQL statements separated by ';')."""


class SchemaTooNew(Exception):
    """The file's schema is newer than any migration this code knows: it was written by a newer version."""

    def __init__(self, found: int, known: int) -> None:
        self.found, self.known = found, known
        super().__init__(f"schema version {found} is newer than {known}, the latest this code knows")


def connect(
    path: str | os.PathLike[str], *, timeout: float = DEFAULT_TIMEOUT, synchronous: str = "FULL"
) -> sqlite3.Connection:
    """A connection in autocommit mode, rows as `sqlite3.Row`, usable from any thread (one thread at a time: open
    one per operation). synchronous=FULL survives a power cut; NORMAL (in WAL mode) survives the process being
    killed at any point, and a power cut may lose the last transactions, never the file."""
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA synchronous={synchronous}")
    return conn


def enable_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to the WAL journal (kept in the file: once is enough)."""
    conn.execute("PRAGMA journal_mode=WAL")


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction (`BEGIN IMMEDIATE`): committed whole when the block ends, rolled back whole if it
    raises (anything, KeyboardInterrupt included)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def schema_version(conn: sqlite3.Connection) -> int:
    """The version the file's schema is at; 0 for a file no migration has touched."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone() is None:
        return 0
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> int:
    """Bring the schema up to the last of `migrations` (versions strictly increasing, from 1) and return that
    version. Steps at or below the file's version are skipped, so each applies once; the steps above it and the
    new version are written in one transaction. Raises SchemaTooNew, changing nothing, if the file is ahead."""
    versions = [version for version, _ in migrations]
    if any(v < 1 for v in versions) or any(a >= b for a, b in pairwise(versions)):
        raise ValueError(f"migration versions must be positive and strictly increasing, not {versions}")
    latest = versions[-1] if versions else 0
    with transaction(conn):
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        current = int(row[0]) if row else 0
        if current > latest:
            raise SchemaTooNew(current, latest)
        for version, script in migrations:
            if version > current:
                for statement in statements(script):
                    conn.execute(statement)
        if row is None:
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (latest,))
        elif current != latest:
            conn.execute("UPDATE schema_version SET version = ?", (latest,))
    return latest


def statements(script: str) -> list[str]:
    """The statements of an SQL script, one by one (`executescript` would commit the open transaction first). A ';'
    inside a string literal or a trigger body does not end a statement."""
    found: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                found.append(pending.strip())
            pending = ""
    if pending.strip(" \t\r\n;"):  # an unfinished statement: SQLite will say what is wrong with it
        found.append(pending.strip())
    return found


class Database:
    """One SQLite file: created (with its folder) if absent, switched to WAL and migrated when opened; then a
    fresh connection for each read or write."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        migrations: Sequence[Migration],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        synchronous: str = "FULL",
    ) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.synchronous = synchronous
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self.connect()) as conn:
            enable_wal(conn)
            migrate(conn, migrations)

    def connect(self) -> sqlite3.Connection:
        return connect(self.path, timeout=self.timeout, synchronous=self.synchronous)

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A connection for reads, closed when the block ends."""
        with closing(self.connect()) as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A connection inside one transaction (see `transaction`), closed when the block ends."""
        with closing(self.connect()) as conn, transaction(conn):
            yield conn

    def schema_version(self) -> int:
        with self.read() as conn:
            return schema_version(conn)
