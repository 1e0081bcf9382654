import dataclasses
import logging
import os
import time
from collections import Counter
from pathlib import Path

import pytest

from sd_prompt_templates import wildcards as wildcards_module
from sd_prompt_templates.engine import Expansion, TemplateError, WildcardLookupError
from sd_prompt_templates.wildcards import WildcardLibrary, WildcardProblem, check_name
from tests.conftest import write_files


def texts(entries):
    return [e.text for e in entries]


def touch_later(path: Path) -> None:
    """Make a change visible even on file systems with coarse timestamps."""
    later = time.time_ns() + 10**9
    os.utime(path, ns=(later, later))


# -- 1. what loads, and under which name -------------------------------------------------------------------------------


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
    assert texts(lib.resolve("colors")) == ["red", "blue"]
    tops = lib.resolve("sets/clothes/tops")
    assert [(e.text, e.weight) for e in tops] == [("shirt", 1.0), ("tee", 2.0), ("coat", 3.0)]
    assert tops[2].origin == "sets/wear.yaml, key clothes/tops item 3"
    assert texts(lib.resolve("sets/clothes/shoes")) == ["boots"]
    assert lib.problems() == []


def test_names_hold_any_character_a_file_name_may_hold(tmp_path):
    files = {
        "my colors.txt": "teal\n",
        "R&B + soul's (live) 100%.txt": "groove\n",
        "über/naïve café.txt": "crème\n",
        "odd/[draft] v2.txt": "sketchy\n",
        "odd/a:b.txt": "colon\n",
    }
    lib = WildcardLibrary([write_files(tmp_path, files)])
    assert sorted(lib.names()) == sorted(name.removesuffix(".txt") for name in files)
    for name in files:
        assert len(lib.resolve(name.removesuffix(".txt"))) == 1
    assert texts(lib.resolve("odd/[draft] *")) == ["sketchy"]  # '[' is itself, not a glob class


def test_text_files_split_lines_as_dynamicprompts_reads_them(tmp_path):
    root = write_files(tmp_path, {})
    (root / "crlf.txt").write_bytes(b"a\r\nb\rc\n  # not me\n\t\n d \n")
    (root / "notepad.txt").write_bytes("red\r\ngreen\r\n".encode("utf-16"))  # Windows Notepad's "Unicode"
    lib = WildcardLibrary([root])
    assert texts(lib.resolve("crlf")) == ["a", "b", "c", "d"]
    assert [e.origin for e in lib.resolve("crlf")] == [f"crlf.txt line {n}" for n in (1, 2, 3, 6)]
    assert texts(lib.resolve("notepad")) == ["red", "green"]


def test_a_top_level_list_is_named_after_its_file(tmp_path):
    root = write_files(
        tmp_path,
        {
            "animals/reptiles/lizards.yaml": "# a plain list\n- iguana\n- gecko\n",
            "shapes.yml": "[circle, square]\n",
            "pack/sizes.json": '["tiny", "huge"]',
            "v1.2.yaml": "- dotted\n",
        },
    )
    lib = WildcardLibrary([root])
    assert lib.names() == ["animals/reptiles/lizards", "pack/sizes", "shapes", "v1.2"]
    assert texts(lib.resolve("animals/reptiles/lizards")) == ["iguana", "gecko"]
    assert lib.resolve("animals/reptiles/lizards")[1].origin == "animals/reptiles/lizards.yaml item 2"
    assert texts(lib.resolve("pack/sizes")) == ["tiny", "huge"]


def test_structured_files_in_every_shape_dynamicprompts_reads(tmp_path):
    yaml_text = """\
clothing: [T-shirt, "  pants  "]
artists:
  painters:
    dutch: [Vermeer, Hals]
  sculptor: Rodin              # text: one entry
  1234: [ignored]              # a key that is not text: left out, as dynamicprompts does
  flurp: 12345                 # neither a list nor text: left out
  empty: ""                    # empty: nothing to load
  none:
  nothing: []
weighted-animals:
  heavy: ["50::elephant", "20.5::rhino", " 3 :: hippo", "0::never", "2::a::b", "x::y"]
  light:
    - {weight: 1, text: mouse}
    - {weight: 2, text: rabbit}
    - {weight: 3, content: cat}
    - {weight: 0, text: ghost}
numbers: [1990, 2.5, true, false, 2020-01-01, "1990", [nested], {weight: 2}, null, ""]
"""
    root = write_files(tmp_path, {"pantry.yaml": yaml_text})
    lib = WildcardLibrary([root])
    assert lib.names() == [
        "artists/painters/dutch",
        "artists/sculptor",
        "clothing",
        "numbers",
        "weighted-animals/heavy",
        "weighted-animals/light",
    ]
    assert texts(lib.resolve("clothing")) == ["T-shirt", "pants"]
    assert texts(lib.resolve("artists/sculptor")) == ["Rodin"]
    heavy = [(e.text, e.weight) for e in lib.resolve("weighted-animals/heavy")]
    assert heavy == [("elephant", 50.0), ("rhino", 20.5), ("hippo", 3.0), ("a::b", 2.0), ("x::y", 1.0)]
    light = [(e.text, e.weight) for e in lib.resolve("weighted-animals/light")]
    assert light == [("mouse", 1.0), ("rabbit", 2.0), ("cat", 3.0)]
    assert texts(lib.resolve("numbers")) == ["1990"]  # only the quoted one: YAML numbers are not text
    problems = [p.message for p in lib.problems()]
    assert all(p.file == str(root / "pantry.yaml") and p.line is None for p in lib.problems())
    assert problems == [
        "key artists/1234: a key must be text, not the number 1234: left out",
        "key artists/flurp holds the number 12345, not a list or text: left out (quote it to make it text)",
        "pantry.yaml, key numbers item 1: the number 1990 is not text: left out (quote it to make it text)",
        "pantry.yaml, key numbers item 2: the number 2.5 is not text: left out (quote it to make it text)",
        "pantry.yaml, key numbers item 3: true (a yes/no value) is not text: left out (quote it to make it text)",
        "pantry.yaml, key numbers item 4: false (a yes/no value) is not text: left out (quote it to make it text)",
        "pantry.yaml, key numbers item 5: date datetime.date(2020, 1, 1) is not text: left out "
        "(quote it to make it text)",
        "pantry.yaml, key numbers item 7: list ['nested'] is not text: left out (quote it to make it text)",
        "pantry.yaml, key numbers item 8: a mapping needs 'text' (or 'content') holding text: left out",
    ]


def test_json_in_the_same_shapes(tmp_path):
    root = write_files(
        tmp_path,
        {
            "flavors/pantry.json": '{"bitter": ["coffee", "3::cocoa"], "sweet": {"fruit": "mango"}, "n": [1]}',
        },
    )
    lib = WildcardLibrary([root])
    assert lib.names() == ["flavors/bitter", "flavors/n", "flavors/sweet/fruit"]
    assert [(e.text, e.weight) for e in lib.resolve("flavors/bitter")] == [("coffee", 1.0), ("cocoa", 3.0)]
    assert texts(lib.resolve("flavors/sweet/fruit")) == ["mango"]
    assert lib.resolve("flavors/n") == ()  # the collection is there, as in dynamicprompts, but has no entries
    with pytest.raises(TemplateError, match="has no entries"):
        Expansion("__flavors/n__", wildcards=lib)


def test_which_files_are_read(tmp_path):
    root = write_files(
        tmp_path,
        {
            ".dotted.txt": "loaded, as dynamicprompts loads it\n",
            "._colors.txt": "macOS metadata\n",
            ".git/config.txt": "a hidden folder is skipped\n",
            "UPPER.TXT": "any case\n",
            "readme.md": "not a wildcard\n",
            "data.csv": "not a wildcard\n",
        },
    )
    assert WildcardLibrary([root]).names() == [".dotted", "UPPER"]


def test_the_first_file_to_claim_a_name_keeps_it(tmp_path):
    root = write_files(tmp_path, {"colors.txt": "red\n", "colors.yaml": "- blue\n", "z.yaml": "colors: [green]\n"})
    assert texts(WildcardLibrary([root]).resolve("colors")) == ["red"]


def test_first_root_wins(tmp_path):
    first = write_files(tmp_path / "a", {"colors.txt": "red\n"})
    second = write_files(tmp_path / "b", {"colors.txt": "green\n", "sizes.txt": "big\n"})
    lib = WildcardLibrary([first, second, tmp_path / "missing"])
    assert texts(lib.resolve("colors")) == ["red"]
    assert texts(lib.resolve("sizes")) == ["big"]


# -- globs and dynamicprompts' fallback --------------------------------------------------------------------------------


@pytest.fixture
def zoo(tmp_path):
    return WildcardLibrary(
        [
            write_files(
                tmp_path / "zoo",
                {
                    "animals/all-references.txt": "# relative references\n__mammals/canine__\n__mystical__\n",
                    "animals/mammals/canine.txt": "dog\nwolf\n",
                    "animals/mammals/feline.txt": "cat\ntiger\n",
                    "animals/mystical.txt": "unicorn\n",
                    "animals/reptiles/lizards.yaml": "- iguana\n- gecko\n",
                    "animals/reptiles/snakes.txt": "python\ncobra\n",
                    "colors-cold.txt": "blue\ngreen\n",
                    "colors-warm.txt": "red\nyellow\n",
                    "sets/wear.yaml": "clothes:\n  tops: [shirt, __shoes__]\n  shoes: [boots]\n",
                },
            )
        ],
        rescan_interval=0,
    )


def test_star_and_double_star_match_across_folders_as_in_dynamicprompts(zoo):
    everything = ["__mammals/canine__", "__mystical__", "dog", "wolf", "cat", "tiger", "unicorn"]
    everything += ["iguana", "gecko", "python", "cobra"]
    assert texts(zoo.resolve("animals/*")) == everything
    assert texts(zoo.resolve("animals/**")) == everything
    assert texts(zoo.resolve("animals/*/*")) == ["dog", "wolf", "cat", "tiger", "iguana", "gecko", "python", "cobra"]
    assert texts(zoo.resolve("colors-*")) == ["blue", "green", "red", "yellow"]
    assert texts(zoo.resolve("colors-????")) == ["blue", "green", "red", "yellow"]
    assert texts(zoo.resolve("colors-c?ld")) == ["blue", "green"]
    with pytest.raises(WildcardLookupError, match="no wildcard matches '__zzz\\*__'"):
        zoo.resolve("zzz*")


def test_a_name_that_matches_nothing_is_retried_below_any_folder(zoo):
    assert texts(zoo.resolve("mammals/canine")) == ["dog", "wolf"]
    assert texts(zoo.resolve("reptiles/*")) == ["iguana", "gecko", "python", "cobra"]
    assert texts(zoo.resolve("canine")) == ["dog", "wolf"]
    with pytest.raises(WildcardLookupError, match="no wildcard matches"):
        zoo.resolve("**/nothing*")


# -- 2. references relative to the referring collection ----------------------------------------------------------------


def test_every_entry_names_its_collection(zoo):
    assert {e.collection for e in zoo.resolve("animals/mammals/canine")} == {"animals/mammals/canine"}
    assert [e.collection for e in zoo.resolve("sets/clothes/tops")] == ["sets/clothes/tops"] * 2
    assert [e.collection for e in zoo.resolve("animals/reptiles/*")] == ["animals/reptiles/lizards"] * 2 + [
        "animals/reptiles/snakes"
    ] * 2
    assert [e.collection for e in zoo.resolve("mammals/feline", near="animals/all-references")] == [
        "animals/mammals/feline"
    ] * 2


def test_relative_names_are_looked_up_next_to_the_referring_collection_then_in_its_parents(tmp_path):
    root = write_files(
        tmp_path,
        {
            "a/b/c/list.txt": "x\n",
            "a/b/near.txt": "near\n",
            "a/far.txt": "far\n",
            "a/b/c/far.txt": "not a parent of a/b/list\n",
            "both.txt": "top level\n",
            "a/b/both.txt": "in a/b\n",
            "elsewhere/deep/only.txt": "found by the fallback\n",
            "sets/wear.yaml": "clothes:\n  tops: [shirt]\n  shoes: [boots]\n",
        },
    )
    lib = WildcardLibrary([root])
    assert texts(lib.resolve("near", near="a/b/list")) == ["near"]
    assert texts(lib.resolve("far", near="a/b/list")) == ["far"]  # a parent folder
    assert texts(lib.resolve("both", near="a/b/list")) == ["top level"]  # the name as written comes first
    assert texts(lib.resolve("only", near="a/b/list")) == ["found by the fallback"]
    assert texts(lib.resolve("shoes", near="sets/clothes/tops")) == ["boots"]  # a sibling key of the same file
    assert texts(lib.resolve("c/*", near="a/b/near")) == ["not a parent of a/b/list", "x"]  # globs too
    assert texts(lib.resolve("near")) == ["near"]  # from a template: found by dynamicprompts' `**/name` fallback
    with pytest.raises(WildcardLookupError) as info:
        lib.resolve("nowhere", near="a/b/list")
    assert "looked in 'a/b/' and its parents too" in str(info.value)


def test_relative_lookups_are_memoised_per_folder(zoo):
    first = zoo.resolve("mammals/canine", near="animals/all-references")
    assert zoo.resolve("mammals/canine", near="animals/mystical") is first


# -- 3. duplicates -----------------------------------------------------------------------------------------------------


def test_duplicates_collapse_and_their_weights_add_up(tmp_path):
    root = write_files(
        tmp_path,
        {
            "dupes.txt": "red\nblue\nblue\ngreen\nred\n",
            "weighted.yaml": "w: [red, '2::red', '0.5::blue', blue]\n",
            "shades/cool.txt": "blue\nred\n",
            "shades/warm.txt": "red\norange\n",
            "shades/refs.txt": "__x__\n",
            "shades/more/refs.txt": "__x__\n__x__\n",
        },
    )
    lib = WildcardLibrary([root])
    assert [(e.text, e.weight) for e in lib.resolve("dupes")] == [("red", 2.0), ("blue", 2.0), ("green", 1.0)]
    assert [e.origin for e in lib.resolve("dupes")] == ["dupes.txt line 1", "dupes.txt line 2", "dupes.txt line 4"]
    assert [(e.text, e.weight) for e in lib.resolve("w")] == [("red", 3.0), ("blue", 1.5)]
    union = [(e.text, e.weight, e.collection) for e in lib.resolve("shades/*")]
    # a reference means something else in another folder, so it is kept once per folder
    assert union == [
        ("blue", 1.0, "shades/cool"),
        ("red", 2.0, "shades/cool"),
        ("__x__", 2.0, "shades/more/refs"),
        ("__x__", 1.0, "shades/refs"),
        ("orange", 1.0, "shades/warm"),
    ]


def test_random_mode_keeps_the_odds_duplicate_lines_gave(tmp_path):
    lib = WildcardLibrary([write_files(tmp_path, {"dupes.txt": "red\nblue\nblue\ngreen\nred\n"})])
    expansion = Expansion("__dupes__", wildcards=lib)
    assert sorted(expansion.combinations()) == ["blue", "green", "red"]
    counts = Counter(expansion.random(seed) for seed in range(6000))
    assert abs(counts["red"] / 6000 - 0.4) < 0.03
    assert abs(counts["blue"] / 6000 - 0.4) < 0.03
    assert abs(counts["green"] / 6000 - 0.2) < 0.03


# -- names that are refused --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../etc/passwd", "'..'"),
        ("a/../../b", "'..'"),
        ("a/..", "'..'"),
        ("/etc/passwd", "absolute path"),
        ("C:/Windows/x", "absolute path"),
        ("c:", "absolute path"),
        ("a\\b", "backslash"),
        ("..\\x", "backslash"),
        ("a\x00b", "NUL"),
        ("a//b", "empty"),
        ("a/", "empty"),
        ("./a", "'.'"),
        ("a/./b", "'.'"),
        ("", "empty"),
    ],
)
def test_names_that_try_to_leave_the_collection_are_refused(name, reason):
    with pytest.raises(WildcardLookupError, match=reason):
        check_name(name)


@pytest.mark.parametrize(
    "name", ["a b", "name(x=1)", "%2e%2e/x", "R&B", "it's", "a+b", "...", "a..b", ".hidden", "a:b", "~x", "**/x"]
)
def test_other_characters_are_allowed_in_names(name):
    check_name(name)


def test_names_reach_files_only_through_the_index(tmp_path):
    write_files(tmp_path, {"secret.txt": "password\n"})
    root = write_files(tmp_path / "root", {"ok.txt": "fine\n"})
    lib = WildcardLibrary([root])
    for name in ["../secret", "%2e%2e/secret", "..%2fsecret", str(tmp_path / "secret"), "ok/../../secret"]:
        with pytest.raises(WildcardLookupError):
            lib.resolve(name)
    with pytest.raises(WildcardLookupError, match=r"parameters '\(\.\.\.\)' are not supported"):
        lib.resolve("ok(x=1)")


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


# -- 4. broken files ---------------------------------------------------------------------------------------------------


def test_broken_files_are_reported_with_their_line_and_do_not_hide_the_rest(tmp_path):
    root = write_files(
        tmp_path,
        {
            "bad.json": '{"a": ["x",\n  "y" "z"]}',
            "good.txt": "ok\n",
            "pack/bad.yaml": "a:\n  - x\n  b: [\n",
            "pack/invalid.yaml": "# the top level has to be a mapping or a list\nhello\n",
            "pack/fine.yaml": "b: [bee]\n",
            "pack/more.txt": "more\n",
        },
    )
    (root / "pack" / "latin1.txt").write_bytes(b"ok\ncaf\xe9\n")
    (root / "pack" / "latin1.yaml").write_bytes(b"c: [caf\xe9]\n")
    lib = WildcardLibrary([root])
    assert lib.names() == ["good", "pack/b", "pack/latin1", "pack/more"]
    assert texts(lib.resolve("pack/*")) == ["bee", "ok", "caf", "more"]
    problems = {Path(p.file).relative_to(root).as_posix(): (p.line, p.message) for p in lib.problems()}
    assert problems == {
        "bad.json": (2, "invalid JSON: Expecting ',' delimiter (column 7)"),
        "pack/bad.yaml": (3, "invalid YAML: while parsing a block collection: did not find expected '-' indicator"),
        "pack/invalid.yaml": (
            2,
            "the top level must be a mapping of names or a list of entries, not text: nothing loaded",
        ),
        "pack/latin1.txt": (2, "byte 0xe9 is not UTF-8 text: such bytes were left out (save the file as UTF-8)"),
        "pack/latin1.yaml": (1, "byte 0xe9 is not UTF-8 text: nothing loaded (save the file as UTF-8)"),
    }
    problem = lib.problems()[0]
    assert isinstance(problem, WildcardProblem)
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.line = 3  # type: ignore[misc]
    assert str(problem) == f"{root / 'bad.json'} line 2: invalid JSON: Expecting ',' delimiter (column 7)"
    with pytest.raises(WildcardLookupError, match=r"invalid\.yaml could not be loaded \(line 2\): the top level"):
        lib.resolve("pack/invalid")
    with pytest.raises(WildcardLookupError, match=r"invalid\.yaml could not be loaded"):
        lib.resolve("invalid", near="pack/more")
    with pytest.raises(WildcardLookupError) as info:
        lib.resolve("pack/fine")  # loaded (its name is pack/b), so no word about it
    assert "could not be loaded" not in str(info.value)


def test_a_file_that_cannot_be_opened_is_reported(tmp_path, monkeypatch):
    root = write_files(tmp_path, {"locked.txt": "x\n", "open.txt": "y\n", "locked.yaml": "k: [v]\n"})
    real = wildcards_module._read_bytes

    def read(path):
        if path.stem == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(wildcards_module, "_read_bytes", read)
    lib = WildcardLibrary([root])
    assert lib.names() == ["open"]
    assert [(Path(p.file).name, p.line, p.message) for p in lib.problems()] == [
        ("locked.txt", None, "cannot be read: Permission denied"),
        ("locked.yaml", None, "cannot be read: Permission denied"),
    ]


def test_yaml_that_refers_to_itself_is_reported_not_followed(tmp_path):
    root = write_files(tmp_path, {"loop.yaml": "a: &x\n  b: *x\n  c: [ok]\n"})
    lib = WildcardLibrary([root])
    assert lib.names() == ["a/c"]
    assert [p.message for p in lib.problems()] == ["key a/b refers to itself or nests too deep"]


def test_problems_are_logged_once_per_change(tmp_path, caplog):
    root = write_files(tmp_path, {"bad.yaml": "a: [\n", "good.txt": "x\n"})
    lib = WildcardLibrary([root], rescan_interval=0)
    with caplog.at_level(logging.WARNING, logger="sd_prompt_templates.wildcards"):
        for _ in range(3):
            lib.names()
        write_files(root, {"other.txt": "y\n"})  # the index changes, bad.yaml does not
        lib.names()
        assert [r.getMessage() for r in caplog.records] == [f"wildcard file {lib.problems()[0]}"]
        assert lib.problems()[0].file == str(root / "bad.yaml")
        (root / "bad.yaml").write_text("a: [\n\n")
        touch_later(root / "bad.yaml")
        lib.names()
        assert len(caplog.records) == 2
        (root / "bad.yaml").write_text("a: [fixed]\n")
        touch_later(root / "bad.yaml")
        assert "a" in lib.names() and lib.problems() == []
        assert len(caplog.records) == 2


# -- 5. speed, memoisation and changes on disk -------------------------------------------------------------------------


def test_a_thousand_files_index_and_resolve_quickly(tmp_path):
    root = tmp_path / "many"
    for i in range(1000):
        folder = root / f"group{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"list {i}.txt").write_text(f"a{i}\nb{i}\n", encoding="utf-8")
    start = time.perf_counter()
    lib = WildcardLibrary([root], rescan_interval=3600)
    assert len(lib.names()) == 1000
    assert texts(lib.resolve("group3/list 503")) == ["a503", "b503"]
    assert len(lib.resolve("group*/list 5*")) == 2 * 111
    assert time.perf_counter() - start < 3.0
    rescan = WildcardLibrary([root], rescan_interval=0)
    rescan.names()
    start = time.perf_counter()
    for _ in range(5):
        rescan.names()  # a check for changes: a walk and a stat per file, nothing read again
    assert (time.perf_counter() - start) / 5 < 0.5


def test_a_ten_thousand_line_file_resolves_quickly_and_then_from_memory(tmp_path):
    root = write_files(tmp_path, {"big.txt": "".join(f"entry number {i}\n" for i in range(10_000))})
    big_yaml = "big yaml:\n" + "".join(f"  - item {i}\n" for i in range(10_000))
    write_files(root, {"big.yaml": big_yaml})
    lib = WildcardLibrary([root], rescan_interval=3600)
    start = time.perf_counter()
    entries = lib.resolve("big")
    structured = lib.resolve("big yaml")
    assert len(entries) == len(structured) == 10_000
    assert time.perf_counter() - start < 2.0
    start = time.perf_counter()
    for _ in range(10_000):
        assert lib.resolve("big") is entries  # a dict lookup
    assert time.perf_counter() - start < 0.5


def test_a_glob_is_memoised_until_the_index_changes(tmp_path):
    root = write_files(tmp_path, {"a/one.txt": "1\n", "a/two.txt": "2\n"})
    lib = WildcardLibrary([root], rescan_interval=0)
    first = lib.resolve("a/*")
    assert lib.resolve("a/*") is first
    write_files(root, {"a/three.txt": "3\n"})
    assert texts(lib.resolve("a/*")) == ["1", "3", "2"]


def test_changes_on_disk_are_picked_up(tmp_path):
    root = write_files(tmp_path, {"colors.txt": "red\n"})
    lib = WildcardLibrary([root], rescan_interval=0)
    assert texts(lib.resolve("colors")) == ["red"]
    path = root / "colors.txt"
    path.write_text("green\nblue\n")
    touch_later(path)
    assert texts(lib.resolve("colors")) == ["green", "blue"]
    write_files(root, {"new.txt": "fresh\n"})
    assert "new" in lib.names()
    (root / "new.txt").unlink()
    assert "new" not in lib.names()
    with pytest.raises(WildcardLookupError):
        lib.resolve("new")


def test_rescan_interval_caches_the_index(tmp_path):
    root = write_files(tmp_path, {"a.txt": "1\n"})
    lib = WildcardLibrary([root], rescan_interval=3600)
    assert lib.names() == ["a"]
    write_files(root, {"b.txt": "2\n"})
    assert lib.names() == ["a"]


def test_a_missing_root_is_logged_once(tmp_path, caplog):
    lib = WildcardLibrary([tmp_path / "missing"], rescan_interval=0)
    with caplog.at_level(logging.WARNING, logger="sd_prompt_templates.wildcards"):
        for _ in range(3):
            assert lib.names() == []
    assert len(caplog.records) == 1


# -- messages and listings ---------------------------------------------------------------------------------------------


def test_unknown_name_suggests_close_ones(wildcards):
    with pytest.raises(WildcardLookupError, match="did you mean __colors__"):
        wildcards.resolve("colours")
    with pytest.raises(WildcardLookupError, match=r"^wildcard '__nope__' is unknown \(4 wildcards are known\)$"):
        wildcards.resolve("nope")


def test_empty_wildcard_is_an_error(tmp_path):
    root = write_files(tmp_path, {"empty.txt": "# nothing\n"})
    with pytest.raises(TemplateError, match="has no entries"):
        Expansion("__empty__", wildcards=WildcardLibrary([root]))


def test_collections_lists_files(wildcards):
    info = {c.name: c.file for c in wildcards.collections()}
    assert info["animals/birds"] == "animals/birds.yaml" and info["colors"] == "colors.txt"
