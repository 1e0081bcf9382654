import pytest

from sd_prompt_templates.engine import Expansion, Limits, TemplateError, TemplateLimitError, render


def all_prompts(template, **kw):
    e = Expansion(template, **kw)
    return e.combinations()


def test_combinatorial_order_last_group_fastest():
    assert all_prompts("{a|b}{1|2}") == ["a1", "a2", "b1", "b2"]


def test_count_without_expanding_is_exact_for_huge_templates():
    template = " ".join("{" + "|".join(str(i) for i in range(10)) + "}" for _ in range(40))
    e = Expansion(template)
    assert e.count == 10**40
    assert e.nth(10**40 - 1) == " ".join(["9"] * 40)
    assert e.nth(123) == " ".join(["0"] * 37 + ["1", "2", "3"])


def test_offset_and_limit_resume_where_a_run_stopped():
    e = Expansion("{a|b|c}{1|2|3}{x|y}")
    everything = e.combinations()
    assert len(everything) == e.count == 18
    resumed = e.combinations(0, 7) + e.combinations(7, 7) + e.combinations(14, 7)
    assert resumed == everything
    assert e.combinations(18, 5) == []


def test_nth_matches_enumeration_with_picks_wildcards_and_immediate_variables(wildcards):
    e = Expansion("${c=!{x|y}}{1-2$$__colors__|{p|q}|z} ${c} __animals/*__", wildcards=wildcards)
    prompts = e.combinations()
    assert len(prompts) == e.count
    assert len(set(prompts)) == e.count
    assert [e.nth(i) for i in range(e.count)] == prompts


def test_random_is_a_pure_function_of_seed():
    template = "{a|b|c|d} {1|2|3|4} {x|y} {2$$p|q|r|s}"
    first = [Expansion(template).random(s) for s in range(50)]
    again = [Expansion(template).random(s) for s in range(50)]
    assert first == again
    assert len(set(first)) > 10


def test_random_respects_weights():
    e = Expansion("{9::heavy|light}")
    picks = [e.random(s) for s in range(2000)]
    assert 0.85 < picks.count("heavy") / len(picks) < 0.95


def test_random_pick_gives_distinct_options_within_bounds():
    e = Expansion("{2-3$$a|b|c|d}")
    for s in range(200):
        parts = e.random(s).split(",")
        assert 2 <= len(parts) <= 3 and len(set(parts)) == len(parts)


def test_pick_bound_larger_than_options_is_cut():
    assert all_prompts("{5$$a|b}") == ["a,b", "b,a"]
    assert all_prompts("{0-1$$a|b}") == ["", "a", "b"]


def test_immediate_variable_is_the_same_at_every_use_and_lazy_is_not():
    immediate = Expansion("${v=!{a|b}}${v}${v}")
    assert immediate.combinations() == ["aa", "bb"]
    assert {immediate.random(s) for s in range(50)} == {"aa", "bb"}
    lazy = Expansion("${v={a|b}}${v}${v}")
    assert lazy.combinations() == ["aa", "ab", "ba", "bb"]


def test_caller_values_win_over_template_definitions_and_defaults():
    assert all_prompts("${v=!{a|b}}${v} ${w:def}", variables={"v": "given", "w": 3}) == ["given 3"]
    assert all_prompts("${w:{x|y}}") == ["x", "y"]


def test_variable_values_are_literal_text():
    assert all_prompts("${v}", variables={"v": "{a|b} __colors__"}) == ["{a|b} __colors__"]


def test_bad_variable_value_type_is_refused():
    with pytest.raises(TemplateError, match="must be text or a number"):
        Expansion("${v}", variables={"v": ["a"]})


def test_missing_variable_is_an_error_with_position():
    with pytest.raises(TemplateError) as info:
        Expansion("ok\n  ${who} here")
    assert (info.value.line, info.value.column) == (2, 3)


def test_wildcards_expand_nested_entries(wildcards):
    assert all_prompts("__nested__", wildcards=wildcards) == ["light red", "light blue", "dark red", "dark blue"]


def test_missing_wildcard_is_an_error_never_literal_text(wildcards):
    with pytest.raises(TemplateError) as info:
        Expansion("a {b|__nope__}", wildcards=wildcards)
    assert info.value.column == 6 and "__nope__" in info.value.message
    with pytest.raises(TemplateError, match="no wildcard directories"):
        Expansion("__colors__")


def test_wildcard_cycle_is_detected(tmp_path):
    from sd_prompt_templates.wildcards import WildcardLibrary

    (tmp_path / "a.txt").write_text("x __b__\n")
    (tmp_path / "b.txt").write_text("__a__\n")
    with pytest.raises(TemplateError, match=r"cycle: __a__ -> __b__ -> __a__") as info:
        Expansion("start __a__", wildcards=WildcardLibrary([tmp_path]))
    assert info.value.column == 7


def test_syntax_error_inside_a_wildcard_entry_names_file_and_line(tmp_path):
    from sd_prompt_templates.wildcards import WildcardLibrary

    (tmp_path / "bad.txt").write_text("fine\n{broken\n")
    with pytest.raises(TemplateError) as info:
        Expansion("x __bad__", wildcards=WildcardLibrary([tmp_path]))
    assert "bad.txt line 2" in info.value.message and "unclosed '{'" in info.value.message
    assert info.value.column == 3


def test_render_random_seeds_count_up_like_webui_images():
    result = render("{a|b|c}", n=4, seed=100)
    assert result.seeds == [100, 101, 102, 103]
    assert result.prompts == [Expansion("{a|b|c}").random(s) for s in result.seeds]


def test_render_random_seed_minus_one_picks_a_seed():
    result = render("{a|b}", n=2, seed=-1)
    assert result.seeds[1] == result.seeds[0] + 1 >= 1


def test_render_combinatorial_all_and_page():
    assert render("{a|b|c}", mode="combinatorial", n=None, seed=7).prompts == ["a", "b", "c"]
    page = render("{a|b|c}", mode="combinatorial", n=1, offset=1, seed=7)
    assert page.prompts == ["b"] and page.seeds == [7] and page.count == 3 and page.offset == 1


def test_prompt_limit_is_checked_before_expanding():
    limits = Limits(max_prompts=10)
    with pytest.raises(TemplateLimitError, match="limit per request is 10"):
        render("{a|b}", n=11, limits=limits)
    with pytest.raises(TemplateLimitError, match="pass a smaller limit"):
        render("{a|b|c|d}{a|b|c}", mode="combinatorial", n=None, limits=limits)
    assert len(render("{a|b|c|d}{a|b|c}", mode="combinatorial", n=10, limits=limits).prompts) == 10


@pytest.mark.parametrize("kwargs", [{"mode": "sequential"}, {"n": -1}, {"mode": "random", "n": None}])
def test_render_argument_errors(kwargs):
    with pytest.raises(TemplateError):
        render("{a|b}", **kwargs)


def test_nth_out_of_range():
    with pytest.raises(IndexError):
        Expansion("{a|b}").nth(2)
