"""The SQLite plumbing of every store: migrations apply once, in order, all or nothing; transactions commit or roll
back whole; the file is in WAL mode."""

import sqlite3
import threading
from contextlib import closing

import pytest

from sd_prompt_templates import db

STEPS = [
    (1, "CREATE TABLE log (step INTEGER NOT NULL); INSERT INTO log VALUES (1)"),
    (2, "CREATE TABLE items (name TEXT PRIMARY KEY); INSERT INTO log VALUES (2)"),
]
THIRD = (3, "ALTER TABLE items ADD COLUMN size INTEGER NOT NULL DEFAULT 0; INSERT INTO log VALUES (3)")


def log(database: db.Database) -> list[int]:
    with database.read() as conn:
        return [row[0] for row in conn.execute("SELECT step FROM log ORDER BY rowid")]


def tables(path) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_migrations_apply_in_order_and_once(tmp_path):
    path = tmp_path / "deep" / "folder" / "x.sqlite3"
    database = db.Database(path, STEPS)
    assert database.schema_version() == 2 and log(database) == [1, 2]

    reopened = db.Database(path, STEPS)  # nothing left to apply
    assert reopened.schema_version() == 2 and log(reopened) == [1, 2]

    upgraded = db.Database(path, [*STEPS, THIRD])  # only the new step runs
    assert upgraded.schema_version() == 3 and log(upgraded) == [1, 2, 3]
    with upgraded.write() as conn:
        conn.execute("INSERT INTO items (name) VALUES ('a')")
    with upgraded.read() as conn:
        assert tuple(conn.execute("SELECT name, size FROM items").fetchone()) == ("a", 0)


def test_a_failed_migration_rolls_back_whole_and_keeps_the_version(tmp_path):
    path = tmp_path / "x.sqlite3"
    db.Database(path, STEPS[:1])
    broken = (2, "CREATE TABLE items (name TEXT); INSERT INTO log VALUES (2); INSERT INTO missing VALUES (1)")
    with pytest.raises(sqlite3.OperationalError, match="missing"):
        db.Database(path, [STEPS[0], broken])
    assert "items" not in tables(path)
    database = db.Database(path, STEPS[:1])
    assert database.schema_version() == 1 and log(database) == [1]


def test_a_failed_first_migration_leaves_an_empty_file(tmp_path):
    path = tmp_path / "x.sqlite3"
    with pytest.raises(sqlite3.OperationalError):
        db.Database(path, [(1, "CREATE TABLE a (x); CREATE TABLE a (x)")])
    assert tables(path) == set()
    with closing(db.connect(path)) as conn:
        assert db.schema_version(conn) == 0


def test_a_newer_schema_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "x.sqlite3"
    db.Database(path, [*STEPS, THIRD])
    with pytest.raises(db.SchemaTooNew) as info:
        db.Database(path, STEPS)
    assert (info.value.found, info.value.known) == (3, 2)
    assert db.Database(path, [*STEPS, THIRD]).schema_version() == 3


@pytest.mark.parametrize("versions", [(2, 1), (1, 1), (0, 1)])
def test_migration_versions_must_increase_from_one(tmp_path, versions):
    steps = [(v, "SELECT 1") for v in versions]
    with pytest.raises(ValueError, match="strictly increasing"):
        db.Database(tmp_path / "x.sqlite3", steps)


def test_versions_may_skip_numbers(tmp_path):
    database = db.Database(tmp_path / "x.sqlite3", [(1, STEPS[0][1]), (5, STEPS[1][1])])
    assert database.schema_version() == 5 and log(database) == [1, 2]


def test_statements_split_on_semicolons_outside_literals_and_triggers():
    script = """
        CREATE TABLE t (a TEXT);
        INSERT INTO t VALUES ('x; y');
        CREATE TRIGGER t_copy AFTER INSERT ON t BEGIN INSERT INTO t2 VALUES (new.a); END;
        ;
        SELECT 1
    """
    found = db.statements(script)
    assert len(found) == 4
    assert found[1] == "INSERT INTO t VALUES ('x; y');"
    assert found[2].startswith("CREATE TRIGGER") and found[2].endswith("END;")
    assert found[3].rstrip(";").strip() == "SELECT 1"


def test_a_transaction_commits_when_the_block_ends(tmp_path):
    database = db.Database(tmp_path / "x.sqlite3", STEPS)
    with database.write() as conn:
        conn.execute("INSERT INTO items VALUES ('a')")
        conn.execute("INSERT INTO items VALUES ('b')")
    with database.read() as conn:
        assert [r["name"] for r in conn.execute("SELECT name FROM items ORDER BY name")] == ["a", "b"]


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_a_transaction_that_raises_rolls_back_whole(tmp_path, error):
    database = db.Database(tmp_path / "x.sqlite3", STEPS)
    with pytest.raises(error), database.write() as conn:
        conn.execute("INSERT INTO items VALUES ('a')")
        raise error("stop")
    with database.read() as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 0
        assert not conn.in_transaction


def test_writers_queue_rather_than_interleave(tmp_path):
    """Each writer reads, then writes what it read plus one: with BEGIN IMMEDIATE no increment is lost."""
    database = db.Database(
        tmp_path / "x.sqlite3", [(1, "CREATE TABLE n (v INTEGER NOT NULL); INSERT INTO n VALUES (0)")]
    )

    def bump() -> None:
        for _ in range(10):
            with database.write() as conn:
                value = conn.execute("SELECT v FROM n").fetchone()[0]
                conn.execute("UPDATE n SET v = ?", (value + 1,))

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with database.read() as conn:
        assert conn.execute("SELECT v FROM n").fetchone()[0] == 40


def test_wal_is_on_and_connections_are_durable(tmp_path):
    path = tmp_path / "x.sqlite3"
    database = db.Database(path, STEPS)
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with database.read() as conn:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.isolation_level is None  # transactions are explicit
        assert isinstance(conn.execute("SELECT 1 AS one").fetchone(), sqlite3.Row)
