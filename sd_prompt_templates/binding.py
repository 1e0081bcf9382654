"""From a request's template (a library template or inline text) and variables to a `Bound` template: variables
resolved, wildcards looked up, ready to give each image's prompts; and what an image's infotext records of it.
Shared by the planner (service.plan) and the Script, so they can never disagree about what a template means."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sd_prompt_templates.counts import show
from sd_prompt_templates.engine import Expansion, Limits, TemplateError, WildcardSource
from sd_prompt_templates.library import (
    InvalidTemplate,
    TemplateNotFound,
    TemplateRecord,
    TemplateStore,
    resolve_variables,
)
from sd_prompt_templates.library.records import value_text
from sd_prompt_templates.models import INFOTEXT_LABELS
from sd_prompt_templates.problems import PlanError, Problem, UnknownTemplate


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
