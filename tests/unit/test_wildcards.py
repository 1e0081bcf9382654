import os
import time

import pytest

from sd_prompt_templates.engine import Expansion, WildcardLookupError
from sd_prompt_templates.wildcards import WildcardLibrary, check_name
from tests.conftest import write_files


def test_dynamic_prompts_layout(tmp_path):
    root = write_files(
        tmp_path,
        {
            "colors.txt": "\ufeffred\n  # comment\n\n  blue  \n",
            "people/artists.txt": "monet\n",
            "sets/wear.yaml": "clothes:\n  tops: [shirt, '2::tee', {text: coat, weight: 3}]\n  shoes: boots\n",
            "packs.json": '{"moods": {"happy": ["joy", "glee"]}}',
            ".hidden/x.txt": "no\n",
            "notes.md": "ignored\n",
        },
    )
    lib = WildcardLibrary([root])
    assert lib.names() == ["colors", "moods/happy", "people/artists", "sets/clothes/shoes", "sets/clothes/tops"]
    assert [e.text for e in lib.resolve("colors")] == ["red", "blue"]
    tops = lib.resolve("sets/clothes/tops")
    assert [(e.text, e.weight) for e in tops] == [("shirt", 1.0), ("tee", 2.0), ("coat", 3.0)]
    assert tops[2].origin == "sets/wear.yaml, key clothes/tops item 3"
    assert [e.text for e in lib.resolve("sets/clothes/shoes")] == ["boots"]


def test_glob_unions_matches_in_name_order(wildcard_dir):
    lib = WildcardLibrary([wildcard_dir])
    assert [e.text for e in lib.resolve("animals/*")] == ["owl", "hawk", "cat", "dog"]
    with pytest.raises(WildcardLookupError, match="no wildcard matches"):
        lib.resolve("zzz*")


def test_first_root_wins(tmp_path):
    first = write_files(tmp_path / "a", {"colors.txt": "red\n"})
    second = write_files(tmp_path / "b", {"colors.txt": "green\n", "sizes.txt": "big\n"})
    lib = WildcardLibrary([first, second, tmp_path / "missing"])
    assert [e.text for e in lib.resolve("colors")] == ["red"]
    assert [e.text for e in lib.resolve("sizes")] == ["big"]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../etc/passwd", "'..'"),
        ("a/../../b", "'..'"),
        ("/etc/passwd", "absolute path"),
        ("C:/Windows/x", "absolute path"),
        ("a\\b", "backslash"),
        ("a\x00b", "NUL"),
        ("%2e%2e/x", "URL-encoded"),
        ("a//b", "empty"),
        ("./a", "'.'"),
        ("a b", "character"),
        ("name(x=1)", "parameters"),
        ("", "empty"),
    ],
)
def test_names_that_try_to_leave_the_collection_are_refused(name, reason):
    with pytest.raises(WildcardLookupError, match=reason.replace("(", r"\(")):
        check_name(name)


def test_symlinks_leading_out_of_the_root_are_not_indexed(tmp_path):
    outside = write_files(tmp_path / "outside", {"secret.txt": "password\n"})
    root = write_files(tmp_path / "root", {"ok.txt": "fine\n", "inner/real.txt": "x\n"})
    os.symlink(outside, root / "linked-dir")
    os.symlink(outside / "secret.txt", root / "linked-file.txt")
    os.symlink(root / "inner", root / "alias")  # a link that stays inside is fine
    lib = WildcardLibrary([root])
    assert lib.names() == ["alias/real", "inner/real", "ok"]
    with pytest.raises(WildcardLookupError, match="unknown"):
        lib.resolve("linked-dir/secret")


def test_symlink_loops_terminate(tmp_path):
    root = write_files(tmp_path / "root", {"a/x.txt": "x\n"})
    os.symlink(root, root / "a" / "loop")
    assert WildcardLibrary([root]).names() == ["a/x"]


def test_changes_on_disk_are_picked_up(tmp_path):
    root = write_files(tmp_path, {"colors.txt": "red\n"})
    lib = WildcardLibrary([root], rescan_interval=0)
    assert [e.text for e in lib.resolve("colors")] == ["red"]
    path = root / "colors.txt"
    path.write_text("green\nblue\n")
    os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    assert [e.text for e in lib.resolve("colors")] == ["green", "blue"]
    write_files(root, {"new.txt": "fresh\n"})
    assert "new" in lib.names()
    (root / "new.txt").unlink()
    assert "new" not in lib.names()


def test_rescan_interval_caches_the_index(tmp_path):
    root = write_files(tmp_path, {"a.txt": "1\n"})
    lib = WildcardLibrary([root], rescan_interval=3600)
    assert lib.names() == ["a"]
    write_files(root, {"b.txt": "2\n"})
    assert lib.names() == ["a"]


def test_a_broken_structured_file_does_not_hide_the_rest(tmp_path):
    root = write_files(tmp_path, {"bad.json": "{not json", "good.txt": "ok\n"})
    assert WildcardLibrary([root]).names() == ["good"]


def test_unknown_name_suggests_close_ones(wildcards):
    with pytest.raises(WildcardLookupError, match="did you mean __colors__"):
        wildcards.resolve("colours")


def test_empty_wildcard_is_an_error(tmp_path):
    root = write_files(tmp_path, {"empty.txt": "# nothing\n"})
    from sd_prompt_templates.engine import TemplateError

    with pytest.raises(TemplateError, match="has no entries"):
        Expansion("__empty__", wildcards=WildcardLibrary([root]))


def test_collections_lists_files(wildcards):
    info = {c.name: c.file for c in wildcards.collections()}
    assert info["animals/birds"] == "animals/birds.yaml" and info["colors"] == "colors.txt"
