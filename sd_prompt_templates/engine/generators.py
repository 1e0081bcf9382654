"""Compiled templates: small generator objects that count, sample and enumerate without building prompt lists.

Every generator knows its `count` (a Python int). `sample(rng, out, slots)` appends one random expansion's pieces to
`out`; `emit(index, out, slots)` appends the pieces of combination number `index` (0 <= index < count), which is
what makes combinatorial runs resumable at any offset without enumerating the prefix. `slots` carries the values of
`${name=!value}` variables that are fixed once per prompt.

Counts saturate at COUNT_CAP (about 10**19728): beyond it a template's count is reported as "at least" that, and
combinations are still enumerated exactly below it. Without the ceiling, a few lines of wildcards that each use the
next one twice make counts with millions of digits, and multiplying those costs minutes.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Iterator, Sequence
from itertools import accumulate
from random import Random
from typing import Any

from sd_prompt_templates.engine.errors import TemplateLimitError

CAP_BITS = 65_536
COUNT_CAP = 1 << CAP_BITS
# A pick whose options expand in different numbers of ways is enumerated with polynomial arithmetic whose cost grows
# with (options x picked x picked); past this many steps, combinatorial mode refuses it before starting (random mode
# and the count still work).
MAX_PICK_STEPS = 200_000


def sat_mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    if a.bit_length() + b.bit_length() - 2 >= CAP_BITS:
        return COUNT_CAP
    return min(a * b, COUNT_CAP)


def sat_sum(values: Iterator[int] | Sequence[int]) -> int:
    total = 0
    for v in values:
        total += v
        if total >= COUNT_CAP:
            return COUNT_CAP
    return total


SIZE_CAP = 1 << 62


class Gen:
    """`count`: how many combinations; `size`: the longest text it can give (an upper bound, in characters), so a
    template whose prompts could run to millions of characters is refused before any is made."""

    __slots__ = ("count", "size")
    count: int
    size: int

    def sample(self, rng: Random, out: list[str], slots: list[str]) -> None:
        raise NotImplementedError

    def emit(self, index: int, out: list[str], slots: list[str]) -> None:
        raise NotImplementedError

    def children(self) -> Sequence[Gen]:
        return ()

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
        self.size = len(text)

    def sample(self, rng: Random, out: list[str], slots: list[str]) -> None:
        out.append(self.text)

    def emit(self, index: int, out: list[str], slots: list[str]) -> None:
        out.append(self.text)


class Cat(Gen):
    """Parts one after another; in enumeration the last part varies fastest (like itertools.product).

    Constant text and choices among plain texts are handled inline, without a call per part: they are what most
    templates consist of, and this is the loop every prompt goes through. `shared` marks a Cat that several places
    use (a wildcard's entry): the compiler never splices such a Cat into another, so shared wildcards stay shared.
    """

    __slots__ = ("parts", "varying", "emit_steps", "sample_steps", "shared")

    def __init__(self, parts: Sequence[Gen]) -> None:
        self.parts = tuple(parts)
        count = 1
        for p in self.parts:
            count = sat_mul(count, p.count)
        self.count = count
        self.size = min(sum(p.size for p in self.parts), SIZE_CAP)
        self.varying = tuple(reversed([(i, p.count) for i, p in enumerate(self.parts) if p.count != 1]))
        self.emit_steps = tuple(_step(p, for_sampling=False) for p in self.parts)
        self.sample_steps = tuple(_step(p, for_sampling=True) for p in self.parts)
        self.shared = False

    def children(self) -> Sequence[Gen]:
        return self.parts

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

    __slots__ = ("options", "weights", "starts", "cum_weights", "total_weight", "texts")

    def __init__(self, options: Sequence[Gen], weights: Sequence[float] | None = None) -> None:
        self.options = tuple(options)
        self.weights = tuple(weights) if weights is not None else (1.0,) * len(self.options)
        every_text = all(isinstance(o, Lit) for o in self.options)
        self.texts = tuple(o.text for o in self.options) if every_text else None  # type: ignore[attr-defined]
        counts = [o.count for o in self.options]
        self.count = sat_sum(counts)
        self.size = max((o.size for o in self.options), default=0)
        self.starts = [min(s, COUNT_CAP) for s in accumulate(counts, initial=0)][:-1]
        low, high = min(self.weights, default=1.0), max(self.weights, default=1.0)
        uniform = high - low <= 1e-12 * high
        self.cum_weights = None if uniform else list(accumulate(self.weights))
        self.total_weight = self.cum_weights[-1] if self.cum_weights else 0.0

    def children(self) -> Sequence[Gen]:
        return self.options

    def sample(self, rng: Random, out: list[str], slots: list[str]) -> None:
        if self.cum_weights is None:
            self.options[int(rng.random() * len(self.options))].sample(rng, out, slots)
        else:
            i = bisect.bisect_right(self.cum_weights, rng.random() * self.total_weight)
            self.options[min(i, len(self.options) - 1)].sample(rng, out, slots)

    def emit(self, index: int, out: list[str], slots: list[str]) -> None:
        i = bisect.bisect_right(self.starts, index) - 1
        self.options[i].emit(index - self.starts[i], out, slots)


def flat_texts(gen: Gen) -> list[tuple[str, float]] | None:
    """(text, probability) of each text `gen` can give, when it is plain text or a choice among plain texts."""
    if isinstance(gen, Lit):
        return [(gen.text, 1.0)]
    if isinstance(gen, Choice) and gen.texts is not None:
        total = sum(gen.weights)
        return [(t, w / total) for t, w in zip(gen.texts, gen.weights, strict=True)]
    return None


def distinct_texts(items: Sequence[tuple[Sequence[tuple[str, float]], float]]) -> dict[str, float]:
    """Merge weighted groups of (text, probability) into one table of distinct texts, first occurrence first.

    Each group carries its weight; a text that several groups (or one group twice) give keeps the sum of its
    probabilities, so random mode keeps its distribution while combinatorial mode lists the text once.
    """
    total = sum(weight for _, weight in items) or 1.0
    merged: dict[str, float] = {}
    for group, weight in items:
        for text, p in group:
            merged[text] = merged.get(text, 0.0) + p * weight / total
    return merged


def choice(options: Sequence[Gen], weights: Sequence[float]) -> Gen:
    """A choice among options; plain-text options (and choices among plain texts) are merged into one table of
    distinct texts, so `{a|a|b}` and `{a|{a|b}}` list `a` once."""
    if len(options) == 1:  # one option (a wildcard named once): already as distinct as it gets
        return options[0]
    flats = [flat_texts(o) for o in options]
    if all(f is not None for f in flats):
        merged = distinct_texts([(f, w) for f, w in zip(flats, weights, strict=True) if f is not None])
        if len(merged) == 1:
            return Lit(next(iter(merged)))
        return Choice([Lit(t) for t in merged], list(merged.values()))
    if len(options) == 1:
        return options[0]
    return Choice(options, weights)


class Pick(Gen):
    """`{lo-hi$$joiner$$...}`: an ordered selection of k distinct options, lo <= k <= hi, joined.

    Ordered, as in sd-dynamic-prompts: `{2$$a|b}` gives "a,b" and "b,a". Enumeration goes by k, then by the
    first option's position among those left, then by that option's own combinations, then by the rest.

    Options that all expand in the same number of ways (plain texts, the usual case) are enumerated with closed
    forms: k options of n, c ways each, make n!/(n-k)! * c**k combinations. Otherwise the counts come from the
    elementary symmetric polynomials of the options' counts, grouped by equal counts.
    """

    __slots__ = ("options", "weights", "lo", "hi", "joiner", "counts", "uniform", "by_k", "emit_steps")

    def __init__(self, options: Sequence[Gen], weights: Sequence[float], lo: int, hi: int, joiner: str) -> None:
        self.options = tuple(options)
        self.weights = tuple(weights)
        n = len(self.options)
        self.lo, self.hi = min(lo, n), min(hi, n)
        self.joiner = joiner
        self.counts = tuple(o.count for o in self.options)
        longest = heapq.nlargest(self.hi, (o.size for o in self.options))
        self.size = min(sum(longest) + max(len(longest) - 1, 0) * len(joiner), SIZE_CAP)
        self.uniform = len(set(self.counts)) <= 1
        if self.uniform:
            c = self.counts[0] if n else 1
            arrangements, per_k = 1, {}
            for k in range(0, self.hi + 1):
                if k:
                    arrangements = sat_mul(arrangements, (n - k + 1) * c if c < COUNT_CAP else COUNT_CAP)
                if k >= self.lo:
                    per_k[k] = arrangements
            self.by_k = [(k, per_k[k]) for k in range(self.lo, self.hi + 1)]
            self.emit_steps = 0
        else:
            classes = _count_classes(self.counts)
            self.emit_steps = self.hi * (len(classes) * self.hi + n)
            cost, width = 0, 1
            for m in classes.values():
                cost += width * (min(m, self.hi) + 1)
                width = min(width + m, self.hi + 1)
            if cost > 5 * MAX_PICK_STEPS:
                raise TemplateLimitError(
                    f"a pick of up to {self.hi} among {n} options that expand in {len(classes)} different numbers "
                    "of ways is too large to count; make the options alike (plain text) or pick fewer"
                )
            e = _elementary(classes, self.hi, saturate=True)
            self.by_k = [(k, sat_mul(_sat_factorial(k), e[k])) for k in range(self.lo, self.hi + 1)]
        self.count = sat_sum(c for _, c in self.by_k)

    def children(self) -> Sequence[Gen]:
        return self.options

    def sample(self, rng: Random, out: list[str], slots: list[str]) -> None:
        k = rng.randint(self.lo, self.hi)
        n = len(self.options)
        if len(set(self.weights)) <= 1:
            chosen = rng.sample(range(n), k)
        else:  # weighted sampling without replacement (Efraimidis-Spirakis): the k largest u ** (1 / weight)
            keys = [rng.random() ** (1.0 / w) for w in self.weights]
            chosen = heapq.nlargest(k, range(n), key=keys.__getitem__)
        out.append(self.joiner.join(self.options[j].render_sample(rng, slots) for j in chosen))

    def emit(self, index: int, out: list[str], slots: list[str]) -> None:
        k = self.lo
        for k, total in self.by_k:  # noqa: B007  (k is used after the loop)
            if index < total:
                break
            index -= total
        picks = self._unrank_uniform(index, k) if self.uniform else self._unrank_mixed(index, k)
        out.append(self.joiner.join(self.options[j].render_emit(digit, slots) for j, digit in picks))

    def _unrank_uniform(self, index: int, k: int) -> list[tuple[int, int]]:
        n, c = len(self.options), self.counts[0] if self.counts else 1
        radices = [r for i in range(k) for r in (n - i, c)]
        digits = [0] * len(radices)
        for at in range(len(radices) - 1, -1, -1):
            index, digits[at] = divmod(index, radices[at])
        remaining = list(range(n))
        return [(remaining.pop(digits[2 * i]), digits[2 * i + 1]) for i in range(k)]

    def _unrank_mixed(self, index: int, k: int) -> list[tuple[int, int]]:
        if self.emit_steps > MAX_PICK_STEPS or COUNT_CAP in self.counts:
            raise TemplateLimitError(
                f"a pick of up to {self.hi} among {len(self.options)} options that expand in different numbers of "
                "ways is too large to list in combinatorial mode; use random mode, or make the options alike"
            )
        remaining = list(range(len(self.options)))
        left = _count_classes([self.counts[j] for j in remaining])
        e = _elementary(left, k, saturate=False)
        picks = []
        for r in range(k, 0, -1):
            # options of equal count head blocks of equal size: count * (r-1)! * e_{r-1}(the others)
            block = {c: c * math.factorial(r - 1) * _without(e, c, r - 1)[r - 1] for c in left}
            for at, j in enumerate(remaining):
                size = block[self.counts[j]]
                if index < size:
                    digit, index = divmod(index, size // self.counts[j])
                    picks.append((j, digit))
                    remaining.pop(at)
                    c = self.counts[j]
                    left[c] -= 1
                    if not left[c]:
                        del left[c]
                    e = _without(e, c, len(e) - 1)
                    break
                index -= size
        return picks


def _count_classes(counts: Sequence[int]) -> dict[int, int]:
    classes: dict[int, int] = {}
    for c in counts:
        classes[c] = classes.get(c, 0) + 1
    return classes


def _elementary(classes: dict[int, int], degree: int, *, saturate: bool) -> list[int]:
    """e_0..e_degree of a multiset of counts given as {count: how many}: the coefficients of prod (1 + c x)^m."""
    mul = sat_mul if saturate else _mul
    poly = [1] + [0] * degree
    for c, m in classes.items():
        top = min(m, degree)
        binomial = [1] * (top + 1)
        comb, power = 1, 1
        for i in range(1, top + 1):
            comb = comb * (m - i + 1) // i
            power = mul(power, c)
            binomial[i] = mul(comb, power)
        product = [0] * (degree + 1)
        for i, a in enumerate(poly):
            if a:
                for j in range(min(top, degree - i) + 1):
                    value = product[i + j] + mul(a, binomial[j])
                    product[i + j] = min(value, COUNT_CAP) if saturate else value
        poly = product
    return poly


def _mul(a: int, b: int) -> int:
    return a * b


def _sat_factorial(k: int) -> int:
    return COUNT_CAP if k > 5_500 else min(math.factorial(k), COUNT_CAP)  # 5,500! has about 18,000 digits


def _without(e: list[int], c: int, degree: int) -> list[int]:
    """e_0..e_degree of the multiset minus one member of count c, from e of the whole: e_m - c * e_{m-1}(without)."""
    out = [1] * (degree + 1)
    for m in range(1, degree + 1):
        out[m] = e[m] - c * out[m - 1]
    return out


class Bind(Gen):
    """`${name=!value}`: expands its value once per prompt into a slot, emits nothing itself."""

    __slots__ = ("slot", "value")

    def __init__(self, slot: int, value: Gen) -> None:
        self.slot = slot
        self.value = value
        self.count = value.count
        self.size = 0

    def children(self) -> Sequence[Gen]:
        return (self.value,)

    def sample(self, rng: Random, out: list[str], slots: list[str]) -> None:
        slots[self.slot] = self.value.render_sample(rng, slots)

    def emit(self, index: int, out: list[str], slots: list[str]) -> None:
        slots[self.slot] = self.value.render_emit(index, slots)


class SlotRef(Gen):
    __slots__ = ("slot",)

    def __init__(self, slot: int, size: int) -> None:
        self.slot = slot
        self.count = 1
        self.size = size  # the longest value the slot's definition can give

    def sample(self, rng: Random, out: list[str], slots: list[str]) -> None:
        out.append(slots[self.slot])

    def emit(self, index: int, out: list[str], slots: list[str]) -> None:
        out.append(slots[self.slot])


def uses_slots(gen: Gen) -> bool:
    """Whether `gen` reads a `${name=!value}` slot anywhere below it (walked without recursion)."""
    stack, seen = [gen], set()
    while stack:
        g = stack.pop()
        if isinstance(g, SlotRef):
            return True
        if id(g) not in seen:
            seen.add(id(g))
            stack.extend(g.children())
    return False
