"""Turn a parsed template plus variable values and wildcards into generators (engine/generators.py).

All names are resolved here, before any prompt is produced: an unknown variable or wildcard, a wildcard cycle or a
syntax error inside a wildcard entry is a TemplateError pointing at the place in the template that refers to it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Protocol, Union

from sd_prompt_templates.engine.errors import TemplateError, TemplateLimitError, error_at
from sd_prompt_templates.engine.generators import (
    Bind,
    Cat,
    Gen,
    Lit,
    Pick,
    SlotRef,
    choice,
    distinct_texts,
    flat_texts,
    uses_slots,
)
from sd_prompt_templates.engine.limits import DEFAULT_LIMITS, Limits
from sd_prompt_templates.engine.parser import Template, parse
from sd_prompt_templates.engine.syntax import (
    Node,
    Sequence,
    Text,
    VariableDef,
    VariableRef,
    Variants,
    Wildcard,
)


@dataclass(frozen=True)
class WildcardEntry:
    """One line of a wildcard collection; `text` is itself a template (it may hold variants and wildcards)."""

    text: str
    weight: float = 1.0
    origin: str = ""  # where it came from, e.g. "colors.txt line 3", for error messages
    collection: str = ""  # the name of the collection it belongs to, e.g. "animals/all-references"


class WildcardLookupError(LookupError):
    """A wildcard name is refused or unknown; the message says why."""


class WildcardSource(Protocol):
    def resolve(self, pattern: str, near: str = "") -> tuple[WildcardEntry, ...]:
        """Entries of every collection the name or glob matches; raises WildcardLookupError.

        `near` is the collection whose entry refers to `pattern` ("" from a template): a name that matches nothing
        is then looked up relative to that collection's folder and its parents, as sd-dynamic-prompts users write
        `__mammals/canine__` inside `animals/all-references.txt`.
        """
        ...


VariableValue = Union[str, int, float]  # noqa: UP007  (a runtime alias: pydantic 1 reads it in API models)
_Binding = Gen | int  # a generator to expand at each use, or the slot of an immediate definition
_NOTHING_SPECIAL = re.compile(r"[^{}$_\\]*")
MAX_WILDCARD_NAMES = 1_000  # names one `__{a|b}__`-style wildcard may become


@dataclass(frozen=True)
class Compiled:
    root: Gen
    slot_count: int


def compile_template(
    template: Template | str,
    variables: Mapping[str, VariableValue] | None = None,
    wildcards: WildcardSource | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Compiled:
    tpl = template if isinstance(template, Template) else parse(template, limits)
    compiler = _Compiler(tpl.source, _text_values(variables or {}), wildcards, limits)
    root = compiler.top(tpl.root)
    return Compiled(root, compiler.slots)


def _text_values(variables: Mapping[str, VariableValue]) -> dict[str, str]:
    values = {}
    for name, value in variables.items():
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise TemplateError(f"variable '{name}' must be text or a number, got {type(value).__name__}")
        values[str(name)] = value if isinstance(value, str) else _format_number(value)
    return values


def _format_number(value: int | float) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if value.bit_length() > 64:
        raise TemplateError(f"a number variable must fit in 64 bits, got one of {value.bit_length()} bits")
    return str(value)


@lru_cache(maxsize=65_536)
def _parse_entry(text: str, limits: Limits) -> Template:
    return parse(text, limits)


class _Compiler:
    def __init__(
        self,
        source: str,
        given: dict[str, str],
        wildcards: WildcardSource | None,
        limits: Limits,
    ) -> None:
        self.source = source
        self.env: dict[str, _Binding] = {name: Lit(value) for name, value in given.items()}
        self.slot_values: dict[int, Gen] = {}
        self.given = given
        self.wildcards = wildcards
        self.limits = limits
        self.slots = 0
        self.depth = 0  # levels of nesting so far, counted through wildcard entries too
        self.stack: list[tuple[str, ...]] = []  # collections being compiled, for cycle detection
        self.names: list[str] = []  # the wildcard names that led there, for messages
        self.collection = ""  # the collection whose entry is being compiled: relative names resolve from it
        self.at = 0  # offset in the template of the outermost node being compiled, for errors in wildcards
        self.resolved: dict[tuple[str, str], tuple[WildcardEntry, ...]] = {}
        self.wildcard_cache: dict[tuple[str, ...], Gen] = {}

    def error(self, offset: int, message: str, cls: type[TemplateError] = TemplateError) -> TemplateError:
        return error_at(self.source, self.at if self.stack else offset, message, cls)

    def deeper(self, offset: int) -> None:
        self.depth += 1
        if self.depth > self.limits.max_depth:
            message = f"nesting (through wildcards too) is deeper than the limit of {self.limits.max_depth}"
            raise self.error(offset, message, TemplateLimitError)

    def top(self, root: Sequence) -> Gen:
        parts: list[Gen] = []
        for item in root.items:
            if isinstance(item, VariableDef):
                if item.name in self.given:
                    continue  # a value the caller passed wins over the template's own definition
                self.at = item.offset
                value = self.sequence(item.value)
                if isinstance(value, Cat):  # used in several places: shared, never spliced into each (doubling)
                    value.shared = True
                self.wildcard_cache.clear()  # entries may refer to the variable that just changed
                if item.immediate:
                    self.env[item.name] = self.slots
                    self.slot_values[self.slots] = value
                    parts.append(Bind(self.slots, value))
                    self.slots += 1
                else:
                    self.env[item.name] = value
            else:
                parts.append(self.node(item))
        return _cat(parts)

    def sequence(self, seq: Sequence) -> Gen:
        items = seq.items
        if len(items) == 1 and type(items[0]) is Text:  # most options: skip the general path
            return Lit(items[0].text)
        parts = []
        for item in items:  # a loop, not a comprehension: one Python frame less per level of nesting
            parts.append(self.node(item))
        return _cat(parts)

    def node(self, item: Node) -> Gen:
        if not self.stack:
            self.at = getattr(item, "offset", self.at)
        if isinstance(item, Text):
            return Lit(item.text)
        if isinstance(item, Sequence):
            return self.sequence(item)
        if isinstance(item, Variants):
            self.deeper(item.offset)
            try:
                return self.variants(item)
            finally:
                self.depth -= 1
        if isinstance(item, Wildcard):
            return self.wildcard(item)
        if isinstance(item, VariableRef):
            return self.reference(item)
        raise self.error(item.offset, f"'${{{item.name}=...}}' defines a variable: definitions go at the top level")

    def reference(self, ref: VariableRef) -> Gen:
        binding = self.env.get(ref.name)
        if binding is None:
            if ref.default is None:
                raise self.error(
                    ref.offset, f"variable '{ref.name}' has no value: pass it or write ${{{ref.name}:default}}"
                )
            return self.sequence(ref.default)
        return SlotRef(binding, self.slot_values[binding].size) if isinstance(binding, int) else binding

    def variants(self, v: Variants) -> Gen:
        options = []
        if v.pick is None:
            for o in v.options:
                options.append(self.sequence(o.body))
            return choice(options, [o.weight for o in v.options])
        lone = v.options[0].body.items
        if len(v.options) == 1 and len(lone) == 1 and isinstance(lone[0], Wildcard):
            entries = self.wildcard_entries(lone[0])  # `{2$$__colors__}` picks among the entries
            options = [self.entry(e) for e in entries]
            weights = [e.weight for e in entries]
        else:
            for o in v.options:
                options.append(self.sequence(o.body))
            weights = [o.weight for o in v.options]
        options, weights = _distinct_options(options, weights)
        lo, hi = v.pick
        try:
            return Pick(options, weights, lo, len(options) if hi is None else hi, v.joiner)
        except TemplateLimitError as exc:
            raise self.error(v.offset, exc.message, TemplateLimitError) from None

    # -- wildcards ----------------------------------------------------------------------------------------------
    def wildcard(self, item: Wildcard) -> Gen:
        names = self.wildcard_names(item)
        gens = [self.named_wildcard(name, item.offset) for name, _ in names]
        return choice(gens, [weight for _, weight in names])

    def wildcard_entries(self, item: Wildcard) -> tuple[WildcardEntry, ...]:
        """Every entry of the collections `item` can name, each text once (weights added up)."""
        merged: dict[tuple[str, str], WildcardEntry] = {}
        for name, _ in self.wildcard_names(item):
            for e in self.lookup(name, item.offset):
                # an entry that refers to other wildcards means what its folder makes of the names in it
                key = (e.text, e.collection.rpartition("/")[0] if "__" in e.text else "")
                first = merged.get(key)
                merged[key] = e if first is None else replace(first, weight=first.weight + e.weight)
        return tuple(merged.values())

    def wildcard_names(self, item: Wildcard) -> list[tuple[str, float]]:
        """The names a wildcard can stand for: one, or every expansion of `__{a|b}__` / `__${x}__`."""
        if item.parts is None:
            return [(item.name, 1.0)]
        gen = self.sequence(item.parts)
        if uses_slots(gen):
            gen = self.with_slot_values(gen, item)
        if gen.count > MAX_WILDCARD_NAMES:
            raise self.error(
                item.offset,
                f"wildcard '__{item.name}__' can stand for more than {MAX_WILDCARD_NAMES} names",
                TemplateLimitError,
            )
        flat = flat_texts(gen)
        if flat is None:
            flat = [(gen.render_emit(i, []), 1.0) for i in range(gen.count)]
        names = list(distinct_texts([(flat, 1.0)]).items())
        for name, _ in names:
            if not name.strip():
                raise self.error(item.offset, f"wildcard '__{item.name}__' expands to an empty name")
        return names

    def with_slot_values(self, gen: Gen, item: Wildcard) -> Gen:
        """A name that uses `${x=!...}` is fixed once per prompt; only a value with one expansion can serve."""
        value = self.slot_values.get(gen.slot) if isinstance(gen, SlotRef) else None
        if value is not None and value.count == 1:
            return value
        raise self.error(
            item.offset,
            f"wildcard '__{item.name}__' uses a '${{name=!...}}' variable in its name: write '${{name=...}}' "
            "(without '!') or pass the variable",
        )

    def lookup(self, name: str, offset: int) -> tuple[WildcardEntry, ...]:
        near = self.collection
        key = (name, near)
        cached = self.resolved.get(key)
        if cached is not None:
            return cached
        if self.wildcards is None:
            raise self.error(offset, f"wildcard '__{name}__' is unknown: no wildcard directories are configured")
        try:
            entries = self.wildcards.resolve(name, near) if near else self.wildcards.resolve(name)
        except WildcardLookupError as exc:
            raise self.error(offset, str(exc)) from None
        if not entries:
            raise self.error(offset, f"wildcard '__{name}__' has no entries")
        self.resolved[key] = entries
        return entries

    def named_wildcard(self, name: str, offset: int) -> Gen:
        entries = self.lookup(name, offset)
        key = tuple(dict.fromkeys(e.collection or f"\0{name}" for e in entries))
        cached = self.wildcard_cache.get(key)
        if cached is not None:
            return cached
        if key in self.stack:
            chain = " -> ".join(f"__{n}__" for n in [*self.names, name])
            raise self.error(offset, f"wildcards refer to each other in a cycle: {chain}")
        self.stack.append(key)
        self.names.append(name)
        self.deeper(offset)
        try:
            options = []
            for e in entries:
                options.append(self.entry(e))
            gen = choice(options, [e.weight for e in entries])
        finally:
            self.stack.pop()
            self.names.pop()
            self.depth -= 1
        if isinstance(gen, Cat):
            gen.shared = True
        self.wildcard_cache[key] = gen
        return gen

    def entry(self, entry: WildcardEntry) -> Gen:
        if _NOTHING_SPECIAL.fullmatch(entry.text):
            return Lit(entry.text)
        where = f" ({entry.origin})" if entry.origin else ""
        name = self.names[-1] if self.names else entry.collection
        try:
            tpl = _parse_entry(entry.text, self.limits)
        except TemplateError as exc:
            raise self.error(0, f"in wildcard '__{name}__'{where}: {exc}", type(exc)) from None
        if any(isinstance(i, VariableDef) for i in tpl.root.items):
            raise self.error(0, f"in wildcard '__{name}__'{where}: entries cannot define variables")
        outer, self.collection = self.collection, entry.collection
        try:
            return self.sequence(tpl.root)
        except TemplateError as exc:
            if exc.message.startswith("in wildcard "):
                raise
            raise self.error(0, f"in wildcard '__{name}__'{where}: {exc.message}", type(exc)) from None
        finally:
            self.collection = outer


def _distinct_options(options: list[Gen], weights: list[float]) -> tuple[list[Gen], list[float]]:
    """A pick never gives the same text twice: plain-text options collapse (weights added up), and when options
    that are choices among plain texts share a text, the pick takes from the pool of their distinct texts."""
    flats = [flat_texts(o) for o in options]
    if any(f is None for f in flats):
        return options, weights
    every = [text for f in flats if f is not None for text, _ in f]
    if len(set(every)) == len(every):
        return options, weights
    merged = distinct_texts([(f, w) for f, w in zip(flats, weights, strict=True) if f is not None])
    return [Lit(t) for t in merged], list(merged.values())


def _cat(parts: list[Gen]) -> Gen:
    merged: list[Gen] = []
    for part in parts:
        if isinstance(part, Cat) and not part.shared:
            for inner in part.parts:
                _append(merged, inner)
        else:
            _append(merged, part)
    if len(merged) == 1:
        return merged[0]
    return Cat(merged) if merged else Lit("")


def _append(merged: list[Gen], part: Gen) -> None:
    if isinstance(part, Lit) and merged and isinstance(merged[-1], Lit):
        merged[-1] = Lit(merged[-1].text + part.text)
    elif not (isinstance(part, Lit) and not part.text):
        merged.append(part)
