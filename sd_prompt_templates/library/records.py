"""What a saved template is, and the checks a template passes before it is saved or used."""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from sd_prompt_templates.engine import DEFAULT_LIMITS, Limits, TemplateError, VariableValue, parse
from sd_prompt_templates.engine.errors import position

VARIABLE_TYPES: tuple[VariableType, ...] = ("text", "choice", "number")
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
VARIABLE_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
MAX_TITLE, MAX_DESCRIPTION, MAX_TAGS, MAX_TAG, MAX_PARAMETERS_JSON = 200, 5_000, 32, 50, 20_000

VariableType = Literal["text", "choice", "number"]

# Every integer the API takes fits in 64 bits (SQLite's integers, the WebUI's seeds): beyond, it is refused.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def doc(text: str, **schema: Any) -> dict[str, Any]:
    """A field's documentation (and OpenAPI extras such as `examples`), for the API models made from these classes
    (models.api_model): the template's schema is written once, here."""
    return {"description": text, **schema}


@dataclass(frozen=True)
class VariableSpec:
    name: str = field(metadata=doc("Letters, digits, '_' or '-', starting with a letter or '_'."))
    type: VariableType = "text"
    default: VariableValue | None = None
    choices: tuple[str, ...] = field(default=(), metadata=doc("The allowed values of a choice variable."))
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "choices": list(self.choices)}


@dataclass(frozen=True)
class TemplateDraft:
    """The fields a user writes; the store adds timestamps and a version. The API's request and response models are
    made from this class (models.api_model); `validate_draft` checks what types alone cannot say."""

    name: str = field(metadata=doc("Unique slug: 1-64 of a-z, 0-9, '-', '_'.", examples=["portrait"]))
    title: str = ""
    description: str = ""
    prompt: str = field(default="", metadata=doc("The prompt template.", required=True))
    negative_prompt: str = ""
    variables: tuple[VariableSpec, ...] = ()
    parameters: Mapping[str, Any] = field(
        default_factory=dict, metadata=doc("Default generation parameters (any /sdapi/v1/txt2img field).")
    )
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
    created_at: str = field(default="", metadata=doc("", required=True))
    updated_at: str = field(default="", metadata=doc("", required=True))
    version: int = field(
        default=1,
        metadata=doc("Send it back as `version` (or If-Match) when you update or delete.", required=True),
    )

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


# -- a template's stored generation parameters ----------------------------------------------------------------------

# Caps no setting can go beyond; the WebUI's Settings → Prompt Templates may set lower ones, checked at generation.
MAX_SIZE, MAX_STEPS, MAX_IMAGES = 16_384, 1_000, 10_000
# Fields of a request that are not generation parameters: a template keeps them elsewhere, or a request sets them.
RESERVED_PARAMETERS = {
    "prompt": "is the template's own prompt field",
    "negative_prompt": "is the template's own negative_prompt field",
    "template": "is chosen by each request",
    "variables": "are given by each request; declare the template's variables with defaults instead",
    "mode": "is chosen by each request",
    "count": "is chosen by each request",
    "offset": "is chosen by each request",
    "force_task_id": "must be new for each request",
}


@dataclass(frozen=True)
class ParameterRule:
    """What our own code needs of a generation parameter, with or without the WebUI's request model."""

    kind: str  # "int", "number" or "bool"
    low: int | float | None = None
    high: int | float | None = None
    multiple_of: int | None = None
    nullable: bool = False  # None means "the WebUI's default" (seeds: random)


PARAMETER_RULES: dict[str, ParameterRule] = {
    "width": ParameterRule("int", 64, MAX_SIZE, 8),
    "height": ParameterRule("int", 64, MAX_SIZE, 8),
    "steps": ParameterRule("int", 1, MAX_STEPS),
    "n_iter": ParameterRule("int", 1, MAX_IMAGES),
    "batch_size": ParameterRule("int", 1, MAX_IMAGES),
    "seed": ParameterRule("int", INT64_MIN, INT64_MAX, nullable=True),
    "subseed": ParameterRule("int", INT64_MIN, INT64_MAX, nullable=True),
    "cfg_scale": ParameterRule("number", -1_000, 1_000),
    "enable_hr": ParameterRule("bool"),
    "hr_scale": ParameterRule("number", 0, 64, nullable=True),
    "hr_resize_x": ParameterRule("int", 0, MAX_SIZE * 8, nullable=True),
    "hr_resize_y": ParameterRule("int", 0, MAX_SIZE * 8, nullable=True),
    "hr_second_pass_steps": ParameterRule("int", 0, MAX_STEPS, nullable=True),
}


@dataclass(frozen=True)
class ParameterSchema:
    """What the WebUI's /sdapi/v1/txt2img request takes (models.request_schema builds it from the request model; the
    core never imports the WebUI): every field name it knows, and a check of values giving (field path, message)."""

    names: Collection[str]
    check: Callable[[Mapping[str, Any]], list[tuple[str, str]]]


def rule_problem(rule: ParameterRule, value: Any, *, upper: bool = True) -> str | None:
    """Why `value` does not pass `rule`, or None."""
    if value is None:
        return None if rule.nullable else "must be set (null is not a value here)"
    if rule.kind == "bool":
        return None if isinstance(value, bool) else "must be true or false"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "must be an integer" if rule.kind == "int" else "must be a number"
    if rule.kind == "int" and not isinstance(value, int):
        return f"must be an integer, got {value!r}"
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        return f"is too large: integers here have at most {len(str(INT64_MAX))} digits"
    low, high = rule.low, rule.high if upper else None
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            return f"must be at least {low}, got {value}"
        return f"must be between {low} and {high}, got {value}"
    if rule.multiple_of and value % rule.multiple_of:
        return f"must be a multiple of {rule.multiple_of}, got {value}"
    return None


def number_problems(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Integers beyond 64 bits and NaN/infinite numbers anywhere in a JSON value, with their dotted paths. Neither
    survives storage or generation: SQLite refuses such integers, JSON has no NaN, and Python refuses to turn an int
    of over 4,300 digits into text."""
    stack = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, int) and not INT64_MIN <= item <= INT64_MAX:
            yield where, f"is too large: integers here have at most {len(str(INT64_MAX))} digits"
        elif isinstance(item, float) and not math.isfinite(item):
            yield where, "must be a finite number"
        elif isinstance(item, Mapping):
            stack.extend((f"{where}.{k}" if where else str(k), v) for k, v in reversed(list(item.items())))
        elif isinstance(item, (list, tuple)):
            stack.extend((f"{where}.{i}" if where else str(i), v) for i, v in reversed(list(enumerate(item))))


def parameter_problems(
    parameters: Mapping[str, Any], schema: ParameterSchema | None = None, *, names: bool = True
) -> list[tuple[str, str]]:
    """(field path, message) for each stored parameter that a /txt2img request made from it would refuse or fail
    on. `names`: also refuse names that are not parameters (at save; at use time they are ignored, as before)."""
    problems: list[tuple[str, str]] = []
    checked: dict[str, Any] = {}
    for key, value in parameters.items():
        if key in RESERVED_PARAMETERS:
            if names:
                problems.append((key, f"is not a generation parameter: it {RESERVED_PARAMETERS[key]}"))
            continue
        if schema is not None and key not in schema.names:
            if names:
                close = difflib.get_close_matches(key, sorted(schema.names), n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                problems.append((key, f"is not a field of /sdapi/v1/txt2img requests{hint}"))
            continue
        rule = PARAMETER_RULES.get(key)
        message = rule_problem(rule, value) if rule else None
        found = [(key, message)] if message else list(number_problems(value, key))
        if found:
            problems.extend(found)
        else:
            checked[key] = value
    if schema is not None and checked:
        problems.extend((path, message) for path, message in schema.check(checked) if path.split(".")[0] in checked)
    return problems


Report = Callable[..., None]
"""problem(field, message, line=None, column=None): records one problem of the template being checked."""


def validate_draft(
    data: Mapping[str, Any],
    limits: Limits = DEFAULT_LIMITS,
    *,
    prefix: str = "",
    schema: ParameterSchema | None = None,
) -> TemplateDraft:
    """Build a TemplateDraft from plain data (JSON, form fields), checking everything a save must check, all at
    once. `schema` is what the WebUI's txt2img request takes, when known: the stored parameters must be valid
    fields of it."""
    problems: list[FieldProblem] = []

    def problem(name: str, message: str, line: int | None = None, column: int | None = None) -> None:
        problems.append(FieldProblem(prefix + name, message, line, column))

    if not isinstance(data, Mapping):
        raise InvalidTemplate([FieldProblem(prefix.rstrip(".") or "template", "must be an object")])
    _unknown_fields(data, problem)
    name = data.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        problem("name", "use 1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit")
    texts = _texts(data, problem)
    variables = _variables(data.get("variables", []), problem)
    _template_problems(texts, {v.name for v in variables}, limits, problem)
    parameters = _parameters(data.get("parameters", {}), schema, problem)
    tags = _tags(data.get("tags", []), problem)
    if problems:
        raise InvalidTemplate(problems)
    return TemplateDraft(
        name=name,  # type: ignore[arg-type]
        title=texts["title"],
        description=texts["description"],
        prompt=texts["prompt"],
        negative_prompt=texts["negative_prompt"],
        variables=tuple(variables),
        parameters=parameters,
        tags=tuple(tags),
    )


def _unknown_fields(data: Mapping[str, Any], problem: Report) -> None:
    known = {f.name for f in fields(TemplateRecord)}  # a record's own fields come in exports; the store sets them
    for key in data:
        if key not in known:
            problem(str(key), "is not a template field")


def _texts(data: Mapping[str, Any], problem: Report) -> dict[str, str]:
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
    return texts


def _template_problems(texts: Mapping[str, str], declared: set[str], limits: Limits, problem: Report) -> None:
    """The prompt and negative prompt parse, and use no variable they do not declare (or give a default)."""
    for key in ("prompt", "negative_prompt"):
        try:
            tpl = parse(texts[key], limits)
        except TemplateError as exc:
            problem(key, exc.message, exc.line, exc.column)
            continue
        for var, offset in tpl.required_at:
            if var not in declared:
                line, column = position(texts[key], offset)
                message = f"variable '{var}' is used but not declared: declare it or write ${{{var}:default}}"
                problem(key, message, line, column)


def _parameters(parameters: Any, schema: ParameterSchema | None, problem: Report) -> dict[str, Any]:
    if not isinstance(parameters, Mapping) or not all(isinstance(k, str) for k in parameters):
        problem("parameters", "must be an object")
        return {}
    found = parameter_problems(parameters, schema)
    for path, text in found:
        problem(f"parameters.{path}", text)
    if not found:
        try:
            size = len(json.dumps(parameters, allow_nan=False))
        except (TypeError, ValueError):
            problem("parameters", "must hold only JSON values")
        else:
            if size > MAX_PARAMETERS_JSON:
                problem("parameters", f"take {size} characters as JSON; at most {MAX_PARAMETERS_JSON}")
    return dict(parameters)


def _tags(raw: Any, problem: Report) -> list[str]:
    tags: list[str] = []
    if not isinstance(raw, (list, tuple)) or not all(isinstance(t, str) for t in raw):
        problem("tags", "must be a list of text")
        return tags
    for tag in raw:
        tag = tag.strip().lower()
        if not tag or len(tag) > MAX_TAG:
            problem("tags", f"each tag has 1 to {MAX_TAG} characters")
        elif tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        problem("tags", f"at most {MAX_TAGS} tags")
    return tags


def _variables(raw: Any, problem: Report) -> list[VariableSpec]:
    if not isinstance(raw, (list, tuple)):
        problem("variables", "must be a list")
        return []
    specs: list[VariableSpec] = []
    seen: set[str] = set()  # a set: thousands of variables are checked in linear time
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
        if name in seen:
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
        seen.add(name)
        specs.append(VariableSpec(name, kind, default, tuple(choices), description))
    return specs


def value_text(name: str, value: Any) -> str:
    """The text any variable value stands for: text as it is, a number as it reads (5.0 is "5"); ValueError saying
    why for anything else. Inline templates' variables are checked by this alone; declared ones also by type."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"'{name}' takes text or a number")
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"'{name}' takes integers of at most {len(str(INT64_MAX))} digits: send a longer one as text")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"'{name}' takes a finite number")
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def coerce_value(spec: VariableSpec, value: Any) -> str:
    """The text a value stands for in a prompt, or ValueError saying what the variable accepts."""
    if spec.type != "number":
        text = value_text(spec.name, value)
        if spec.type == "choice" and text not in spec.choices:
            raise ValueError(f"'{spec.name}' takes one of: {', '.join(spec.choices)}")
        return text
    if isinstance(value, str):
        try:
            value = float(value.strip()) if value.strip() else None
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"'{spec.name}' takes a number")
    if abs(value) > INT64_MAX:
        raise ValueError(f"'{spec.name}' takes numbers of at most {len(str(INT64_MAX))} digits")
    return value_text(spec.name, value)


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
