from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from random import Random
from typing import Literal

from sd_prompt_templates.engine.compiler import VariableValue, WildcardSource, compile_template
from sd_prompt_templates.engine.errors import TemplateError, TemplateLimitError
from sd_prompt_templates.engine.limits import DEFAULT_LIMITS, Limits
from sd_prompt_templates.engine.parser import Template

Mode = Literal["random", "combinatorial"]
MODES: tuple[Mode, ...] = ("random", "combinatorial")
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
        self._root = compiled.root
        self._slot_count = compiled.slot_count
        self.limits = limits

    @property
    def count(self) -> int:
        """The exact number of distinct combinations, computed from the template without expanding it."""
        return self._root.count

    def random(self, seed: int) -> str:
        """The prompt for `seed`: a pure function of template, variables and seed."""
        return self._root.render_sample(Random(seed), [""] * self._slot_count)

    def nth(self, index: int) -> str:
        """Combination number `index` in the fixed combinatorial order."""
        if not 0 <= index < self.count:
            raise IndexError(f"combination {index} is out of range: the template has {self.count}")
        return self._root.render_emit(index, [""] * self._slot_count)

    def combinations(self, offset: int = 0, limit: int | None = None) -> list[str]:
        """`limit` combinations from `offset` on (all that remain when None), within the prompts limit."""
        if offset < 0:
            raise TemplateError(f"offset must be 0 or more, got {offset}")
        remaining = max(self.count - offset, 0)
        n = remaining if limit is None else min(limit, remaining)
        self._check_prompt_count(n, "combinations" if limit is None else "prompts")
        return [self._root.render_emit(i, [""] * self._slot_count) for i in range(offset, offset + n)]

    def _check_prompt_count(self, n: int, what: str) -> None:
        if n > self.limits.max_prompts:
            hint = "; pass a smaller limit (and an offset to go on later)" if what == "combinations" else ""
            raise TemplateLimitError(f"{n} {what} requested; the limit per request is {self.limits.max_prompts}{hint}")


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
        raise TemplateError(f"the number of prompts must be 0 or more, got {n}")
    if mode == "random" and n is None:
        raise TemplateError("random mode needs a number of prompts")
    if mode == "random" and n is not None and n > limits.max_prompts:
        raise TemplateLimitError(f"{n} prompts requested; the limit per request is {limits.max_prompts}")
    seed = fixed_seed(seed)
    expansion = Expansion(template, variables, wildcards, limits)
    if mode == "random":
        assert n is not None
        seeds = [seed + i for i in range(n)]
        return Rendered(mode, expansion.count, [expansion.random(s) for s in seeds], seeds)
    prompts = expansion.combinations(offset, n)
    return Rendered(mode, expansion.count, prompts, [seed + i for i in range(len(prompts))], offset)
