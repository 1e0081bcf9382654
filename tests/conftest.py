from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from sd_prompt_templates.wildcards import WildcardLibrary


def write_files(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def wildcard_dir(tmp_path: Path) -> Path:
    return write_files(
        tmp_path / "wildcards",
        {
            "colors.txt": "# comment\nred\n\nblue\n",
            "animals/pets.txt": "cat\ndog\n",
            "animals/birds.yaml": "birds: [owl, hawk]\n",
            "nested.txt": "{light|dark} __colors__\n",
        },
    )


@pytest.fixture
def wildcards(wildcard_dir: Path) -> WildcardLibrary:
    return WildcardLibrary([wildcard_dir], rescan_interval=0)


# PostgreSQL: the stores' tests run on SQLite (a file in tmp_path) and, where a server is given, on PostgreSQL too.
# SD_PROMPT_TEMPLATES_TEST_DATABASE_URL is an administrator's URL (.ci/run exports
# postgresql://postgres@127.0.0.1:5432/postgres when such a server answers); each test gets a database of its own,
# created for it and dropped after it. Without the variable those tests skip, and tests/run-stacks.sh says so.
TEST_DATABASE_ENV = "SD_PROMPT_TEMPLATES_TEST_DATABASE_URL"
POSTGRES_SKIP_REASON = f"PostgreSQL tests: set {TEST_DATABASE_ENV} (.ci/run does)"


def _libpq_url(url: str, database: str | None = None) -> str:
    """`url` as libpq (psycopg) reads it: no SQLAlchemy driver suffix (postgresql+psycopg://), optionally another
    database."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped after the test (whoever is still connected)."""
    admin = os.environ.get(TEST_DATABASE_ENV, "").strip()
    if not admin:
        pytest.skip(POSTGRES_SKIP_REASON)
    import psycopg

    name = f"spt_test_{secrets.token_hex(6)}"
    with psycopg.connect(_libpq_url(admin), autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _libpq_url(admin, name)
    finally:
        with psycopg.connect(_libpq_url(admin), autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_target(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where a store keeps its data, once per database kind: a SQLite file, or a new PostgreSQL database's URL."""
    if request.param == "sqlite":
        return tmp_path / "store.sqlite3"
    return str(request.getfixturevalue("pg_url"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that takes pg_url itself is a PostgreSQL test too: `-m postgres` selects it, `-m "not postgres"`
    leaves it out."""
    for item in items:
        if "pg_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)
