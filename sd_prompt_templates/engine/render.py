from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from random import Random
from typing import Literal

from sd_prompt_templates import counts
from sd_prompt_templates.counts import AtLeast
from sd_prompt_templates.engine.compiler import VariableValue, WildcardSource, compile_template
from sd_prompt_templates.engine.errors import TemplateError, TemplateLimitError
from sd_prompt_templates.engine.generators import COUNT_CAP
from sd_prompt_templates.engine.limits import DEFAULT_LIMITS, Limits
from sd_prompt_templates.engine.parser import Template

Mode = Literal["random", "combinatorial"]
MODES: tuple[Mode, ...] = ("random", "combinatorial")
LISTED_LIMIT = 10_000  # templates with at most this many combinations are listed once to count distinct prompts
LISTED_CHARACTERS = 20_000_000  # ... while listing them all takes at most this much text
RANDOM_SEED_RANGE = 4294967294  # the WebUI's own: int(random.randrange(4294967294))


def fixed_seed(seed: int | None) -> int:
    """The seed to use: the one given, or a random one for None or -1 (as the WebUI does)."""
    return secrets.randbelow(RANDOM_SEED_RANGE) if seed is None or seed < 0 else int(seed)


class Expansion:
    """A template bound to its variables and wildcards, ready to count and expand."""

    def __init__(
        self,
        template: Template | str,
        variables: Mapping[str, VariableValue] | None = None,
        wildcards: WildcardSource | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        compiled = compile_template(template, variables, wildcards, limits)
        if compiled.root.size > limits.max_prompt_length:
            raise TemplateLimitError(
                f"a prompt from this template could be {counts.show(compiled.root.size)} characters long; the limit "
                f"is {limits.max_prompt_length:,} (pick fewer entries, or nest wildcards less)"
            )
        self._root = compiled.root
        self._slot_count = compiled.slot_count
        self.limits = limits

    @property
    def count(self) -> int:
        """The number of distinct prompts combinatorial mode makes. Up to LISTED_LIMIT combinations they are
        listed once and counted exactly (so `{a|}{|a}`, which gives `a` by two routes, counts 3); beyond, the count
        comes from the template alone: the number of routes, exact below COUNT_CAP (about 10**19728), an
        `AtLeast` count from there on."""
        listed = self._listed
        if listed is not None:
            return len(listed)
        count = self._root.count
        return AtLeast(count) if count >= COUNT_CAP else count

    @cached_property
    def _listed(self) -> list[str] | None:
        if self._root.count > LISTED_LIMIT or self._root.count * self._root.size > LISTED_CHARACTERS:
            return None
        slots = [""] * self._slot_count
        return list(dict.fromkeys(self._root.render_emit(i, slots) for i in range(self._root.count)))

    def random(self, seed: int) -> str:
        """The prompt for `seed`: a pure function of template, variables and seed."""
        return self._root.render_sample(Random(seed), [""] * self._slot_count)

    def nth(self, index: int) -> str:
        """Combination number `index` in the fixed combinatorial order."""
        if not 0 <= index < self.count:
            raise IndexError(f"combination {index} is out of range: the template has {counts.show(self.count)}")
        listed = self._listed
        return listed[index] if listed is not None else self._root.render_emit(index, [""] * self._slot_count)

    def combinations(self, offset: int = 0, limit: int | None = None) -> list[str]:
        """`limit` combinations from `offset` on (all that remain when None), within the prompts limit.

        A text that two routes through the template give is listed once (docs/SYNTAX.md, "Duplicates"); past
        LISTED_LIMIT combinations that holds within each call, so a page can then be shorter than `limit`.
        """
        if offset < 0:
            raise TemplateError(f"offset must be 0 or more, got {offset}")
        if offset >= COUNT_CAP:
            raise TemplateLimitError(f"offset {counts.show(offset)} is beyond the combinations that can be listed")
        remaining = max(self.count - offset, 0)
        n = remaining if limit is None else min(limit, remaining)
        self._check_prompt_count(n, "combinations" if limit is None else "prompts")
        listed = self._listed
        if listed is not None:
            return listed[offset : offset + n]
        slots = [""] * self._slot_count
        return list(dict.fromkeys(self._root.render_emit(i, slots) for i in range(offset, offset + n)))

    def check_request(self, n: int) -> None:
        """Refuse `n` prompts when, at their longest, they would take more work than one request may."""
        longest = self._root.size
        if n * longest > self.limits.max_request_length:
            most = max(self.limits.max_request_length // max(longest, 1), 1)
            raise TemplateLimitError(
                f"{counts.show(n)} prompts of up to {longest:,} characters each is more than one request may make "
                f"({self.limits.max_request_length:,} characters); ask for at most {most:,}"
            )

    def _check_prompt_count(self, n: int, what: str) -> None:
        if n > self.limits.max_prompts:
            hint = "; pass a smaller limit (and an offset to go on later)" if what == "combinations" else ""
            raise TemplateLimitError(
                f"{counts.show(n)} {what} requested; the limit per request is {self.limits.max_prompts}{hint}"
            )
        self.check_request(n)


@dataclass(frozen=True)
class Rendered:
    mode: Mode
    count: int  # combinations the template has in all
    prompts: list[str]
    seeds: list[int]  # one per prompt: the image seed, and in random mode what picked the prompt
    offset: int = 0  # combinatorial mode: index of the first prompt


def render(
    template: Template | str,
    *,
    variables: Mapping[str, VariableValue] | None = None,
    wildcards: WildcardSource | None = None,
    mode: Mode = "random",
    n: int | None = 1,
    seed: int | None = None,
    offset: int = 0,
    limits: Limits = DEFAULT_LIMITS,
) -> Rendered:
    """Expand a template. Random mode: `n` prompts for seeds seed, seed+1, ... as the WebUI numbers images.
    Combinatorial mode: up to `n` combinations from `offset` (all when n is None); seeds still count up from seed.
    """
    if mode not in MODES:
        raise TemplateError(f"mode must be 'random' or 'combinatorial', got {mode!r}")
    if n is not None and n < 0:
        raise TemplateError(f"the number of prompts must be 0 or more, got {counts.show(n)}")
    if mode == "random" and n is None:
        raise TemplateError("random mode needs a number of prompts")
    if mode == "random" and n is not None and n > limits.max_prompts:
        raise TemplateLimitError(f"{counts.show(n)} prompts requested; the limit per request is {limits.max_prompts}")
    seed = fixed_seed(seed)
    expansion = Expansion(template, variables, wildcards, limits)
    if mode == "random":
        assert n is not None
        expansion.check_request(n)
        seeds = [seed + i for i in range(n)]
        return Rendered(mode, expansion.count, [expansion.random(s) for s in seeds], seeds)
    prompts = expansion.combinations(offset, n)
    return Rendered(mode, expansion.count, prompts, [seed + i for i in range(len(prompts))], offset)
