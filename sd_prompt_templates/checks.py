"""Caps and lower bounds on a generation request, all checked before any work: how many prompts, each parameter our
own code reads (width, steps, seed...), and the size of the work (Settings' caps)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sd_prompt_templates.counts import show
from sd_prompt_templates.engine import Limits
from sd_prompt_templates.library.records import PARAMETER_RULES, rule_problem
from sd_prompt_templates.problems import PlanError, Problem
from sd_prompt_templates.settings import GenerationLimits

MAX_HR_SCALE = 16.0  # hires fix upscale: far past any GPU, short of float overflow


def check_prompt_count(n: int, limits: Limits, mode: str, total: int, offset: int) -> None:
    if n > limits.max_prompts:
        hint = " (pass a count, and an offset to go on later)" if mode == "combinatorial" else ""
        raise PlanError([Problem("count", f"{show(n)} images asked for; the limit is {limits.max_prompts}{hint}")])
    if mode == "combinatorial" and offset >= total:
        raise PlanError([Problem("offset", f"is past the last combination ({show(total)} in all)")])
    if n < 1:
        raise PlanError([Problem("count", "no images to make")])


def check_parameters(fields: Mapping[str, Any], names: Iterable[str]) -> None:
    """The values a request gives for generation parameters our own code reads (width, steps, seed...): of the right
    type and at least their lower bound (the Settings' caps are check_generation's). A 0 is refused, never read as
    "the default"."""
    problems = []
    for name in names:
        rule = PARAMETER_RULES.get(name)
        message = rule_problem(rule, fields.get(name), upper=False) if rule and name in fields else None
        if message:
            problems.append(Problem(name, message))
    if problems:
        raise PlanError(problems)


def check_generation(fields: Mapping[str, Any], images: int, limits: GenerationLimits) -> None:
    """Caps on the size of the work, all checked at once, before anything runs."""
    problems = []
    (width, height), hires = image_sizes(fields)
    steps = _int(fields, "steps", 20)
    for name, value, cap in (("width", width, limits.max_width), ("height", height, limits.max_height)):
        if value % 8:
            problems.append(Problem(name, f"must be a multiple of 8, got {value}"))
        if not 64 <= value <= cap:
            problems.append(Problem(name, f"must be between 64 and {cap}, got {value}"))
    if not 1 <= steps <= limits.max_steps:
        problems.append(Problem("steps", f"must be between 1 and {limits.max_steps}, got {steps}"))
    if images > limits.max_images:
        problems.append(Problem("count", f"{images} images in one request; the limit is {limits.max_images}"))
    work = width * height * steps
    if hires is not None:
        work += hires[0] * hires[1] * (_int(fields, "hr_second_pass_steps", 0) or steps)
    if not problems and work * images > limits.max_pixel_steps:
        problems.append(
            Problem(
                "steps",
                f"width x height x steps x images is {work * images:,}; the limit is {limits.max_pixel_steps:,} "
                "(fewer or smaller images, or fewer steps)",
            )
        )
    if problems:
        raise PlanError(problems)


def image_sizes(fields: Mapping[str, Any]) -> tuple[tuple[int, int], tuple[int, int] | None]:
    """(width, height) of the first pass, and of the hires pass when there is one."""
    width, height = _int(fields, "width", 512), _int(fields, "height", 512)
    if not fields.get("enable_hr"):
        return (width, height), None
    scale = fields.get("hr_scale")
    scale = 2.0 if scale is None else float(scale)
    if not 0 < scale <= MAX_HR_SCALE:
        raise PlanError([Problem("hr_scale", f"must be more than 0 and at most {MAX_HR_SCALE}, got {scale:g}")])
    return (width, height), (
        _int(fields, "hr_resize_x", 0) or int(width * scale),
        _int(fields, "hr_resize_y", 0) or int(height * scale),
    )


def _int(fields: Mapping[str, Any], name: str, default: int) -> int:
    """A field's value, or `default` when it is absent or null (the WebUI's defaults); a 0 stays 0."""
    value = fields.get(name)
    return default if value is None else int(value)
