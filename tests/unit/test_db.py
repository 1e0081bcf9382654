"""The database plumbing of every store (sd_prompt_templates/db.py), on SQLite and on PostgreSQL alike (the
`database_target` fixture: a SQLite file, then a fresh PostgreSQL database where one is given): upgrades apply once,
in order, all or nothing; a newer schema is refused; writes commit or roll back whole and are serialized, across
threads and processes; SQLite is in WAL mode and its readers never wait; a URL is never shown with its password."""

from __future__ import annotations

import multiprocessing
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sd_prompt_templates import db

# -- a small store, in three versions -----------------------------------------------------------------------------
# version 1: log (the upgrade steps that ran, in order) and items (name); 2 adds items.size; 3 adds the table tags.

LOG = sa.table("log", sa.column("id", sa.Integer), sa.column("step", sa.Integer))
ITEMS = sa.table("items", sa.column("name", sa.String), sa.column("size", sa.Integer))


def logged(step: int, upgrade: db.Upgrade) -> db.Upgrade:
    """`upgrade`, then a row in log saying it ran."""

    def run(conn: sa.Connection) -> None:
        upgrade(conn)
        conn.execute(LOG.insert().values(step=step))

    return run


def make_schema(version: int, component: str = "test", extra: dict[int, db.Upgrade] | None = None) -> db.Schema:
    metadata = sa.MetaData()
    sa.Table(
        "log",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("step", sa.Integer, nullable=False),
    )
    columns = [sa.Column("name", sa.String(64), primary_key=True)]
    if version >= 2:
        columns.append(sa.Column("size", sa.Integer, nullable=False, server_default="0"))
    items = sa.Table("items", metadata, *columns)
    upgrades: dict[int, db.Upgrade] = {}
    if version >= 2:
        upgrades[2] = logged(2, db.add_columns(items, "size"))
    if version >= 3:
        tags = sa.Table("tags", metadata, sa.Column("tag", sa.String(32), primary_key=True))
        upgrades[3] = logged(3, db.create_tables(tags))
    upgrades.update(extra or {})
    return db.Schema(component, metadata, upgrades)


def opened(target: str | Path, schema: db.Schema, **options: object) -> db.Database:
    return db.Database(target, schema, **options)  # type: ignore[arg-type]


def steps_logged(database: db.Database) -> list[int]:
    with database.read() as conn:
        return list(conn.execute(sa.select(LOG.c.step).order_by(LOG.c.id)).scalars())


def table_names(database: db.Database) -> set[str]:
    with database.read() as conn:
        return set(sa.inspect(conn).get_table_names())


def column_names(database: db.Database, table: str) -> list[str]:
    with database.read() as conn:
        return [column["name"] for column in sa.inspect(conn).get_columns(table)]


def item_names(database: db.Database) -> list[str]:
    with database.read() as conn:
        return list(conn.execute(sa.select(ITEMS.c.name).order_by(ITEMS.c.name)).scalars())


@pytest.fixture
def databases() -> Iterator[Callable[..., db.Database]]:
    """Opens Databases and disposes of them all after the test (PostgreSQL drops a database no one is in)."""
    made: list[db.Database] = []

    def open_(target: str | Path, schema: db.Schema, **options: object) -> db.Database:
        database = opened(target, schema, **options)
        made.append(database)
        return database

    yield open_
    for database in made:
        database.dispose()


# -- schema versions ----------------------------------------------------------------------------------------------


def test_a_new_database_gets_the_current_tables_at_once(database_target, databases):
    database = databases(database_target, make_schema(3))
    assert database.schema_version() == 3
    assert {"log", "items", "tags", "schema_versions"} <= table_names(database)
    assert column_names(database, "items") == ["name", "size"]
    assert steps_logged(database) == []  # no upgrade ran: the tables were made as they are now


def test_upgrades_apply_in_order_and_once(database_target, databases):
    first = databases(database_target, make_schema(1))
    assert first.schema_version() == 1 and steps_logged(first) == []
    with first.write() as conn:
        conn.execute(ITEMS.insert().values(name="kept"))
    first.dispose()

    second = databases(database_target, make_schema(2))  # only step 2 runs
    assert second.schema_version() == 2 and steps_logged(second) == [2]
    second.dispose()

    third = databases(database_target, make_schema(3))  # only step 3 runs
    assert third.schema_version() == 3 and steps_logged(third) == [2, 3]
    third.dispose()

    again = databases(database_target, make_schema(3))  # nothing left to apply
    assert again.schema_version() == 3 and steps_logged(again) == [2, 3]
    with again.read() as conn:
        assert conn.execute(sa.select(ITEMS.c.name, ITEMS.c.size)).all() == [("kept", 0)]  # the new column's default
    assert "tags" in table_names(again)


def test_an_old_database_gets_every_missing_step_in_order(database_target, databases):
    databases(database_target, make_schema(1)).dispose()
    database = databases(database_target, make_schema(3))  # 1 → 3 in one go
    assert database.schema_version() == 3 and steps_logged(database) == [2, 3]


def test_versions_may_skip_numbers(database_target, databases):
    databases(database_target, make_schema(1)).dispose()
    noted = db.create_tables(sa.Table("notes", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True)))
    database = databases(database_target, make_schema(2, extra={5: logged(5, noted)}))
    assert database.schema.version == 5
    assert database.schema_version() == 5 and steps_logged(database) == [2, 5]


def broken_sql(conn: sa.Connection) -> None:
    conn.execute(sa.text("INSERT INTO missing VALUES (1)"))


def broken_python(conn: sa.Connection) -> None:
    raise RuntimeError("the step found something missing")


@pytest.mark.parametrize("broken", [broken_sql, broken_python], ids=["sql-error", "python-error"])
def test_a_failed_upgrade_rolls_back_whole_and_keeps_the_version(database_target, databases, broken):
    databases(database_target, make_schema(1)).dispose()
    # steps 2 and 3 succeed (a column, a table, two log rows), then step 4 fails: none of it may stay
    with pytest.raises(Exception, match="missing"):
        opened(database_target, make_schema(3, extra={4: broken}))
    database = databases(database_target, make_schema(1))
    assert database.schema_version() == 1
    assert steps_logged(database) == []
    assert column_names(database, "items") == ["name"]
    assert "tags" not in table_names(database)
    database.dispose()
    fixed = databases(database_target, make_schema(3))  # the fixed code upgrades it as if nothing had happened
    assert fixed.schema_version() == 3 and steps_logged(fixed) == [2, 3]


def test_a_failed_first_creation_leaves_nothing(database_target, databases):
    broken = sa.MetaData()
    sa.Table("a_first", broken, sa.Column("id", sa.Integer, primary_key=True))  # made first, then undone
    sa.Table("b_broken", broken, sa.Column("x", sa.Integer), sa.CheckConstraint("no_such_column > 0"))
    with pytest.raises(Exception, match="no_such_column"):
        opened(database_target, db.Schema("test", broken))
    database = databases(database_target, make_schema(1))  # the fixed code starts afresh
    assert database.schema_version() == 1
    assert table_names(database) == {"log", "items", "schema_versions"}


def test_a_newer_schema_is_refused_and_left_alone(database_target, databases):
    newest = databases(database_target, make_schema(3))
    with newest.write() as conn:
        conn.execute(ITEMS.insert().values(name="a", size=7))
    newest.dispose()
    with pytest.raises(db.SchemaTooNew) as info:
        opened(database_target, make_schema(2))
    assert (info.value.found, info.value.known) == (3, 2)
    again = databases(database_target, make_schema(3))
    assert again.schema_version() == 3
    assert column_names(again, "items") == ["name", "size"] and "tags" in table_names(again)
    with again.read() as conn:
        assert conn.execute(sa.select(ITEMS.c.name, ITEMS.c.size)).all() == [("a", 7)]


@pytest.mark.parametrize("versions", [[1], [0], [-1], [1, 2], [2, 1]])
def test_upgrade_versions_start_at_2(versions):
    with pytest.raises(ValueError, match="start at version 2"):
        db.Schema("test", sa.MetaData(), {v: broken_python for v in versions})


def test_a_schema_without_upgrades_is_version_1():
    assert db.Schema("test", sa.MetaData()).version == 1
    assert db.Schema("test", sa.MetaData(), {2: broken_python, 7: broken_python}).version == 7


def test_stores_sharing_a_database_keep_their_own_versions(database_target, databases):
    one = databases(database_target, make_schema(3, component="one"))
    metadata = sa.MetaData()
    sa.Table("other_things", metadata, sa.Column("id", sa.Integer, primary_key=True))
    two = databases(database_target, db.Schema("two", metadata))
    assert one.schema_version() == 3 and two.schema_version() == 1
    with two.read() as conn:
        rows = conn.execute(sa.text("SELECT component, version FROM schema_versions ORDER BY component")).all()
    assert [tuple(r) for r in rows] == [("one", 3), ("two", 1)]


# -- legacy SQLite files (written before schema_versions) ----------------------------------------------------------


def legacy_file(path: Path, version: int = 1) -> Path:
    """A file as the raw-sqlite3 stores left it: their tables and a one-row `schema_version` table."""
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(
            f"""
            CREATE TABLE schema_version (version INTEGER NOT NULL);
            INSERT INTO schema_version VALUES ({version});
            CREATE TABLE log (id INTEGER PRIMARY KEY AUTOINCREMENT, step INTEGER NOT NULL);
            CREATE TABLE items (name TEXT PRIMARY KEY);
            INSERT INTO items VALUES ('old');
            """
        )
    return path


def test_a_legacy_sqlite_file_is_adopted_at_its_version_and_upgraded(tmp_path, databases):
    path = legacy_file(tmp_path / "old.sqlite3")
    database = databases(path, make_schema(3))
    assert database.schema_version() == 3
    assert steps_logged(database) == [2, 3]  # from 1: the tables were not made again
    with database.read() as conn:
        assert conn.execute(sa.select(ITEMS.c.name, ITEMS.c.size)).all() == [("old", 0)]
        assert conn.execute(sa.text("SELECT component, version FROM schema_versions")).all() == [("test", 3)]
    database.dispose()
    again = databases(path, make_schema(3))  # read once: from now on schema_versions says
    assert again.schema_version() == 3 and steps_logged(again) == [2, 3]


def test_a_legacy_sqlite_file_at_the_current_version_is_adopted_as_it_is(tmp_path, databases):
    path = legacy_file(tmp_path / "old.sqlite3")
    database = databases(path, make_schema(1))
    assert database.schema_version() == 1 and item_names(database) == ["old"] and steps_logged(database) == []


def test_a_legacy_sqlite_file_newer_than_the_code_is_refused(tmp_path):
    path = legacy_file(tmp_path / "old.sqlite3", version=9)
    with pytest.raises(db.SchemaTooNew) as info:
        opened(path, make_schema(3))
    assert (info.value.found, info.value.known) == (9, 3)


def test_a_legacy_version_is_not_taken_by_another_store_in_the_same_file(tmp_path, databases):
    path = legacy_file(tmp_path / "old.sqlite3")  # the old version 1 of component "test"
    databases(path, make_schema(2)).dispose()  # adopted and upgraded: schema_versions has ("test", 2)
    metadata = sa.MetaData()
    sa.Table("other_things", metadata, sa.Column("id", sa.Integer, primary_key=True))
    other = databases(path, db.Schema("other", metadata))  # a new store in the same file (a shared sqlite:// URL)
    assert "other_things" in table_names(other)


# -- transactions ----------------------------------------------------------------------------------------------


def test_a_write_commits_when_the_block_ends(database_target, databases):
    database = databases(database_target, make_schema(3))
    before = database.writes
    with database.write() as conn:
        conn.execute(ITEMS.insert().values(name="a"))
        conn.execute(ITEMS.insert().values(name="b"))
    assert database.writes == before + 1  # whoever waits on `changed` is woken
    assert item_names(database) == ["a", "b"]
    other = databases(database_target, make_schema(3))  # committed for everyone, not only this engine
    assert item_names(other) == ["a", "b"]


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_a_write_that_raises_rolls_back_whole(database_target, databases, error):
    database = databases(database_target, make_schema(3))
    before = database.writes
    with pytest.raises(error), database.write() as conn:
        conn.execute(ITEMS.insert().values(name="a"))
        conn.execute(ITEMS.insert().values(name="b"))
        raise error("stop")
    assert item_names(database) == []
    assert database.writes == before
    # and nothing is left holding the write lock: another Database (another process, say) writes at once
    other = databases(database_target, make_schema(3), timeout=2.0)
    started = time.monotonic()
    with other.write() as conn:
        conn.execute(ITEMS.insert().values(name="c"))
    assert time.monotonic() - started < 2.0
    with database.write() as conn:  # and this one's pooled connections are clean
        conn.execute(ITEMS.insert().values(name="d"))
    assert item_names(database) == ["c", "d"]


def test_a_failed_statement_rolls_back_the_whole_write(database_target, databases):
    database = databases(database_target, make_schema(3))
    with pytest.raises(sa.exc.IntegrityError), database.write() as conn:
        conn.execute(ITEMS.insert().values(name="a"))
        conn.execute(ITEMS.insert().values(name="a"))  # the primary key again
    assert item_names(database) == []


COUNTER_METADATA = sa.MetaData()
COUNTER = sa.Table(
    "counter",
    COUNTER_METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("v", sa.Integer, nullable=False),
)
COUNTER_SCHEMA = db.Schema("counter", COUNTER_METADATA)


def counter_database(target: str | Path, **options: object) -> db.Database:
    database = opened(target, COUNTER_SCHEMA, **options)
    with database.write() as conn:
        if conn.execute(sa.select(COUNTER.c.v)).first() is None:
            conn.execute(COUNTER.insert().values(id=1, v=0))
    return database


def counted(database: db.Database) -> int:
    with database.read() as conn:
        return int(conn.execute(sa.select(COUNTER.c.v)).scalar_one())


def increment(database: db.Database) -> None:
    """Read, then write what was read plus one: an increment is lost unless writers are serialized."""
    with database.write() as conn:
        value = conn.execute(sa.select(COUNTER.c.v)).scalar_one()
        time.sleep(0.001)  # widen the window a lost update needs
        conn.execute(COUNTER.update().values(v=value + 1))


def test_writers_queue_rather_than_interleave(database_target):
    database = counter_database(database_target)
    try:

        def bump() -> None:
            for _ in range(10):
                increment(database)

        threads = [threading.Thread(target=bump) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert counted(database) == 40
    finally:
        database.dispose()


def increment_in_a_process(target: str, times: int, ready: Any) -> None:
    """A process of its own (spawned: nothing inherited) with a Database of its own."""
    database = counter_database(target)
    try:
        ready.wait(timeout=120)
        for _ in range(times):
            increment(database)
    finally:
        database.dispose()


def test_two_processes_lose_no_increment(database_target):
    counter_database(database_target).dispose()  # created (and migrated) before they start
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(2)
    processes = [
        context.Process(target=increment_in_a_process, args=(str(database_target), 25, ready)) for _ in range(2)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=180)
    assert [process.exitcode for process in processes] == [0, 0]
    database = opened(database_target, COUNTER_SCHEMA)
    try:
        assert counted(database) == 50
    finally:
        database.dispose()


def test_a_read_does_not_wait_for_a_writer(database_target):
    database = counter_database(database_target)
    elsewhere = counter_database(database_target)  # as another process would read (opened first: opening writes)
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with database.write() as conn:
            conn.execute(COUNTER.update().values(v=1))
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(10)
        started = time.monotonic()
        seen = (counted(database), counted(elsewhere))  # the last committed state, at once
        waited = time.monotonic() - started
    finally:
        release.set()
        thread.join()
    try:
        assert seen == (0, 0) and waited < 1.0
        assert (counted(database), counted(elsewhere)) == (1, 1)
    finally:
        database.dispose()
        elsewhere.dispose()


def test_a_write_a_stalled_process_left_open_is_ended_by_the_server_and_the_others_go_on(pg_url):
    stalled = counter_database(pg_url, stalled_after=0.5)
    other = counter_database(pg_url)  # another WebUI, waiting for the write lock the stalled one holds
    holding, woken = threading.Event(), threading.Event()
    failed: list[BaseException] = []

    def stalled_writer() -> None:
        try:
            with stalled.write() as conn:
                conn.execute(COUNTER.update().values(v=100))
                holding.set()
                woken.wait(30)  # a process stopped mid-write (SIGSTOP, a frozen VM), as the server sees it
                conn.execute(COUNTER.update().values(v=101))
        except sa.exc.DBAPIError as exc:
            failed.append(exc)

    thread = threading.Thread(target=stalled_writer)
    thread.start()
    try:
        assert holding.wait(10)
        started = time.monotonic()
        increment(other)
        waited = time.monotonic() - started
    finally:
        woken.set()
        thread.join()
    try:
        assert waited < 10.0, f"the other writer waited {waited:.1f} s for a stalled one"
        assert len(failed) == 1 and "idle-in-transaction" in str(failed[0])
        assert counted(other) == 1  # nothing of the stalled write, and the other's whole
        increment(stalled)  # once awake, the stalled store writes again, on a new connection
        assert counted(other) == 2
    finally:
        stalled.dispose()
        other.dispose()


def test_a_server_database_ends_writes_left_idle_for_five_seconds(pg_url, databases):
    database = databases(pg_url, COUNTER_SCHEMA)
    with database.read() as conn:
        assert conn.exec_driver_sql("SHOW idle_in_transaction_session_timeout").scalar() == "5s"


# -- SQLite's settings ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("synchronous", "level"), [("FULL", 2), ("NORMAL", 1)])
def test_sqlite_is_in_wal_mode_with_the_synchronous_level_asked_for(tmp_path, databases, synchronous, level):
    path = tmp_path / "deep" / "folder" / "store.sqlite3"  # its folder is made
    database = databases(path, make_schema(1), synchronous=synchronous)
    assert database.path == path.resolve() and not database.shared
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with database.read() as a, database.read() as b, database.write() as c:  # every pooled connection
        for conn in (a, b, c):
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == level
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_synchronous_must_be_full_or_normal(tmp_path):
    with pytest.raises(ValueError, match="FULL or NORMAL"):
        opened(tmp_path / "x.sqlite3", make_schema(1), synchronous="OFF")


def test_a_sqlite_file_that_cannot_be_opened_is_unavailable(tmp_path):
    with pytest.raises(db.DatabaseUnavailable, match="cannot open"):
        opened(tmp_path, make_schema(1))  # a folder


def test_a_busy_sqlite_file_makes_a_writer_wait_at_most_its_timeout(tmp_path):
    path = tmp_path / "x.sqlite3"
    database = counter_database(path)
    impatient = counter_database(path, timeout=0.5)
    try:
        with database.write():
            started = time.monotonic()
            with pytest.raises(sa.exc.OperationalError, match="locked"), impatient.write():
                pass
            assert time.monotonic() - started < 5
    finally:
        database.dispose()
        impatient.dispose()


# -- URLs, and never a password ------------------------------------------------------------------------------------


def test_database_url_takes_paths_and_urls(tmp_path):
    assert db.database_url(tmp_path / "a.sqlite3").render_as_string() == f"sqlite:///{tmp_path / 'a.sqlite3'}"
    assert db.database_url("relative.sqlite3").database == str(Path("relative.sqlite3").resolve())
    for scheme in ("postgresql", "postgres"):
        url = db.database_url(f"{scheme}://u:p@h:5433/d")
        assert (url.drivername, url.host, url.port, url.database) == ("postgresql+psycopg", "h", 5433, "d")
    assert db.database_url("postgresql+psycopg://h/d").drivername == "postgresql+psycopg"


@pytest.mark.parametrize("password", ["s3cret", "p@ss:w/rd?#%"])
def test_describe_never_shows_the_password(password):
    from urllib.parse import quote

    url = db.database_url(f"postgresql://webui:{quote(password, safe='')}@db.example:5432/prompts")
    assert url.password == password
    shown = db.describe(url)
    assert password not in shown and quote(password, safe="") not in shown
    assert "webui" in shown and "db.example" in shown and "prompts" in shown


def unavailable_message(url: str, limit: float) -> str:
    pytest.importorskip("psycopg")
    started = time.monotonic()
    with pytest.raises(db.DatabaseUnavailable) as info:
        opened(url, make_schema(1))
    assert time.monotonic() - started < limit
    return str(info.value)


def test_an_unreachable_server_is_unavailable_quickly_and_named_without_its_password():
    message = unavailable_message("postgresql://webui:hunter2@127.0.0.1:1/prompts?connect_timeout=3", limit=5)
    assert "127.0.0.1" in message and "hunter2" not in message
    assert message.startswith("cannot open the database")


@contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word, as a server behind a dead proxy does."""
    accepted: list[socket.socket] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)

        def accept() -> None:
            while True:
                try:
                    accepted.append(server.accept()[0])
                except OSError:
                    return

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        try:
            yield server.getsockname()[1]
        finally:
            server.shutdown(socket.SHUT_RDWR)
            for conn in accepted:
                conn.close()


def test_a_server_that_never_answers_is_given_up_on_after_the_urls_connect_timeout():
    # db.py sets no connect timeout of its own: without connect_timeout in the URL this takes psycopg's default, 130 s
    with silent_server() as port:
        message = unavailable_message(f"postgresql://webui:hunter2@127.0.0.1:{port}/prompts?connect_timeout=2", 6)
    assert "127.0.0.1" in message and "hunter2" not in message


# -- PostgreSQL only ------------------------------------------------------------------------------------------------


def test_a_postgresql_database_is_shared_and_has_no_path(pg_url, databases):
    database = databases(pg_url, make_schema(1))
    assert database.shared and database.path is None
    assert database.url.drivername == "postgresql+psycopg"


def open_at_once(url: str, components: list[str]) -> list[str]:
    """Opens a store of each component, all at the same moment, each in its own thread; the errors they met."""
    barrier = threading.Barrier(len(components))
    errors: list[str] = []

    def open_store(component: str) -> None:
        metadata = sa.MetaData()
        sa.Table(f"{component}_things", metadata, sa.Column("id", sa.Integer, primary_key=True))
        barrier.wait(10)
        try:
            opened(url, db.Schema(component, metadata)).dispose()
        except Exception as exc:
            errors.append(f"{component}: {type(exc).__name__}: {str(exc).splitlines()[0]}")

    threads = [threading.Thread(target=open_store, args=(component,)) for component in components]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_two_stores_can_open_a_new_postgresql_database_at_once(pg_url):
    errors = []
    for round_ in range(5):  # the race is lost nearly every time; five rounds make it certain
        errors += [f"round {round_}, {error}" for error in open_at_once(pg_url, [f"library{round_}", f"jobs{round_}"])]
        engine = sa.create_engine(db.database_url(pg_url))
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("DROP TABLE IF EXISTS schema_versions"))  # a new database for the next round
        finally:
            engine.dispose()
    assert errors == []
