from __future__ import annotations

from dataclasses import dataclass

# The engine recurses once per level of nesting (variants, variables and wildcards counted together, through every
# wildcard file), at most 5 Python frames a level. This cap keeps the deepest template far inside Python's default
# recursion limit of 1,000 frames, even when the caller (a web framework's thread) already sits 400 frames deep
# (tests/unit/test_limits.py). Settings cannot raise it.
MAX_DEPTH = 64


@dataclass(frozen=True)
class Limits:
    """Bounds checked before any expansion work starts."""

    max_template_length: int = 20_000
    max_depth: int = 24  # levels of nesting, counted across wildcards: `{a|__w__}` with `{x|y}` in w.txt is 2
    max_prompts: int = 1_000
    max_prompt_length: int = 1_000_000  # characters one prompt could reach at most: `{1-9$$__w__}` picks 9 entries
    # prompts x the longest prompt, for one request: about a second of work at worst
    max_request_length: int = 10_000_000

    def __post_init__(self) -> None:
        for name in ("max_template_length", "max_depth", "max_prompts", "max_prompt_length", "max_request_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.max_depth > MAX_DEPTH:
            raise ValueError(f"max_depth can be at most {MAX_DEPTH}, got {self.max_depth}")


DEFAULT_LIMITS = Limits()
