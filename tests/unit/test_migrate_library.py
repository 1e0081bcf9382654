"""`python -m sd_prompt_templates migrate-library --to URL`: a local library moves into the shared database whole or
not at all, and every refusal is one line, never a traceback. On PostgreSQL and on a second SQLite file alike."""

from __future__ import annotations

import pytest

from sd_prompt_templates.cli import main
from sd_prompt_templates.library import TemplateStore

UNREACHABLE = "postgresql://someone:hunter2@127.0.0.1:1/nowhere?connect_timeout=2"


@pytest.fixture
def local(tmp_path):
    path = tmp_path / "prompt-templates" / "templates.sqlite3"
    store = TemplateStore(path)
    store.install_examples()
    store.create({"name": "cat", "prompt": "a {black|white} cat", "tags": ["animals"]})
    store.create({"name": "dog", "prompt": "a ${size} dog", "variables": [{"name": "size", "default": "big"}]})
    return store


@pytest.fixture
def target(database_target):
    """A URL: the PostgreSQL test database, or another SQLite file (sqlite:///…)."""
    return database_target if "://" in str(database_target) else f"sqlite:///{database_target}"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["migrate-library", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_every_template_moves_with_its_fields_and_the_examples_stay_installed(capsys, local, target):
    code, out, err = run(capsys, "--from", str(local.path), "--to", target)
    assert code == 0 and err == "", err
    names = [r.name for r in local.list()]
    assert f"moved {len(names)} templates" in out and "hunter2" not in out
    shared = TemplateStore(target)
    assert [r.as_dict() for r in shared.list()] == [r.as_dict() for r in local.list()]
    assert shared.install_examples() is None  # the user's deletions of examples are not undone
    assert [r.name for r in TemplateStore(local.path).list()] == names  # the source is only read


def test_a_name_the_database_has_stops_everything(capsys, local, target):
    shared = TemplateStore(target)
    shared.create({"name": "dog", "prompt": "their dog"})
    code, out, err = run(capsys, "--from", str(local.path), "--to", target)
    assert code == 2 and out == ""
    assert err.startswith("error: nothing was moved") and "'dog'" in err and "Traceback" not in err
    assert [r.name for r in shared.list()] == ["dog"] and shared.get("dog").prompt == "their dog"


@pytest.mark.parametrize(("on_conflict", "prompt"), [("skip", "their dog"), ("replace", "a ${size} dog")])
def test_on_conflict_skip_or_replace(capsys, local, target, on_conflict, prompt):
    shared = TemplateStore(target)
    shared.create({"name": "dog", "prompt": "their dog"})
    code, out, _ = run(capsys, "--from", str(local.path), "--to", target, "--on-conflict", on_conflict)
    assert code == 0 and ("1 replaced" if on_conflict == "replace" else "1 kept as they were") in out
    assert shared.get("dog").prompt == prompt
    assert {r.name for r in shared.list()} == {r.name for r in local.list()}


def test_a_missing_source_is_refused_and_no_file_is_made(capsys, tmp_path, target):
    missing = tmp_path / "nothing" / "templates.sqlite3"
    code, out, err = run(capsys, "--from", str(missing), "--to", target)
    assert code == 2 and "no library file" in err and not missing.exists() and not missing.parent.exists()


def test_the_default_source_is_the_library_under_the_current_folder(capsys, local, target, monkeypatch):
    monkeypatch.delenv("SD_PROMPT_TEMPLATES_LIBRARY", raising=False)
    monkeypatch.chdir(local.path.parent.parent)
    code, out, _ = run(capsys, "--to", target)
    assert code == 0 and str(local.path.name) in out


def test_an_unreachable_database_is_one_line_without_the_password(capsys, local):
    code, out, err = run(capsys, "--from", str(local.path), "--to", UNREACHABLE)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "127.0.0.1" in err and "hunter2" not in err and "Traceback" not in err


@pytest.mark.parametrize("url", ["postgresql://[::1", "nonsense://x/y"])
def test_a_malformed_url_is_one_line(capsys, local, url):
    code, _, err = run(capsys, "--from", str(local.path), "--to", url)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
