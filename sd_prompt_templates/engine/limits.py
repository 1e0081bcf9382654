from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Bounds checked before any expansion work starts."""

    max_template_length: int = 20_000
    max_depth: int = 24
    max_prompts: int = 1_000

    def __post_init__(self) -> None:
        for name in ("max_template_length", "max_depth", "max_prompts"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")


DEFAULT_LIMITS = Limits()
