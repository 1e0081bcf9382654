"""Showing counts of any size safely.

A template's count is an exact Python int and can have thousands of digits (`{1-2000$$...}`). `str()` refuses ints
over 4,300 digits on Python 3.11+ (CVE-2020-10735), and JSON clients in JavaScript read integers exactly only up to
2**53 - 1. So counts are carried as ints and only shown through these helpers.
"""

from __future__ import annotations

import math


class AtLeast(int):
    """A count that reached the engine's ceiling (engine.generators.COUNT_CAP): the template has at least this many
    combinations. Still an int, so it compares and serialises like one; `show` marks it with `≥`."""


JSON_SAFE_MAX = 2**53 - 1  # the largest integer every JSON client (JavaScript's Number) reads exactly
MAX_DIGITS = 60  # shown in full up to this many digits; beyond, as ≈1.23e5000


def digits(n: int) -> int:
    """How many decimal digits |n| has, without converting it to text."""
    n = abs(n)
    if n < 10:
        return 1
    estimate = int(n.bit_length() * math.log10(2))  # exact or one short
    return estimate + 1 if n >= 10**estimate else estimate


def approximate(n: int, significant: int = 3) -> str:
    """`n` in scientific notation, e.g. `1.23e5000`, for ints of any size."""
    sign = "-" if n < 0 else ""
    n = abs(n)
    exponent = digits(n) - 1
    if exponent < significant:
        return f"{sign}{n}"
    head = n // 10 ** (exponent - significant)  # significant + 1 digits, for rounding
    head = (head + 5) // 10
    if head >= 10**significant:  # 9.995e9 rounds to 1.00e10
        head //= 10
        exponent += 1
    text = str(head)
    return f"{sign}{text[0]}.{text[1:]}e{exponent}"


def show(n: int, max_digits: int = MAX_DIGITS) -> str:
    """Every digit of `n` when it has at most `max_digits`, otherwise `≈1.23e5000`; `≥…` for an `AtLeast` count."""
    if isinstance(n, AtLeast):
        return "≥" + approximate(n)
    return str(n) if digits(n) <= max_digits else "≈" + approximate(n)


def json_count(n: int) -> int | None:
    """`n` itself where every JSON client reads it exactly, else None (callers then give `count_text`)."""
    return n if -JSON_SAFE_MAX <= n <= JSON_SAFE_MAX else None
