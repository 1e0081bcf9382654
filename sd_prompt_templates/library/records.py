"""What a saved template is, and the checks a template passes before it is saved or used."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from sd_prompt_templates.engine import DEFAULT_LIMITS, Limits, TemplateError, parse
from sd_prompt_templates.engine.errors import position

VARIABLE_TYPES = ("text", "choice", "number")
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
VARIABLE_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
MAX_TITLE, MAX_DESCRIPTION, MAX_TAGS, MAX_TAG, MAX_PARAMETERS_JSON = 200, 5_000, 32, 50, 20_000

Scalar = str | int | float


@dataclass(frozen=True)
class VariableSpec:
    name: str
    type: str = "text"
    default: Scalar | None = None
    choices: tuple[str, ...] = ()
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "choices": list(self.choices)}


@dataclass(frozen=True)
class TemplateDraft:
    """The fields a user writes; the store adds timestamps and a version."""

    name: str
    title: str = ""
    description: str = ""
    prompt: str = ""
    negative_prompt: str = ""
    variables: tuple[VariableSpec, ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "variables": [v.as_dict() for v in self.variables],
            "parameters": dict(self.parameters),
            "tags": list(self.tags),
        }


@dataclass(frozen=True)
class TemplateRecord(TemplateDraft):
    created_at: str = ""
    updated_at: str = ""
    version: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {
            **super().as_dict(),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "version": self.version,
        }

    def draft(self) -> TemplateDraft:
        return TemplateDraft(
            self.name,
            self.title,
            self.description,
            self.prompt,
            self.negative_prompt,
            self.variables,
            self.parameters,
            self.tags,
        )


@dataclass(frozen=True)
class FieldProblem:
    field: str  # dotted path, e.g. "variables.1.default" or "prompt"
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = f" (line {self.line}, column {self.column})" if self.line is not None else ""
        return f"{self.field}{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        """One item of a 422 answer's `detail`, in FastAPI's shape, plus the position when there is one."""
        item: dict[str, Any] = {"loc": ["body", *self.field.split(".")], "msg": self.message, "type": "value_error"}
        if self.line is not None:
            item.update(line=self.line, column=self.column)
        return item


class InvalidTemplate(ValueError):
    """A template (or variable values) failed validation; `problems` says which field and why."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


def validate_draft(data: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS, *, prefix: str = "") -> TemplateDraft:
    """Build a TemplateDraft from plain data (JSON, form fields), checking everything a save must check."""
    problems: list[FieldProblem] = []

    def problem(name: str, message: str, line: int | None = None, column: int | None = None) -> None:
        problems.append(FieldProblem(prefix + name, message, line, column))

    if not isinstance(data, Mapping):
        raise InvalidTemplate([FieldProblem(prefix.rstrip(".") or "template", "must be an object")])
    known = {"name", "title", "description", "prompt", "negative_prompt", "variables", "parameters", "tags"}
    ignored = {"created_at", "updated_at", "version"}  # present in exports; the store sets them
    for key in data:
        if key not in known | ignored:
            problem(str(key), "is not a template field")

    name = data.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        problem("name", "use 1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit")
    texts = {}
    for key, limit in (
        ("title", MAX_TITLE),
        ("description", MAX_DESCRIPTION),
        ("prompt", None),
        ("negative_prompt", None),
    ):
        value = data.get(key, "")
        if not isinstance(value, str):
            problem(key, "must be text")
            value = ""
        elif limit is not None and len(value) > limit:
            problem(key, f"is {len(value)} characters long; at most {limit}")
        texts[key] = value
    if not texts["prompt"].strip():
        problem("prompt", "cannot be empty")

    variables = _variables(data.get("variables", []), problem)
    declared = {v.name for v in variables}
    for key in ("prompt", "negative_prompt"):
        try:
            tpl = parse(texts[key], limits)
        except TemplateError as exc:
            problem(key, exc.message, exc.line, exc.column)
            continue
        for var, offset in tpl.required_at:
            if var not in declared:
                line, column = position(texts[key], offset)
                problem(
                    key,
                    f"variable '{var}' is used but not declared: declare it or write ${{{var}:default}}",
                    line,
                    column,
                )

    parameters = data.get("parameters", {})
    if not isinstance(parameters, Mapping) or not all(isinstance(k, str) for k in parameters):
        problem("parameters", "must be an object")
        parameters = {}
    else:
        try:
            size = len(json.dumps(parameters, allow_nan=False))
        except (TypeError, ValueError):
            problem("parameters", "must hold only JSON values")
        else:
            if size > MAX_PARAMETERS_JSON:
                problem("parameters", f"take {size} characters as JSON; at most {MAX_PARAMETERS_JSON}")

    tags: list[str] = []
    raw_tags = data.get("tags", [])
    if not isinstance(raw_tags, (list, tuple)) or not all(isinstance(t, str) for t in raw_tags):
        problem("tags", "must be a list of text")
    else:
        for tag in raw_tags:
            tag = tag.strip().lower()
            if not tag or len(tag) > MAX_TAG:
                problem("tags", f"each tag has 1 to {MAX_TAG} characters")
            elif tag not in tags:
                tags.append(tag)
        if len(tags) > MAX_TAGS:
            problem("tags", f"at most {MAX_TAGS} tags")

    if problems:
        raise InvalidTemplate(problems)
    return TemplateDraft(
        name=name,  # type: ignore[arg-type]
        title=texts["title"],
        description=texts["description"],
        prompt=texts["prompt"],
        negative_prompt=texts["negative_prompt"],
        variables=tuple(variables),
        parameters=dict(parameters),
        tags=tuple(tags),
    )


def _variables(raw: Any, problem: Any) -> list[VariableSpec]:
    if not isinstance(raw, (list, tuple)):
        problem("variables", "must be a list")
        return []
    specs: list[VariableSpec] = []
    for i, item in enumerate(raw):
        where = f"variables.{i}"
        if not isinstance(item, Mapping):
            problem(where, "must be an object with a name")
            continue
        for key in item:
            if key not in ("name", "type", "default", "choices", "description"):
                problem(f"{where}.{key}", "is not a variable field")
        name, kind = item.get("name"), item.get("type", "text")
        default, choices, description = item.get("default"), item.get("choices", []), item.get("description", "")
        if not isinstance(name, str) or not VARIABLE_NAME_PATTERN.fullmatch(name):
            problem(f"{where}.name", "use letters, digits, '_' or '-', starting with a letter or '_'")
            continue
        if any(s.name == name for s in specs):
            problem(f"{where}.name", f"'{name}' is declared twice")
            continue
        if kind not in VARIABLE_TYPES:
            problem(f"{where}.type", f"must be one of {', '.join(VARIABLE_TYPES)}")
            continue
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            problem(f"{where}.description", "must be text")
            description = ""
        if not isinstance(choices, (list, tuple)) or not all(isinstance(c, str) for c in choices):
            problem(f"{where}.choices", "must be a list of text")
            continue
        if kind == "choice" and not choices:
            problem(f"{where}.choices", "a choice variable needs at least one choice")
            continue
        if kind != "choice" and choices:
            problem(f"{where}.choices", "only choice variables have choices")
            continue
        if default is not None:
            try:
                default = coerce_value(VariableSpec(name, kind, None, tuple(choices)), default)
            except ValueError as exc:
                problem(f"{where}.default", str(exc))
                continue
            if kind == "number":
                default = float(default) if "." in default or "e" in default.lower() else int(default)
        specs.append(VariableSpec(name, kind, default, tuple(choices), description))
    return specs


def coerce_value(spec: VariableSpec, value: Any) -> str:
    """The text a value stands for in a prompt, or ValueError saying what the variable accepts."""
    if spec.type == "number":
        if isinstance(value, str):
            try:
                value = float(value.strip()) if value.strip() else None
            except ValueError:
                value = None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"'{spec.name}' takes a number")
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"'{spec.name}' takes text")
    text = value if isinstance(value, str) else str(value)
    if spec.type == "choice" and text not in spec.choices:
        raise ValueError(f"'{spec.name}' takes one of: {', '.join(spec.choices)}")
    return text


def resolve_variables(specs: tuple[VariableSpec, ...], given: Mapping[str, Any] | None) -> dict[str, str]:
    """Values for a named template's variables: the caller's, else the declared defaults. Unknown names,
    missing required values and values of the wrong type are refused, all at once."""
    given = dict(given or {})
    problems: list[FieldProblem] = []
    values: dict[str, str] = {}
    by_name = {s.name: s for s in specs}
    for name in given:
        if name not in by_name:
            known = ", ".join(by_name) or "none"
            problems.append(FieldProblem(f"variables.{name}", f"is not a variable of this template (it has: {known})"))
    for spec in specs:
        if spec.name in given:
            try:
                values[spec.name] = coerce_value(spec, given[spec.name])
            except ValueError as exc:
                problems.append(FieldProblem(f"variables.{spec.name}", str(exc)))
        elif spec.default is not None:
            values[spec.name] = coerce_value(spec, spec.default)
        # else: no value; the template's own ${name:default} or ${name=...} applies, or expansion says it is missing
    if problems:
        raise InvalidTemplate(problems)
    return values
