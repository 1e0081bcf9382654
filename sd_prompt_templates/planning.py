"""From a request (a library template or inline text, variables, mode, count) to the prompts of each image.

Shared by the REST API, the render preview and the Script, so the three can never disagree about what a template
means. Problems come back as `Problem`s naming the request field (and line/column for template errors)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sd_prompt_templates.counts import show
from sd_prompt_templates.engine import Expansion, Limits, TemplateError, WildcardSource
from sd_prompt_templates.library import (
    FieldProblem,
    InvalidTemplate,
    TemplateNotFound,
    TemplateRecord,
    TemplateStore,
    resolve_variables,
)
from sd_prompt_templates.library.records import PARAMETER_RULES, rule_problem, value_text
from sd_prompt_templates.models import INFOTEXT_LABELS
from sd_prompt_templates.settings import GenerationLimits

Problem = FieldProblem  # a field at fault, its message, and where in a template when that applies
MAX_HR_SCALE = 16.0  # hires fix upscale: far past any GPU, short of float overflow


class PlanError(ValueError):
    """The request cannot be turned into prompts; `problems` say which field and why."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class UnknownTemplate(PlanError):
    """The request names a library template that does not exist."""


@dataclass(frozen=True)
class Bound:
    """A template with its variables resolved and its wildcards looked up, ready to give prompts."""

    name: str | None
    prompt_source: str
    negative_source: str
    variables: dict[str, str]
    prompt: Expansion
    negative: Expansion
    version: int | None = None  # the library template's version, when it is one

    @property
    def total(self) -> int:
        return self.prompt.count

    def image_count(self, mode: str, count: int | None, offset: int, default: int) -> int:
        if count is not None:
            return count
        if mode == "random":
            return default
        return max(self.total - offset, 0)

    def prompts(self, mode: str, seeds: Sequence[int], offset: int = 0) -> tuple[list[str], list[str]]:
        """One prompt and one negative prompt per seed. Combinatorial prompts go in order from `offset` and wrap
        around if there are more images than combinations left; negative prompts always follow the seed."""
        try:
            self.prompt.check_request(len(seeds))
            self.negative.check_request(len(seeds))
            if mode == "random":
                prompts = [self.prompt.random(s) for s in seeds]
            else:
                # more images than combinations (or than the prompt limit): the prompts wrap around
                n = min(len(seeds), self.total - offset, self.prompt.limits.max_prompts)
                combos = self.prompt.combinations(offset, n) if n > 0 else []
        except TemplateError as exc:  # a limit of the engine: too much text, a pick too large to list
            field = "count" if exc.line is None else "prompt"
            raise PlanError([Problem(field, exc.message, exc.line, exc.column)]) from None
        if mode == "combinatorial":
            if not combos:
                raise PlanError([Problem("offset", f"is past the last combination ({show(self.total)} in all)")])
            prompts = [combos[i % len(combos)] for i in range(len(seeds))]
        negatives = [self.negative.random(s) for s in seeds]
        return prompts, negatives


def infotext_fields(
    bound: Bound, mode: str, offset: int, count: int | None, variables: Mapping[str, Any]
) -> dict[str, str]:
    """What a generation from `bound` adds to each image's infotext, so that pasting it restores the template."""
    fields = {INFOTEXT_LABELS["mode"]: mode}
    if bound.name:
        fields[INFOTEXT_LABELS["template"]] = bound.name
    else:
        fields[INFOTEXT_LABELS["source"]] = bound.prompt_source
        if bound.negative_source:
            fields[INFOTEXT_LABELS["negative_source"]] = bound.negative_source
    if variables:
        fields[INFOTEXT_LABELS["variables"]] = json.dumps(dict(variables), ensure_ascii=False)
    if count is not None:
        fields[INFOTEXT_LABELS["count"]] = str(count)
    if mode == "combinatorial" and offset:
        fields[INFOTEXT_LABELS["offset"]] = str(offset)
    return fields


def join_prompts(*parts: str) -> str:
    return ", ".join(p.strip() for p in parts if p and p.strip())


def read_template(store: TemplateStore, name: str) -> TemplateRecord:
    try:
        return store.get(name)
    except TemplateNotFound as exc:
        raise UnknownTemplate([Problem("template", str(exc))]) from None


def bind(
    record: TemplateRecord | None,
    wildcards: WildcardSource | None,
    limits: Limits,
    *,
    prompt: str,
    negative_prompt: str,
    variables: Mapping[str, Any],
) -> Bound:
    """Resolve a library template (its record, read once by the caller) or inline prompt text, plus variables."""
    template = record.name if record is not None else None
    if record is not None:
        try:
            values = resolve_variables(record.variables, variables)
        except InvalidTemplate as exc:
            raise PlanError(exc.problems) from None
        prompt_source, negative_source = record.prompt, join_prompts(record.negative_prompt, negative_prompt)
        prompt_field, negative_field = "template", "negative_prompt"
    else:
        values = {}
        problems = []
        for key, value in variables.items():
            try:
                values[key] = value_text(key, value)
            except ValueError as exc:
                problems.append(Problem(f"variables.{key}", str(exc)))
        if problems:
            raise PlanError(problems)
        prompt_source, negative_source = prompt, negative_prompt
        prompt_field, negative_field = "prompt", "negative_prompt"
    expansions = []
    for field_name, source in ((prompt_field, prompt_source), (negative_field, negative_source)):
        try:
            expansions.append(Expansion(source, values, wildcards, limits))
        except TemplateError as exc:
            prefix = f"in template '{template}': " if template and field_name == "template" else ""
            raise PlanError([Problem(field_name, prefix + exc.message, exc.line, exc.column)]) from None
    version = record.version if record is not None else None
    return Bound(template or None, prompt_source, negative_source, values, expansions[0], expansions[1], version)


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


def auto_batch_size(images: int, fields: Mapping[str, Any], limits: GenerationLimits) -> int:
    """The batch size for a request that leaves it to us: the largest that splits `images` into equal batches (so
    no image is made that nobody asked for) within the pixel budget; 1 when the images are too big to batch."""
    first, hires = image_sizes(fields)
    pixels = max(first[0] * first[1], hires[0] * hires[1] if hires else 0, 1)
    if limits.auto_batch_image_pixels and pixels > limits.auto_batch_image_pixels:
        return 1
    cap = max(1, min(images, limits.auto_batch_pixels // pixels))
    return next(size for size in range(cap, 0, -1) if images % size == 0)


def batches(images: int, batch_size: int) -> int:
    return max(1, math.ceil(images / max(batch_size, 1)))


def parse_variables(text: str) -> dict[str, str]:
    """`name = value` lines, or a JSON object."""
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PlanError([Problem("variables", f"not valid JSON: {exc}", exc.lineno, exc.colno)]) from None
        if not isinstance(data, dict):
            raise PlanError([Problem("variables", "must be a JSON object")])
        return data
    values = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise PlanError([Problem("variables", f"expected 'name = value', got {line.strip()!r}", number, 1)])
        values[name.strip()] = value.strip()
    return values


def variables_text(value: Any) -> str:
    if not value:
        return ""
    try:
        data = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        return str(value)
    return "\n".join(f"{k} = {v}" for k, v in data.items()) if isinstance(data, dict) else str(value)
