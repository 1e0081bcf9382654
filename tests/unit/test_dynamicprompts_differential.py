"""Differential test: on the syntax both share, combinatorial expansion gives exactly the prompts that the
`dynamicprompts` library (what sd-dynamic-prompts runs on) gives. Differences on purpose, so kept out of here:
`${x=!...}` (dynamicprompts enumerates only its first value), `#` comments, and sampler prefixes like `{~a|b}`."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sd_prompt_templates.engine import Expansion
from sd_prompt_templates.wildcards import WildcardLibrary
from tests.conftest import write_files

dynamicprompts = pytest.importorskip("dynamicprompts", reason="dynamicprompts is a test dependency (tests/stacks)")
from dynamicprompts.generators import CombinatorialPromptGenerator  # noqa: E402
from dynamicprompts.wildcards import WildcardManager  # noqa: E402

FILES = {
    "colors.txt": "# shades\ncolor1\ncolor2\n\ncolor3\n",
    "nested.txt": "nest1 {nest2|nest3}\n__colors__ nest4\n",
    # no weights here: dynamicprompts lists an entry of weight 2 twice in combinatorial mode
    "pack/animals.yaml": "animals:\n  pets: [pet1, pet2]\n  wild: [wild1, wild2]\n",
    "pack/moods.json": '{"moods": ["mood1", "mood2", "mood3"]}',
}
WILDCARDS = ["__colors__", "__nested__", "__pack/animals/pets__", "__pack/animals/*__", "__pack/moods__"]


@st.composite
def body(draw, counter, depth):
    def word():
        counter[0] += 1
        return f"w{counter[0]}"

    parts = []
    for _ in range(draw(st.integers(1, 3))):
        kinds = ["text", "variant", "pick", "default"] if depth < 2 else ["text", "default"]
        kind = draw(st.sampled_from(kinds))
        if kind == "text":
            parts.append(word())
        elif kind == "default":
            parts.append("${undefined" + str(counter[0]) + ":{" + word() + "|" + word() + "}}")
        else:
            options = [draw(body(counter, depth + 1)) for _ in range(draw(st.integers(1, 3)))]
            if kind == "variant":
                weights = [draw(st.sampled_from(["", "3::", "0.5::"])) for _ in options]
                parts.append("{" + "|".join(w + o for w, o in zip(weights, options, strict=False)) + "}")
            else:
                lo = draw(st.integers(1, len(options)))
                hi = draw(st.integers(lo, len(options) + 1))
                joiner = draw(st.sampled_from(["", " and $$", " $$"]))
                parts.append("{" + f"{lo}-{hi}$${joiner}" + "|".join(options) + "}")
    return " ".join(parts)


@st.composite
def templates(draw):
    counter = [0]
    parts = []
    if draw(st.booleans()):
        parts.append("${v={" + "|".join(f"var{i}" for i in range(draw(st.integers(1, 3)))) + "}}")
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["body", "wildcard", "ref"]))
        if kind == "wildcard":
            parts.append(draw(st.sampled_from(WILDCARDS)))
        elif kind == "ref" and parts and parts[0].startswith("${v="):
            parts.append("${v}")
        else:
            parts.append(draw(body(counter, 0)))
    return " ".join(parts)


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    root = write_files(tmp_path_factory.mktemp("wildcards"), FILES)
    return WildcardLibrary([root], rescan_interval=3600), CombinatorialPromptGenerator(WildcardManager(root))


@pytest.mark.parametrize(
    "template",
    [
        "a {red|green|blue} {cat|dog}",
        "{2$$a|b|c}",
        "{1-3$$ and $$a|{b|c}|d}",
        "{-2$$a|b|c}",
        "{2-$$a|b|c}",
        "{3::a|0.5::{b|c}}",
        "x __colors__ y __nested__",
        "__pack/animals/*__",
        "{2$$__colors__}",
        "${v={a|b}}${v} ${v}",
        "${w:{p|q}} tail",
        "(masterpiece:1.2), [cat|dog], <lora:x:0.8> BREAK {a|b} AND c",
    ],
)
def test_known_templates_agree(template, engines):
    ours, theirs = engines
    expected = theirs.generate(template, max_prompts=10_000)
    got = Expansion(template, wildcards=ours).combinations(limit=None)
    assert sorted(got) == sorted(expected)


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(template=templates())
def test_generated_templates_agree(template, engines):
    ours, theirs = engines
    expansion = Expansion(template, wildcards=ours)
    if expansion.count > 400:
        return
    got = expansion.combinations()
    expected = theirs.generate(template, max_prompts=expansion.count + 50)
    assert sorted(got) == sorted(expected), template
