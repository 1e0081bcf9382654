"""Compiled templates: small generator objects that count, sample and enumerate without building prompt lists.

Every generator knows its exact `count` (a Python int, so 10**30 is fine). `sample(rng, out, slots)` appends one
random expansion's pieces to `out`; `emit(index, out, slots)` appends the pieces of combination number `index`
(0 <= index < count), which is what makes combinatorial runs resumable at any offset without enumerating the prefix.
`slots` carries the values of `${name=!value}` variables that are fixed once per prompt.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from functools import lru_cache
from itertools import accumulate
from random import Random
from typing import Any


class Gen:
    __slots__ = ("count",)
    count: int

    def sample(self, rng: Random, out: list[str], slots: list[str]) -> None:
        raise NotImplementedError

    def emit(self, index: int, out: list[str], slots: list[str]) -> None:
        raise NotImplementedError

    def render_sample(self, rng: Random, slots: list[str]) -> str:
        buf: list[str] = []
        self.sample(rng, buf, slots)
        return "".join(buf)

    def render_emit(self, index: int, slots: list[str]) -> str:
        buf: list[str] = []
        self.emit(index, buf, slots)
        return "".join(buf)


class Lit(Gen):
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text
        self.count = 1

    def sample(self, rng: Random, out: list[str], slots: list[str]) -> None:
        out.append(self.text)

    def emit(self, index: int, out: list[str], slots: list[str]) -> None:
        out.append(self.text)


class Cat(Gen):
    """Parts one after another; in enumeration the last part varies fastest (like itertools.product).

    Constant text and choices among plain texts are handled inline, without a call per part: they are what most
    templates consist of, and this is the loop every prompt goes through.
    """

    __slots__ = ("parts", "varying", "emit_steps", "sample_steps")

    def __init__(self, parts: Sequence[Gen]) -> None:
        self.parts = tuple(parts)
        self.count = math.prod(p.count for p in self.parts)
        self.varying = tuple(reversed([(i, p.count) for i, p in enumerate(self.parts) if p.count != 1]))
        self.emit_steps = tuple(_step(p, for_sampling=False) for p in self.parts)
        self.sample_steps = tuple(_step(p, for_sampling=True) for p in self.parts)

    def sample(self, rng: Random, out: list[str], slots: list[str]) -> None:
        random = rng.random
        for kind, payload in self.sample_steps:
            if kind == _TEXT:
                out.append(payload)
            elif kind == _TEXTS:
                out.append(payload[int(random() * len(payload))])
            else:
                payload.sample(rng, out, slots)

    def emit(self, index: int, out: list[str], slots: list[str]) -> None:
        digits = [0] * len(self.parts)
        for i, count in self.varying:
            index, digits[i] = divmod(index, count)
        for (kind, payload), digit in zip(self.emit_steps, digits, strict=False):
            if kind == _TEXT:
                out.append(payload)
            elif kind == _TEXTS:
                out.append(payload[digit])
            else:
                payload.emit(digit, out, slots)


_TEXT, _TEXTS, _GEN = 0, 1, 2


def _step(part: Gen, *, for_sampling: bool) -> tuple[int, Any]:
    if isinstance(part, Lit):
        return (_TEXT, part.text)
    if isinstance(part, Choice) and part.texts is not None and not (for_sampling and part.cum_weights):
        return (_TEXTS, part.texts)
    return (_GEN, part)


class Choice(Gen):
    """One of several options, weighted in random mode; enumerated option by option."""

    __slots__ = ("options", "starts", "cum_weights", "total_weight", "texts")

    def __init__(self, options: Sequence[Gen], weights: Sequence[float] | None = None) -> None:
        self.options = tuple(options)
        every_text = all(isinstance(o, Lit) for o in self.options)
        self.texts = tuple(o.text for o in self.options) if every_text else None  # type: ignore[attr-defined]
        counts = [o.count for o in self.options]
        self.count = sum(counts)
        self.starts = list(accumulate(counts, initial=0))[:-1]
        uniform = weights is None or len(set(weights)) <= 1
        self.cum_weights = None if uniform else list(accumulate(weights))  # type: ignore[arg-type]
        self.total_weight = self.cum_weights[-1] if self.cum_weights else 0.0

    def sample(self, rng: Random, out: list[str], slots: list[str]) -> None:
        if self.cum_weights is None:
            self.options[int(rng.random() * len(self.options))].sample(rng, out, slots)
        else:
            i = bisect.bisect_right(self.cum_weights, rng.random() * self.total_weight)
            self.options[min(i, len(self.options) - 1)].sample(rng, out, slots)

    def emit(self, index: int, out: list[str], slots: list[str]) -> None:
        i = bisect.bisect_right(self.starts, index) - 1
        self.options[i].emit(index - self.starts[i], out, slots)


class Pick(Gen):
    """`{lo-hi$$joiner$$...}`: an ordered selection of k distinct options, lo <= k <= hi, joined.

    Ordered, as in sd-dynamic-prompts: `{2$$a|b}` gives "a,b" and "b,a". Enumeration goes by k, then by the
    first option's position, then by that option's own combinations, then recursively by the rest.
    """

    __slots__ = ("options", "weights", "lo", "hi", "joiner", "counts", "by_k")

    def __init__(self, options: Sequence[Gen], weights: Sequence[float], lo: int, hi: int, joiner: str) -> None:
        self.options = tuple(options)
        self.weights = tuple(weights)
        n = len(self.options)
        self.lo, self.hi = min(lo, n), min(hi, n)
        self.joiner = joiner
        self.counts = tuple(o.count for o in self.options)
        everyone = tuple(range(n))
        self.by_k = [(k, _arrangements(self.counts, everyone, k)) for k in range(self.lo, self.hi + 1)]
        self.count = sum(c for _, c in self.by_k)

    def sample(self, rng: Random, out: list[str], slots: list[str]) -> None:
        k = rng.randint(self.lo, self.hi)
        remaining = list(range(len(self.options)))
        weights = list(self.weights)
        texts = []
        for _ in range(k):
            target = rng.random() * sum(weights)
            j = bisect.bisect_right(list(accumulate(weights)), target)
            j = min(j, len(remaining) - 1)
            texts.append(self.options[remaining.pop(j)].render_sample(rng, slots))
            weights.pop(j)
        out.append(self.joiner.join(texts))

    def emit(self, index: int, out: list[str], slots: list[str]) -> None:
        k = self.lo
        for k, total in self.by_k:  # noqa: B007  (k is used after the loop)
            if index < total:
                break
            index -= total
        chosen = list(range(len(self.options)))
        texts = []
        for r in range(k, 0, -1):
            for j in chosen:
                rest = tuple(x for x in chosen if x != j)
                per_choice = _arrangements(self.counts, rest, r - 1)
                block = self.counts[j] * per_choice
                if index < block:
                    digit, index = divmod(index, per_choice)
                    texts.append(self.options[j].render_emit(digit, slots))
                    chosen = list(rest)
                    break
                index -= block
        out.append(self.joiner.join(texts))


@lru_cache(maxsize=4096)
def _arrangements(counts: tuple[int, ...], members: tuple[int, ...], r: int) -> int:
    """Ordered selections of r distinct members, each contributing its own count: r! * e_r(counts of members)."""
    elementary = [1] + [0] * r  # elementary symmetric polynomials e_0..e_r of the members' counts
    for m in members:
        c = counts[m]
        for j in range(r, 0, -1):
            elementary[j] += elementary[j - 1] * c
    return math.factorial(r) * elementary[r]


class Bind(Gen):
    """`${name=!value}`: expands its value once per prompt into a slot, emits nothing itself."""

    __slots__ = ("slot", "value")

    def __init__(self, slot: int, value: Gen) -> None:
        self.slot = slot
        self.value = value
        self.count = value.count

    def sample(self, rng: Random, out: list[str], slots: list[str]) -> None:
        slots[self.slot] = self.value.render_sample(rng, slots)

    def emit(self, index: int, out: list[str], slots: list[str]) -> None:
        slots[self.slot] = self.value.render_emit(index, slots)


class SlotRef(Gen):
    __slots__ = ("slot",)

    def __init__(self, slot: int) -> None:
        self.slot = slot
        self.count = 1

    def sample(self, rng: Random, out: list[str], slots: list[str]) -> None:
        out.append(slots[self.slot])

    def emit(self, index: int, out: list[str], slots: list[str]) -> None:
        out.append(slots[self.slot])
