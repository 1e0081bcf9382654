import pytest

from sd_prompt_templates.engine import Expansion, Limits, TemplateError, TemplateLimitError, parse
from sd_prompt_templates.engine.syntax import Text, VariableDef, VariableRef, Variants, Wildcard


def test_plain_prompt_is_one_text_node():
    tpl = parse("(masterpiece:1.2), [cat|dog], <lora:x:0.8> BREAK a AND b")
    assert tpl.root.items == (Text("(masterpiece:1.2), [cat|dog], <lora:x:0.8> BREAK a AND b", 0),)


def test_variant_options_weights_and_pick():
    (v,) = parse("{2-3$$ and $$ 2::a | b|.5::c}").root.items
    assert isinstance(v, Variants)
    assert v.pick == (2, 3) and v.joiner == " and "
    assert [o.weight for o in v.options] == [2.0, 1.0, 0.5]
    assert [o.body.items[0].text for o in v.options] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("head", "pick"),
    [("{2$$", (2, 2)), ("{1-3$$", (1, 3)), ("{-2$$", (1, 2)), ("{2-$$", (2, None)), ("{", None)],
)
def test_pick_bounds(head, pick):
    (v,) = parse(head + "a|b|c}").root.items
    assert v.pick == pick


def test_wildcards_variables_and_what_they_reference():
    tpl = parse("${x=!{a|b}}__dir/name__ ${x} ${y} ${z:zz} __glob*__")
    kinds = [type(i) for i in tpl.root.items if not isinstance(i, Text)]
    assert kinds == [VariableDef, Wildcard, VariableRef, VariableRef, VariableRef, Wildcard]
    assert tpl.wildcards == ("dir/name", "glob*")
    assert tpl.variables_defined == {"x"}
    assert tpl.variables_required == {"y"}
    assert tpl.variables_used == {"x", "y", "z"}


def test_unclosed_double_underscore_is_text():
    assert parse("snake__case and __ x").root.items == (Text("snake__case and __ x", 0),)


@pytest.mark.parametrize(
    ("source", "line", "column", "fragment"),
    [
        ("a {b|c", 1, 3, "unclosed '{'"),
        ("x\ny }", 2, 3, "unmatched '}'"),
        ("a ${", 1, 5, "expected a variable name"),
        ("a ${1x}", 1, 5, "expected a variable name"),
        ("a ${x", 1, 3, "unclosed '${'"),
        ("a ${x:de", 1, 3, "unclosed '${'"),
        ("a ${x?}", 1, 6, "expected '}', ':' or '='"),
        ("{a|${x=1}}", 1, 4, "definitions go at the top level"),
        ("{}", 1, 1, "empty variant"),
        ("{0::a}", 1, 2, "weight must be greater than 0"),
        ("{5-2$$a}", 1, 2, "range 5-2 is empty"),
        ("one\ntwo\n  {{a}", 3, 3, "unclosed '{'"),
    ],
)
def test_errors_carry_line_and_column(source, line, column, fragment):
    with pytest.raises(TemplateError) as info:
        parse(source)
    assert (info.value.line, info.value.column) == (line, column)
    assert fragment in info.value.message
    assert str(info.value).startswith(f"line {line}, column {column}: ")


def test_error_excerpt_points_at_the_column():
    with pytest.raises(TemplateError) as info:
        parse("first\nsecond {x|y")
    assert info.value.excerpt() == "second {x|y\n       ^"


def test_length_limit_is_checked_before_parsing():
    with pytest.raises(TemplateLimitError, match="limit is 10"):
        parse("{" * 11, Limits(max_template_length=10))


def test_depth_limit_points_at_the_too_deep_group():
    with pytest.raises(TemplateLimitError) as info:
        parse("{a|{b|{c|{d}}}}", Limits(max_depth=3))
    assert info.value.column == 10


def test_deep_nesting_within_the_limit_parses():
    depth = 20
    parse("{a|" * depth + "b" + "}" * depth, Limits(max_depth=depth))


def test_non_text_template_is_a_template_error():
    with pytest.raises(TemplateError, match="must be text"):
        parse(None)  # type: ignore[arg-type]


def test_a_backslash_before_a_bar_outside_braces_stays_for_the_webui():
    assert Expansion("[cat\\|dog] {a\\|b|c}").combinations() == ["[cat\\|dog] a|b", "[cat\\|dog] c"]


def test_a_joiner_that_holds_braces_is_an_error_not_a_literal_joiner():
    with pytest.raises(TemplateError) as info:
        parse("{2$$ {x|y} $$a|b}")
    assert (info.value.line, info.value.column) == (1, 12)
    assert "'$$' inside a pick" in info.value.message
