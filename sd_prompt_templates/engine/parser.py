"""A hand-written recursive-descent parser for the template language (docs/SYNTAX.md).

Hand-written rather than generated because the language is context-sensitive in ways that matter to WebUI users:
`|` is a separator only inside `{...}` (so A1111's `[a|b]` passes through), `$$` is special only at the head of a
variant, and `__` starts a wildcard only when a name and a closing `__` follow. It also lets every error name the
exact line and column.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from sd_prompt_templates.engine.errors import TemplateError, TemplateLimitError, error_at
from sd_prompt_templates.engine.limits import DEFAULT_LIMITS, Limits
from sd_prompt_templates.engine.syntax import (
    Node,
    Option,
    Sequence,
    Text,
    VariableDef,
    VariableRef,
    Variants,
    Wildcard,
)

DEFAULT_JOINER = ","  # sd-dynamic-prompts' default, so `{2$$a|b}` gives the same text in both

_PLAIN = {
    "top": re.compile(r"[^{}$_\\]+"),
    "option": re.compile(r"[^{}|$_\\]+"),
    "value": re.compile(r"[^{}$_\\]+"),
    "name": re.compile(r"[^{}|$_\\]+"),
}
_ESCAPABLE = frozenset("{}|$_")
_VARIABLE_NAME = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_-]*)\s*")
_PICK = re.compile(r"\s*(?:(\d+)\s*(?:(-)\s*(\d+)?)?|-\s*(\d+))\s*\$\$")
_JOINER = re.compile(r"([^${}]*)\$\$")
_WEIGHT = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*::")
_MAY_START_WEIGHT = frozenset("0123456789. \t\n")


@dataclass(frozen=True)
class Template:
    """A parsed template and what it refers to, for validation and autocompletion."""

    source: str
    root: Sequence
    variables_used: frozenset[str] = field(default=frozenset())
    required_at: tuple[tuple[str, int], ...] = ()  # variables used with no default and no earlier definition
    variables_defined: frozenset[str] = field(default=frozenset())
    wildcards: tuple[str, ...] = ()

    @property
    def variables_required(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.required_at)


def parse(source: str, limits: Limits = DEFAULT_LIMITS) -> Template:
    """Parse template text; raises TemplateError (with line and column) on the first problem found."""
    if not isinstance(source, str):
        raise TemplateError(f"a template must be text, got {type(source).__name__}")
    if len(source) > limits.max_template_length:
        raise TemplateLimitError(
            f"template is {len(source)} characters long; the limit is {limits.max_template_length}"
        )
    parser = _Parser(source, limits)
    root = parser.sequence("top", 0, 0)
    if parser.pos < len(source):  # only a stray '}' stops the top level early
        raise error_at(source, parser.pos, "unmatched '}'")
    return Template(
        source=source,
        root=root,
        variables_used=frozenset(parser.used),
        required_at=tuple(parser.required.items()),
        variables_defined=frozenset(parser.defined),
        wildcards=tuple(dict.fromkeys(parser.wildcards)),
    )


class _Parser:
    def __init__(self, source: str, limits: Limits) -> None:
        self.src = source
        self.pos = 0
        self.end = len(source)  # a wildcard's name is parsed with `end` moved to its closing `__`
        self.limits = limits
        self.used: set[str] = set()
        self.required: dict[str, int] = {}
        self.defined: set[str] = set()
        self.wildcards: list[str] = []

    def error(self, offset: int, message: str) -> TemplateError:
        return error_at(self.src, offset, message)

    def sequence(self, context: str, depth: int, start: int) -> Sequence:
        """Read items until the end, or a `}` (and `|` inside a variant or a wildcard name), which is left unread."""
        src, plain = self.src, _PLAIN[context]
        items: list[Node] = []
        text: list[str] = []
        text_start = self.pos
        while self.pos < self.end:
            m = plain.match(src, self.pos, self.end)
            if m:
                if not text:
                    text_start = self.pos
                text.append(m.group())
                self.pos = m.end()
                continue
            ch = src[self.pos]
            if ch == "}" or (ch == "|" and context in ("option", "name")):
                break
            if ch == "\\":
                nxt = src[self.pos + 1 : min(self.pos + 2, self.end)]
                if not text:
                    text_start = self.pos
                if nxt in _ESCAPABLE and nxt and not (nxt == "|" and context in ("top", "value")):
                    text.append(nxt)
                else:  # WebUI escapes such as \( and, outside {}, \| pass through untouched
                    text.append("\\" + nxt)
                self.pos += 1 + len(nxt)
                continue
            if ch == "_":
                wildcard = self.wildcard(depth) if src.startswith("__", self.pos) and context != "name" else None
                if wildcard is None:
                    if not text:
                        text_start = self.pos
                    underscores = 2 if src.startswith("__", self.pos) else 1
                    text.append("_" * underscores)
                    self.pos += underscores
                    continue
                _flush(items, text, text_start)
                items.append(wildcard)
                continue
            if ch == "$":
                if src.startswith("${", self.pos):
                    _flush(items, text, text_start)
                    items.append(self.variable(context, depth))
                else:
                    if not text:
                        text_start = self.pos
                    text.append("$")
                    self.pos += 1
                continue
            # ch == "{"
            _flush(items, text, text_start)
            items.append(self.variants(depth))
        _flush(items, text, text_start)
        return Sequence(tuple(items), start)

    def enter(self, offset: int, depth: int) -> int:
        if depth + 1 > self.limits.max_depth:
            message = f"nesting is deeper than the limit of {self.limits.max_depth}"
            raise error_at(self.src, offset, message, TemplateLimitError)
        return depth + 1

    def expect_close(self, opener: int, what: str) -> None:
        if self.pos >= self.end:
            raise self.error(opener, f"unclosed '{what}': expected '}}' before the end of the template")
        self.pos += 1  # the '}'

    def wildcard(self, depth: int) -> Wildcard | None:
        """`__name__` at `pos`, or None when the `__` opens nothing: no closing `__` on the same line, a name that
        starts or ends with white space, or a `|` or `}` in it (the `__` then belongs to the text around it).

        The name is everything up to the next `__`, so a name may hold spaces, variants and variables
        (`__my colors__`, `__{cold|warm}__`, `__colors-${tone}__`); it is parsed with `end` moved to that `__`.
        """
        start = self.pos
        close = self.src.find("__", start + 2, self.end)
        newline = self.src.find("\n", start + 2, self.end)
        if (
            close <= start + 2
            or (0 <= newline < close)
            or self.src[start + 2].isspace()
            or self.src[close - 1].isspace()
        ):
            return None
        raw = self.src[start + 2 : close]
        if "{" not in raw and "$" not in raw and "\\" not in raw:
            if "|" in raw or "}" in raw:
                return None
            self.pos = close + 2
            self.wildcards.append(raw)
            return Wildcard(raw, start, None)
        outer_end, self.end, self.pos = self.end, close, start + 2
        try:
            name = self.sequence("name", depth, start + 2)
            complete = self.pos == close
        finally:
            self.end = outer_end
        if not complete:  # stopped at a `|` or `}` of the text around it
            self.pos = start
            return None
        self.pos = close + 2
        if len(name.items) == 1 and isinstance(name.items[0], Text):
            self.wildcards.append(name.items[0].text)
            return Wildcard(name.items[0].text, start, None)
        return Wildcard(raw, start, name)

    def variants(self, depth: int) -> Variants:
        start = self.pos
        inner = self.enter(start, depth)
        self.pos += 1
        pick: tuple[int, int | None] | None = None
        joiner = DEFAULT_JOINER
        m = _PICK.match(self.src, self.pos, self.end)
        if m:
            if m.group(4) is not None:
                pick = (1, int(m.group(4)))
            elif m.group(2):
                pick = (int(m.group(1)), int(m.group(3)) if m.group(3) else None)
            else:
                pick = (int(m.group(1)), int(m.group(1)))
            if pick[1] is not None and pick[0] > pick[1]:
                raise self.error(self.pos, f"the range {pick[0]}-{pick[1]} is empty: the first bound is larger")
            self.pos = m.end()
            j = _JOINER.match(self.src, self.pos, self.end)
            if j:
                joiner = j.group(1)
                self.pos = j.end()
        options: list[Option] = []
        src, end = self.src, self.end
        while True:
            weight = 1.0
            if self.pos < end and src[self.pos] in _MAY_START_WEIGHT:
                w = _WEIGHT.match(src, self.pos, end)
                if w:
                    weight = float(w.group(1))
                    if not math.isfinite(weight):
                        raise self.error(self.pos, f"an option's weight is too large: {w.group(1)[:20]}...")
                    if weight <= 0:
                        raise self.error(self.pos, f"an option's weight must be greater than 0, got {w.group(1)}")
                    self.pos = w.end()
            plain = _PLAIN["option"].match(src, self.pos, end)
            if plain and plain.end() < end and src[plain.end()] in "|}":  # the common case: plain text
                text = plain.group().strip()
                body = Sequence((Text(text, self.pos),) if text else (), self.pos)
                self.pos = plain.end()
            else:
                body = _strip(self.sequence("option", inner, self.pos))
            options.append(Option(weight, body))
            if self.pos >= end:
                raise self.error(start, "unclosed '{': expected '}' before the end of the template")
            if self.src[self.pos] == "}":
                self.pos += 1
                break
            self.pos += 1  # the '|'
        if len(options) == 1 and not options[0].body.items and pick is None:
            raise self.error(start, "empty variant '{}': give at least one option")
        if pick is not None:
            for option in options:
                for item in option.body.items:
                    if isinstance(item, Text) and "$$" in item.text:
                        raise self.error(
                            item.offset + item.text.index("$$"),
                            "'$$' inside a pick: the joiner between '$$' marks is plain text, without '{', '}' or '$'",
                        )
        return Variants(tuple(options), pick, joiner, start)

    def variable(self, context: str, depth: int) -> VariableRef | VariableDef:
        start = self.pos
        inner = self.enter(start, depth)
        self.pos += 2
        m = _VARIABLE_NAME.match(self.src, self.pos, self.end)
        if m is None:
            raise self.error(self.pos, "expected a variable name after '${' (letters, digits, '_' or '-')")
        name = m.group(1)
        self.pos = m.end()
        nxt = self.src[self.pos : min(self.pos + 1, self.end)]
        if nxt == "}":
            self.pos += 1
            self.used.add(name)
            if name not in self.defined:
                self.required.setdefault(name, start)
            return VariableRef(name, None, start)
        if nxt == ":":
            self.pos += 1
            default = self.sequence("value", inner, self.pos)
            self.expect_close(start, "${")
            self.used.add(name)
            return VariableRef(name, default, start)
        if nxt == "=":
            if context != "top" or depth > 0:
                raise self.error(start, f"'${{{name}=...}}' defines a variable: definitions go at the top level")
            self.pos += 1
            immediate = self.src.startswith("!", self.pos)
            if immediate:
                self.pos += 1
            value = self.sequence("value", inner, self.pos)
            self.expect_close(start, "${")
            self.defined.add(name)
            return VariableDef(name, value, immediate, start)
        if not nxt:
            raise self.error(start, "unclosed '${': expected '}' before the end of the template")
        raise self.error(self.pos, f"expected '}}', ':' or '=' after the variable name '{name}', found {nxt!r}")


def _flush(items: list[Node], text: list[str], start: int) -> None:
    if text:
        items.append(Text("".join(text), start))
        text.clear()


def _strip(body: Sequence) -> Sequence:
    """Whitespace around an option is layout, not content: `{red | blue}` means "red" or "blue"."""
    items = list(body.items)
    if items and isinstance(items[0], Text):
        first = items[0]
        items[0] = Text(first.text.lstrip(), first.offset)
    if items and isinstance(items[-1], Text):
        last = items[-1]
        items[-1] = Text(last.text.rstrip(), last.offset)
    return Sequence(tuple(i for i in items if not (isinstance(i, Text) and not i.text)), body.offset)
