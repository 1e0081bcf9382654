"""The parsed form of a template: a tree of plain, immutable nodes that keep their source offsets.

Named tuples rather than frozen dataclasses: a template with hundreds of options builds hundreds of nodes, and
tuples are several times cheaper to create, which keeps parse + count of a large template well under a millisecond.
"""

from __future__ import annotations

from typing import NamedTuple


class Text(NamedTuple):
    text: str
    offset: int


class Sequence(NamedTuple):
    items: tuple[Node, ...]
    offset: int


class Option(NamedTuple):
    weight: float
    body: Sequence


class Variants(NamedTuple):
    """`{a|b}`, `{2::a|b}`, `{2$$a|b|c}`, `{1-3$$ and $$a|b|c}`; `pick` is None for a single choice."""

    options: tuple[Option, ...]
    pick: tuple[int, int | None] | None
    joiner: str
    offset: int


class Wildcard(NamedTuple):
    """`__name__`, `__dir/name__`, a glob such as `__colors*__`, or a name built from variants and variables,
    `__{cold|warm}__`, `__colors-${tone}__` (then `parts` holds its parsed form and `name` its source text)."""

    name: str
    offset: int
    parts: Sequence | None = None


class VariableRef(NamedTuple):
    """`${name}` or `${name:default}`."""

    name: str
    default: Sequence | None
    offset: int


class VariableDef(NamedTuple):
    """`${name=value}` (value expanded afresh at each use) or `${name=!value}` (expanded once, reused)."""

    name: str
    value: Sequence
    immediate: bool
    offset: int


Node = Text | Sequence | Variants | Wildcard | VariableRef | VariableDef
