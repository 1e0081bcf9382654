"""Turn a parsed template plus variable values and wildcards into generators (engine/generators.py).

All names are resolved here, before any prompt is produced: an unknown variable or wildcard, a wildcard cycle or a
syntax error inside a wildcard entry is a TemplateError pointing at the place in the template that refers to it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from sd_prompt_templates.engine.errors import TemplateError, TemplateLimitError, error_at
from sd_prompt_templates.engine.generators import Bind, Cat, Choice, Gen, Lit, Pick, SlotRef
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


class WildcardLookupError(LookupError):
    """A wildcard name is refused or unknown; the message says why."""


class WildcardSource(Protocol):
    def resolve(self, pattern: str) -> tuple[WildcardEntry, ...]:
        """Entries of every collection the name or glob matches; raises WildcardLookupError."""
        ...


VariableValue = str | int | float
_Binding = Gen | int  # a generator to expand at each use, or the slot of an immediate definition
_NOTHING_SPECIAL = re.compile(r"[^{}$_\\]*")


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
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


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
        self.given = given
        self.wildcards = wildcards
        self.limits = limits
        self.slots = 0
        self.stack: list[str] = []  # wildcards being compiled, for cycle detection
        self.at = 0  # offset in the template of the outermost node being compiled, for errors in wildcards
        self.wildcard_cache: dict[str, Gen] = {}

    def error(self, offset: int, message: str) -> TemplateError:
        return error_at(self.source, self.at if self.stack else offset, message)

    def top(self, root: Sequence) -> Gen:
        parts: list[Gen] = []
        for item in root.items:
            if isinstance(item, VariableDef):
                if item.name in self.given:
                    continue  # a value the caller passed wins over the template's own definition
                value = self.sequence(item.value)
                self.wildcard_cache.clear()  # entries may refer to the variable that just changed
                if item.immediate:
                    self.env[item.name] = self.slots
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
        return _cat([self.node(item) for item in items])

    def node(self, item: Node) -> Gen:
        if not self.stack:
            self.at = getattr(item, "offset", self.at)
        if isinstance(item, Text):
            return Lit(item.text)
        if isinstance(item, Sequence):
            return self.sequence(item)
        if isinstance(item, Variants):
            return self.variants(item)
        if isinstance(item, Wildcard):
            return self.wildcard(item.name, item.offset)
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
        return SlotRef(binding) if isinstance(binding, int) else binding

    def variants(self, v: Variants) -> Gen:
        options = [self.sequence(o.body) for o in v.options]
        weights = [o.weight for o in v.options]
        if v.pick is None:
            return options[0] if len(options) == 1 else Choice(options, weights)
        lone = v.options[0].body.items
        if len(v.options) == 1 and len(lone) == 1 and isinstance(lone[0], Wildcard):
            entries = self.entries(lone[0].name, lone[0].offset)  # `{2$$__colors__}` picks among the entries
            options = [self.entry(lone[0].name, e) for e in entries]
            weights = [e.weight for e in entries]
        lo, hi = v.pick
        return Pick(options, weights, lo, len(options) if hi is None else hi, v.joiner)

    def entries(self, name: str, offset: int) -> tuple[WildcardEntry, ...]:
        if self.wildcards is None:
            raise self.error(offset, f"wildcard '__{name}__' is unknown: no wildcard directories are configured")
        try:
            entries = self.wildcards.resolve(name)
        except WildcardLookupError as exc:
            raise self.error(offset, str(exc)) from None
        if not entries:
            raise self.error(offset, f"wildcard '__{name}__' has no entries")
        return entries

    def wildcard(self, name: str, offset: int) -> Gen:
        cached = self.wildcard_cache.get(name)
        if cached is not None:
            return cached
        if name in self.stack:
            chain = " -> ".join(f"__{n}__" for n in [*self.stack, name])
            raise self.error(offset, f"wildcards refer to each other in a cycle: {chain}")
        if len(self.stack) >= self.limits.max_depth:
            message = f"wildcards nest deeper than the limit of {self.limits.max_depth}"
            raise error_at(self.source, self.at, message, TemplateLimitError)
        entries = self.entries(name, offset)
        options = [self.entry(name, e) for e in entries]
        gen = options[0] if len(options) == 1 else Choice(options, [e.weight for e in entries])
        self.wildcard_cache[name] = gen
        return gen

    def entry(self, name: str, entry: WildcardEntry) -> Gen:
        if _NOTHING_SPECIAL.fullmatch(entry.text):
            return Lit(entry.text)
        self.stack.append(name)
        try:
            try:
                tpl = _parse_entry(entry.text, self.limits)
            except TemplateError as exc:
                where = f" ({entry.origin})" if entry.origin else ""
                raise self.error(0, f"in wildcard '__{name}__'{where}: {exc}") from None
            if any(isinstance(i, VariableDef) for i in tpl.root.items):
                raise self.error(0, f"in wildcard '__{name}__' ({entry.origin}): entries cannot define variables")
            return self.sequence(tpl.root)
        finally:
            self.stack.pop()


def _cat(parts: list[Gen]) -> Gen:
    merged: list[Gen] = []
    for part in parts:
        if isinstance(part, Lit) and merged and isinstance(merged[-1], Lit):
            merged[-1] = Lit(merged[-1].text + part.text)
        elif isinstance(part, Cat):
            merged.extend(part.parts)  # flatten, then merge texts below on the next pass
        else:
            merged.append(part)
    if any(isinstance(p, Cat) for p in parts):
        return _cat(merged)
    if len(merged) == 1:
        return merged[0]
    return Cat(merged) if merged else Lit("")
