"""Wildcard names as collections spell them (spaces, variants, variables), never as literal text; no prompt twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sd_prompt_templates.engine import Expansion, TemplateError, compile_template, parse, render
from sd_prompt_templates.engine.syntax import Text, Wildcard
from sd_prompt_templates.wildcards import WildcardLibrary


@pytest.fixture
def lib(tmp_path: Path) -> WildcardLibrary:
    files = {
        "my colors.txt": "teal\nplum\n",
        "colors-cold.txt": "cyan\nnavy\n",
        "colors-warm.txt": "red\norange\n",
        "dupes.txt": "red\nblue\nblue\ngreen\nred\n",
        "overlap-a.txt": "red\nblue\n",
        "overlap-b.txt": "blue\nwhite\n",
        "animals/reptiles/snakes.txt": "cobra\nviper\n",
        "animals/mammals/canine.txt": "wolf\n",
        "nested.txt": "__missing__\n",
    }
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return WildcardLibrary([tmp_path])


def every(template: str, lib: WildcardLibrary | None = None, **variables: str) -> list[str]:
    return render(template, variables=variables, wildcards=lib, mode="combinatorial", n=None).prompts


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("__my colors__", ["teal", "plum"]),
        ("a __my colors__ cat", ["a teal cat", "a plum cat"]),
        ("__{colors-cold|colors-warm}__", ["cyan", "navy", "red", "orange"]),
        ("${c=colors-cold}__${c}__", ["cyan", "navy"]),
        ("__colors${s:-cold}__", ["cyan", "navy"]),
        ("__colors-${tone}__", ["red", "orange"]),
        ("__animals/${genus:*}/*__", ["wolf", "cobra", "viper"]),
        ("__animals/${genus:*}/*__ ${genus:x}", ["wolf x", "cobra x", "viper x"]),
        ("${c=!colors-cold}__${c}__", ["cyan", "navy"]),
    ],
)
def test_wildcard_names_with_spaces_variants_and_variables(lib, template, expected):
    assert every(template, lib, **({"tone": "warm"} if "tone" in template else {})) == expected


def test_a_dynamic_name_counts_the_sum_over_the_names_it_can_become(lib):
    assert Expansion("__{colors-cold|colors-warm|my colors}__ {a|b}", wildcards=lib).count == 6 * 2


@pytest.mark.parametrize(
    ("template", "where", "message"),
    [
        ("a __my colours__", (1, 3), "wildcard '__my colours__' is unknown"),
        ("__{colors-cold|colors-hot}__", (1, 1), "wildcard '__colors-hot__' is unknown"),
        ("x\n  __colors${s:-lukewarm}__", (2, 3), "wildcard '__colors-lukewarm__' is unknown"),
        ("__nested__", (1, 1), "in wildcard '__nested__' (nested.txt line 1): wildcard '__missing__' is unknown"),
        ("${c=!{colors-cold|colors-warm}}__${c}__", (1, 32), "uses a '${name=!...}' variable in its name"),
        ("__${empty:}__", (1, 1), "expands to an empty name"),
    ],
)
def test_text_that_opens_a_wildcard_and_names_nothing_known_is_an_error(lib, template, where, message):
    for mode in ("random", "combinatorial"):
        with pytest.raises(TemplateError) as info:
            render(template, wildcards=lib, mode=mode, n=1)
        assert (info.value.line, info.value.column) == where
        assert message in info.value.message


@pytest.mark.parametrize(
    "text",
    ["snake__case and __ x", "a __ b __ c", "__ leading", "trailing __", "one__\ntwo__", "____"],
)
def test_double_underscores_that_open_no_name_are_text(text):
    assert all(isinstance(item, Text) for item in parse(text).root.items)
    assert Expansion(text).random(1) == text


def test_double_underscores_cut_by_a_variant_separator_are_text():
    assert every("{a__|b__}") == ["a__", "b__"]


def test_a_wildcard_name_is_everything_up_to_the_next_double_underscore():
    items = parse("__my colors__ and __{a|b} c__").root.items
    assert items[0] == Wildcard("my colors", 0, None)
    assert isinstance(items[2], Wildcard) and items[2].name == "{a|b} c" and items[2].parts is not None


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("__dupes__", ["red", "blue", "green"]),
        ("__overlap-*__", ["red", "blue", "white"]),
        ("{a|a|b}", ["a", "b"]),
        ("{a|{a|b}}", ["a", "b"]),
        ("{2$$a|a|b}", ["a,b", "b,a"]),
        ("{2$$a|{a|b}}", ["a,b", "b,a"]),
        ("{2$$__dupes__}", ["red,blue", "red,green", "blue,red", "blue,green", "green,red", "green,blue"]),
        ("{a|}{|a}", ["a", "aa", ""]),  # two routes to "a": listed once
    ],
)
def test_combinatorial_mode_never_makes_the_same_prompt_twice(lib, template, expected):
    assert every(template, lib) == expected
    assert Expansion(template, wildcards=lib).count == len(expected)


def test_duplicate_lines_keep_their_weight_in_random_mode(lib):
    expansion = Expansion("__dupes__", wildcards=lib)
    picks = [expansion.random(seed) for seed in range(3000)]
    shares = {color: picks.count(color) / len(picks) for color in ("red", "blue", "green")}
    assert 0.35 < shares["red"] < 0.45 and 0.35 < shares["blue"] < 0.45 and 0.15 < shares["green"] < 0.25


WORDS = st.sampled_from(["a", "b", "a b", "", "c"])


@st.composite
def overlapping_templates(draw, depth: int = 0) -> str:
    """Templates built from a few repeated words, so that many routes give the same text."""
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["text", "variant", "pick"] if depth < 2 else ["text"]))
        if kind == "text":
            parts.append(draw(WORDS) or "c")
            continue
        options = [draw(overlapping_templates(depth + 1)) for _ in range(draw(st.integers(1, 3)))]
        if not any(options):
            options.append("x")
        if kind == "variant":
            parts.append("{" + "|".join(options) + "}")
        else:
            lo = draw(st.integers(1, len(options)))
            parts.append("{" + f"{lo}-{len(options)}$$ & $$" + "|".join(options) + "}")
    return " ".join(parts)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(overlapping_templates(), st.data())
def test_prompts_are_distinct_and_counted_exactly_however_the_template_overlaps(template, data):
    if compile_template(template).root.count > 1000:
        return
    expansion = Expansion(template)
    everything = expansion.combinations()
    assert len(everything) == len(set(everything)) == expansion.count
    offset = data.draw(st.integers(0, expansion.count))
    assert expansion.combinations(offset, 3) == everything[offset : offset + 3]
    assert expansion.random(data.draw(st.integers(0, 2**32))) in everything


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=6), st.data())
def test_a_pick_of_plain_options_never_repeats_a_text(words, data):
    k = data.draw(st.integers(1, len(words)))
    template = "{" + f"{k}$$ & $$" + "|".join(words) + "}"
    for prompt in every(template):
        picked = prompt.split(" & ")
        assert len(picked) == len(set(picked)) == min(k, len(set(words)))
