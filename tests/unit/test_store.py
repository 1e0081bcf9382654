import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sd_prompt_templates.library import (
    InvalidTemplate,
    NewerSchema,
    StaleVersion,
    TemplateExists,
    TemplateNotFound,
    TemplateStore,
    VariableSpec,
    default_library_path,
    resolve_variables,
)

ROOT = Path(__file__).resolve().parents[2]


def template(name="cat", **fields):
    return {
        "name": name,
        "prompt": "a {red|blue} ${animal}",
        "variables": [{"name": "animal", "default": "cat"}],
        **fields,
    }


@pytest.fixture
def store(database_target):
    """The library on each database it can live in: a SQLite file, a PostgreSQL database (the `postgres` runs)."""
    return TemplateStore(database_target)


def test_create_get_list_round_trip(store):
    created = store.create(template(title="Cats", tags=["Pets", "pets", " animals "], parameters={"steps": 20}))
    assert created.version == 1 and created.created_at == created.updated_at
    got = store.get("cat")
    assert got == created
    assert got.tags == ("pets", "animals")
    assert got.parameters == {"steps": 20}
    assert got.variables[0].name == "animal" and got.variables[0].default == "cat"
    assert [r.name for r in store.list()] == ["cat"]


def test_search_and_tag_filter(store):
    store.create(template("cat", title="Fluffy", tags=["pets"]))
    store.create(template("dog", description="a loyal friend"))
    assert [r.name for r in store.list(query="FLUFF")] == ["cat"]
    assert [r.name for r in store.list(query="loyal")] == ["dog"]
    assert [r.name for r in store.list(tag="pets")] == ["cat"]
    assert [r.name for r in store.list(query="o")] == ["dog"]


def test_duplicate_name_is_refused(store):
    store.create(template())
    with pytest.raises(TemplateExists):
        store.create(template())


def test_update_bumps_version_and_stale_update_is_refused(store):
    store.create(template())
    updated = store.update("cat", template(title="v2"), expected_version=1)
    assert updated.version == 2 and updated.title == "v2"
    with pytest.raises(StaleVersion) as info:
        store.update("cat", template(title="lost"), expected_version=1)
    assert info.value.actual == 2
    assert store.get("cat").title == "v2"


def test_rename_keeps_created_at_and_refuses_taken_names(store):
    first = store.create(template("cat"))
    store.create(template("dog"))
    with pytest.raises(TemplateExists):
        store.update("cat", template("dog"), expected_version=1)
    renamed = store.update("cat", template("kitten"), expected_version=1)
    assert renamed.created_at == first.created_at and renamed.version == 2
    with pytest.raises(TemplateNotFound):
        store.get("cat")


def test_delete_with_and_without_version(store):
    store.create(template("cat"))
    with pytest.raises(StaleVersion):
        store.delete("cat", expected_version=5)
    store.delete("cat", expected_version=1)
    with pytest.raises(TemplateNotFound):
        store.delete("cat")


def test_concurrent_updates_from_the_same_version_exactly_one_wins(store):
    store.create(template())
    results: list[str] = []

    def write(i: int) -> None:
        try:
            store.update("cat", template(title=f"writer {i}"), expected_version=1)
            results.append("ok")
        except StaleVersion:
            results.append("stale")

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok"] + ["stale"] * 7
    assert store.get("cat").version == 2


@pytest.mark.parametrize(
    ("fields", "field", "position"),
    [
        ({"name": "Has Space"}, "name", None),
        ({"prompt": "   "}, "prompt", None),
        ({"prompt": "a\n {b|c"}, "prompt", (2, 2)),
        ({"negative_prompt": "x ${undeclared}"}, "negative_prompt", (1, 3)),
        (
            {"variables": [{"name": "m", "type": "choice", "choices": ["a"], "default": "b"}]},
            "variables.0.default",
            None,
        ),
        ({"variables": [{"name": "n", "type": "number", "default": "many"}]}, "variables.0.default", None),
        ({"variables": [{"name": "x"}, {"name": "x"}]}, "variables.1.name", None),
        ({"variables": [{"name": "x", "type": "date"}]}, "variables.0.type", None),
        ({"variables": [{"name": "x", "colour": 1}]}, "variables.0.colour", None),
        ({"tags": "pets"}, "tags", None),
        ({"parameters": {"steps": float("nan")}}, "parameters.steps", None),
        ({"surprise": 1}, "surprise", None),
    ],
)
def test_invalid_templates_name_the_field_and_position(store, fields, field, position):
    with pytest.raises(InvalidTemplate) as info:
        store.create({**template(), **fields})
    problems = {p.field: p for p in info.value.problems}
    assert field in problems
    if position:
        assert (problems[field].line, problems[field].column) == position
    assert store.list() == []


def test_template_defaults_and_definitions_count_as_declared(store):
    store.create({"name": "x", "prompt": "${a=!{1|2}} ${a} ${b:dflt}"})


def test_resolve_variables_types_defaults_and_unknown_names():
    specs = (
        VariableSpec("subject", "text", "cat"),
        VariableSpec("mood", "choice", "calm", ("calm", "wild")),
        VariableSpec("lens", "number", 85),
    )
    assert resolve_variables(specs, {}) == {"subject": "cat", "mood": "calm", "lens": "85"}
    assert resolve_variables(specs, {"lens": "50.5", "mood": "wild"})["lens"] == "50.5"
    with pytest.raises(InvalidTemplate) as info:
        resolve_variables(specs, {"mood": "sad", "lens": "wide", "colour": "red"})
    assert {p.field for p in info.value.problems} == {"variables.mood", "variables.lens", "variables.colour"}


def test_export_import_round_trip(store, tmp_path):
    store.create(template("cat", tags=["pets"]))
    store.create(template("dog"))
    document = json.loads(json.dumps(store.export()))
    other = TemplateStore(tmp_path / "other.sqlite3")
    report = other.import_(document)
    assert report.created == ["cat", "dog"]
    assert [r.draft() for r in other.list()] == [r.draft() for r in store.list()]


def test_import_conflicts_error_skip_replace(store):
    store.create(template("cat", title="mine"))
    document = {
        "format": "sd-prompt-templates",
        "format_version": 1,
        "templates": [template("cat", title="theirs"), template("new")],
    }
    with pytest.raises(TemplateExists):
        store.import_(document)
    assert [r.name for r in store.list()] == ["cat"]  # nothing of the failed import landed
    assert store.import_(document, on_conflict="skip").skipped == ["cat"]
    assert store.get("cat").title == "mine"
    report = store.import_(document, on_conflict="replace")
    assert report.replaced == ["cat", "new"]
    assert store.get("cat").title == "theirs" and store.get("cat").version == 2


def test_import_validates_everything_before_writing(store):
    document = {
        "format": "sd-prompt-templates",
        "format_version": 1,
        "templates": [template("good"), template("bad", prompt="{oops"), template("good")],
    }
    with pytest.raises(InvalidTemplate) as info:
        store.import_(document)
    fields = {p.field for p in info.value.problems}
    assert fields == {"templates.1.prompt", "templates.2.name"}
    assert store.list() == []


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"format": "other"},
        {"format": "sd-prompt-templates", "format_version": 99, "templates": []},
        {"format": "sd-prompt-templates", "format_version": 1, "templates": {}},
    ],
)
def test_import_refuses_foreign_documents(store, document):
    with pytest.raises(InvalidTemplate):
        store.import_(document)


def test_examples_are_installed_once_and_valid(store):
    report = store.install_examples()
    assert report is not None and len(report.created) >= 3
    store.delete(report.created[0])
    assert store.install_examples() is None
    assert report.created[0] not in [r.name for r in store.list()]


def test_schema_version_table_and_reopen(tmp_path):
    path = tmp_path / "t.sqlite3"
    TemplateStore(path).create(template())
    reopened = TemplateStore(path)
    assert reopened.schema_version() == 1 and reopened.get("cat").name == "cat"
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_schema_is_refused_not_downgraded(tmp_path):
    path = tmp_path / "t.sqlite3"
    TemplateStore(path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_versions SET version = 99 WHERE component = 'library'")
    with pytest.raises(NewerSchema, match="newer version"):
        TemplateStore(path)


def test_default_library_path(monkeypatch, tmp_path):
    monkeypatch.delenv("SD_PROMPT_TEMPLATES_LIBRARY", raising=False)
    assert default_library_path(tmp_path) == tmp_path / "prompt-templates" / "templates.sqlite3"
    monkeypatch.setenv("SD_PROMPT_TEMPLATES_LIBRARY", str(tmp_path / "elsewhere.db"))
    assert default_library_path(tmp_path) == tmp_path / "elsewhere.db"


CRASH_SCRIPT = """
import os, sys
from sd_prompt_templates.library import store as store_module
from sd_prompt_templates.library import TemplateStore

real_insert, calls = store_module._insert, []
def insert_then_die(*args, **kwargs):
    calls.append(1)
    if len(calls) == 50:
        os._exit(137)  # the process dies mid-transaction: no rollback, no cleanup
    return real_insert(*args, **kwargs)
store_module._insert = insert_then_die
store = TemplateStore(sys.argv[1])
templates = [{"name": f"t{i}", "prompt": "p {a|b}"} for i in range(100)]
store.import_({"format": "sd-prompt-templates", "format_version": 1, "templates": templates})
"""


def test_a_crash_mid_write_leaves_the_library_intact(tmp_path):
    path = tmp_path / "t.sqlite3"
    store = TemplateStore(path)
    store.create(template("keep"))
    proc = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, str(path)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 137, proc.stderr
    after = TemplateStore(path)
    assert [r.name for r in after.list()] == ["keep"]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    after.create(template("next"))  # and it is still writable
