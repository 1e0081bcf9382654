"""Property tests: the engine's promises hold on templates hypothesis makes up."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sd_prompt_templates.engine import Expansion, Limits, TemplateError, parse

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


@st.composite
def templates(draw, depth: int = 0) -> str:
    """Small templates whose every literal is a distinct word, so distinct combinations give distinct prompts."""
    counter = draw(st.shared(st.builds(lambda: [0]), key="words"))

    def word() -> str:
        counter[0] += 1
        return f"w{counter[0]}"

    parts = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["text", "variant", "pick"] if depth < 2 else ["text"]))
        if kind == "text":
            parts.append(word())
            continue
        options = [draw(templates(depth + 1)) for _ in range(draw(st.integers(1, 3)))]
        if kind == "variant":
            weights = [draw(st.sampled_from(["", "2::", "0.5::"])) for _ in options]
            parts.append("{" + "|".join(w + o for w, o in zip(weights, options, strict=False)) + "}")
        else:
            lo = draw(st.integers(1, len(options)))
            hi = draw(st.integers(lo, len(options)))
            parts.append("{" + f"{lo}-{hi}$$ & $$" + "|".join(options) + "}")
    return " ".join(parts)


@SETTINGS
@given(templates())
def test_count_equals_distinct_prompts_of_full_enumeration(template):
    expansion = Expansion(template)
    prompts = expansion.combinations(limit=None) if expansion.count <= 1000 else None
    if prompts is not None:
        assert len(prompts) == expansion.count
        assert len(set(prompts)) == expansion.count


@SETTINGS
@given(templates(), st.integers(0, 2**32 - 1))
def test_same_seed_same_prompt_and_random_prompts_are_combinations(template, seed):
    first = Expansion(template).random(seed)
    assert Expansion(template).random(seed) == first
    expansion = Expansion(template)
    if expansion.count <= 1000:
        assert first in set(expansion.combinations())


@SETTINGS
@given(templates(), st.data())
def test_nth_agrees_with_enumeration_at_any_offset(template, data):
    expansion = Expansion(template)
    if expansion.count > 1000:
        return
    everything = expansion.combinations()
    offset = data.draw(st.integers(0, expansion.count))
    assert expansion.combinations(offset, 5) == everything[offset : offset + 5]


ALPHABET = st.sampled_from([*"ab {}|$_\\:=!-0123456789\n()[]<>,.", "${", "__", "$$", "::", "__x__", "${v}"])


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(ALPHABET, max_size=40).map("".join))
def test_arbitrary_text_raises_only_template_errors(text):
    limits = Limits(max_depth=6, max_prompts=50)
    try:
        parse(text, limits)
        expansion = Expansion(text, {"v": "x"}, None, limits)
        expansion.random(1)
        if expansion.count <= 50:
            expansion.combinations()
    except TemplateError:
        pass
