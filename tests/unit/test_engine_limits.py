"""The engine stays fast and safe whatever the template: big picks, huge counts, deep nesting, long prompts."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from sd_prompt_templates import counts
from sd_prompt_templates.engine import MAX_DEPTH, Expansion, Limits, TemplateLimitError, compile_template, render
from sd_prompt_templates.engine.generators import COUNT_CAP, Pick
from sd_prompt_templates.wildcards import WildcardLibrary


def options(n: int) -> str:
    return "|".join(f"o{i}" for i in range(n))


def reference_pick(option_texts: list[list[str]], lo: int, hi: int, joiner: str = ",") -> list[str]:
    """The documented order, spelled out: by k, then the first option's position among those left, then its own
    expansion, then the rest the same way."""

    def arrangements(left: list[int], k: int) -> list[list[str]]:
        if k == 0:
            return [[]]
        return [
            [text, *rest]
            for j in left
            for text in option_texts[j]
            for rest in arrangements([x for x in left if x != j], k - 1)
        ]

    return [joiner.join(texts) for k in range(lo, hi + 1) for texts in arrangements(list(range(len(option_texts))), k)]


@pytest.mark.parametrize(
    ("template", "option_texts", "lo", "hi"),
    [
        ("{2$$a|b|c|d}", [["a"], ["b"], ["c"], ["d"]], 2, 2),
        ("{1-3$$a|b|c|d}", [["a"], ["b"], ["c"], ["d"]], 1, 3),
        ("{2-3$${x|y}|{p|q}|{m|n}}", [["x", "y"], ["p", "q"], ["m", "n"]], 2, 3),
        ("{1-3$$a|{x|y}|b|{p|q|r}}", [["a"], ["x", "y"], ["b"], ["p", "q", "r"]], 1, 3),
        ("{2$${x|y} z|w|{p|q}}", [["x z", "y z"], ["w"], ["p", "q"]], 2, 2),
    ],
)
def test_pick_enumeration_follows_the_documented_order_on_the_fast_paths(template, option_texts, lo, hi):
    root = compile_template(template).root
    assert isinstance(root, Pick)
    expected = reference_pick(option_texts, lo, hi)
    assert root.count == len(expected)
    assert [root.render_emit(i, []) for i in range(root.count)] == expected


def test_big_picks_count_exactly_without_enumerating():
    n = 2000
    expansion = Expansion("{1-2000$$" + options(n) + "}")
    falling, total = 1, 0
    for k in range(1, n + 1):
        falling *= n - k + 1
        total += falling
    assert expansion.count == total
    assert counts.digits(expansion.count) > 4300  # past Python's int-to-text limit, still carried as an int


def test_resuming_deep_inside_a_pick_over_a_10k_line_wildcard(tmp_path: Path):
    (tmp_path / "big.txt").write_text("\n".join(f"entry {i}" for i in range(10_000)), encoding="utf-8")
    lib = WildcardLibrary([tmp_path])
    expansion = Expansion("{2$$__big__}", wildcards=lib)
    assert expansion.count == 10_000 * 9_999
    index = 9_998 * 9_999 + 5_000  # first option entry 9998, then the 5,000th of the 9,999 left
    assert expansion.nth(index) == "entry 9998,entry 5000"
    assert expansion.combinations(expansion.count - 1, 5) == ["entry 9999,entry 9998"]


def test_counts_past_the_ceiling_are_reported_as_at_least(tmp_path: Path):
    (tmp_path / "big.txt").write_text("\n".join(f"e{i}" for i in range(10_000)), encoding="utf-8")
    expansion = Expansion("{2-$$__big__}", wildcards=WildcardLibrary([tmp_path]))
    assert isinstance(expansion.count, counts.AtLeast) and expansion.count == COUNT_CAP
    assert counts.show(expansion.count).startswith("≥2.00e19728")
    first = expansion.combinations(0, 2)
    assert first == ["e0,e1", "e0,e2"]  # enumeration below the ceiling stays exact
    with pytest.raises(TemplateLimitError, match="beyond the combinations"):
        expansion.combinations(COUNT_CAP, 1)


def test_wildcards_used_twice_at_every_level_stay_shared(tmp_path: Path):
    for i in range(20):
        (tmp_path / f"w{i}.txt").write_text(f"{{__w{i + 1}__|__w{i + 1}__ again}}\n", encoding="utf-8")
    (tmp_path / "w20.txt").write_text("x\ny\n", encoding="utf-8")
    expansion = Expansion("__w0__", wildcards=WildcardLibrary([tmp_path]), limits=Limits(max_depth=64))
    assert expansion.count == 2 * 2**20
    assert expansion.nth(0) == "x" and expansion.nth(expansion.count - 1).endswith("again")


def test_a_prompt_that_could_be_millions_of_characters_long_is_refused_before_any_work(tmp_path: Path):
    for i in range(20):  # each level doubles the text: 2**20 copies at the bottom
        (tmp_path / f"w{i}.txt").write_text(f"__w{i + 1}__ and __w{i + 1}__\n", encoding="utf-8")
    (tmp_path / "w20.txt").write_text("x\n", encoding="utf-8")
    with pytest.raises(TemplateLimitError, match="could be 6291451 characters long; the limit is 1,000,000"):
        Expansion("__w0__", wildcards=WildcardLibrary([tmp_path]), limits=Limits(max_depth=64))


def test_mixed_picks_too_large_to_list_are_refused_in_combinatorial_mode_only():
    template = "{1-500$$" + "|".join(["{a|b}"] + [f"o{i}" for i in range(999)]) + "}"
    expansion = Expansion(template, limits=Limits(max_prompts=10))
    assert expansion.count > 0
    assert expansion.random(7).count(",") < 500
    with pytest.raises(TemplateLimitError, match="too large to list in combinatorial mode"):
        expansion.combinations(0, 1)


def test_limits_cannot_go_past_the_recursion_safe_depth():
    with pytest.raises(ValueError, match="at most 64"):
        Limits(max_depth=MAX_DEPTH + 1)


def _call_at_depth(frames: int, fn):
    return fn() if frames == 0 else _call_at_depth(frames - 1, fn)


def test_the_deepest_template_the_limits_allow_works_from_a_deep_call_stack(tmp_path: Path):
    """No RecursionError at the maximum depth, nesting and wildcard chains mixed, from 400 frames down."""
    for i in range(MAX_DEPTH):
        (tmp_path / f"c{i}.txt").write_text(f"__c{i + 1}__ {{a|b}}\n", encoding="utf-8")
    (tmp_path / f"c{MAX_DEPTH}.txt").write_text("end\n", encoding="utf-8")
    lib = WildcardLibrary([tmp_path])
    limits = Limits(max_depth=MAX_DEPTH)
    half = MAX_DEPTH // 2
    cases = {
        "nesting": "{a|" * MAX_DEPTH + "b" + "}" * MAX_DEPTH,
        "chain": f"__c{1}__",
        "both": "{a|" * (half - 1) + f"__c{half + 1}__" + "}" * (half - 1),
    }
    results: dict[str, object] = {}

    def run() -> None:
        for label, template in cases.items():
            try:
                render(template, wildcards=lib, limits=limits, mode="combinatorial", n=3)
                results[label] = render(template, wildcards=lib, limits=limits, n=2).prompts
            except Exception as exc:  # recorded, so the assertion below shows it
                results[label] = exc
        try:
            render("__c0__", wildcards=lib, limits=limits)
        except Exception as exc:
            results["one level too deep"] = exc

    thread = threading.Thread(target=lambda: _call_at_depth(400, run))
    thread.start()
    thread.join()
    for label in cases:
        assert isinstance(results[label], list), (label, results[label])
    assert isinstance(results["one level too deep"], TemplateLimitError)
    assert "deeper than the limit of 64" in str(results["one level too deep"])


def test_a_request_for_many_long_prompts_is_refused_before_any_is_made(tmp_path: Path):
    (tmp_path / "big.txt").write_text("\n".join(f"entry number {i}" for i in range(10_000)), encoding="utf-8")
    lib = WildcardLibrary([tmp_path])
    with pytest.raises(TemplateLimitError, match="more than one request may make .* ask for at most 55"):
        render("{1-10000$$__big__}", wildcards=lib, n=1000)
    with pytest.raises(TemplateLimitError, match="ask for at most 55"):
        Expansion("{1-10000$$__big__}", wildcards=lib).combinations(0, 100)
    assert len(render("{1-10000$$__big__}", wildcards=lib, n=50).prompts) == 50
