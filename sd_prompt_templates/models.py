"""Request and response models shared by the REST API and the Script; they run on pydantic 1 (A1111) and 2 (Forge)."""

from __future__ import annotations

import collections.abc
import dataclasses
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import pydantic
from pydantic import BaseModel, Field

from sd_prompt_templates.counts import json_count, show
from sd_prompt_templates.engine import Mode, VariableValue
from sd_prompt_templates.library.records import INT64_MAX, ParameterSchema, TemplateDraft, TemplateRecord, VariableSpec

if TYPE_CHECKING:
    from sd_prompt_templates.plan import GenerationPlan

PYDANTIC_V2 = pydantic.VERSION.startswith("2")
# pydantic 2 writes `anyOf: [..., null]` for an Optional field; pydantic 1 writes nothing unless told
NULLABLE: dict[str, Any] = {} if PYDANTIC_V2 else {"nullable": True}


class StrictModel(BaseModel):
    """Unknown fields are refused: a typo in a field name is an error, not a silently ignored setting."""

    if PYDANTIC_V2:
        model_config = pydantic.ConfigDict(extra="forbid")
    else:

        class Config:
            extra = "forbid"


def dump(model: BaseModel, *, exclude_unset: bool = False) -> dict[str, Any]:
    if PYDANTIC_V2:
        return model.model_dump(exclude_unset=exclude_unset)
    return model.dict(exclude_unset=exclude_unset)


def fields_set(model: BaseModel) -> set[str]:
    if PYDANTIC_V2:
        return set(model.model_fields_set)
    return set(model.__fields_set__)


def validate(cls: type[BaseModel], data: Any) -> Any:
    if PYDANTIC_V2:
        return cls.model_validate(data)
    return cls.parse_obj(data)


def model_fields(cls: type[BaseModel]) -> dict[str, Any]:
    fields: Any = cls.model_fields if PYDANTIC_V2 else cls.__fields__  # type: ignore[attr-defined, unused-ignore]
    return dict(fields)


def request_schema(model: type[BaseModel]) -> ParameterSchema:
    """What a request model (the WebUI's StableDiffusionTxt2ImgProcessingAPI, handed in by the glue) takes, for
    checking a template's stored parameters: its field names and aliases, and its own validation of values."""
    fields = model_fields(model)
    names = set(fields) | {f.alias for f in fields.values() if isinstance(getattr(f, "alias", None), str)}

    def check(parameters: Mapping[str, Any]) -> list[tuple[str, str]]:
        try:
            validate(model, dict(parameters))
        except pydantic.ValidationError as exc:
            return [(".".join(str(part) for part in e["loc"]), e["msg"]) for e in exc.errors() if e["loc"]]
        except (ValueError, TypeError, ArithmeticError) as exc:  # a validator of the WebUI's that raised its own
            return [(key, f"is refused by the WebUI's request model: {exc}") for key in parameters]
        return []

    return ParameterSchema(frozenset(names), check)


def count_fields(n: int) -> dict[str, Any]:
    """A count of any size, for JSON: `count` exactly where every client reads it exactly, `count_text` always."""
    return {"count": json_count(n), "count_text": show(n)}


COUNT_DESCRIPTION = (
    "How many different prompts the template gives in all, as a JSON number when it is at most 2^53 - 1 "
    "(9007199254740991, the largest integer every JSON client reads exactly), otherwise null: then read count_text."
)
COUNT_TEXT_DESCRIPTION = (
    "The same count as text, always present: every digit up to 60 digits, otherwise rounded to three significant "
    "digits in scientific notation after '≈', e.g. '≈1.23e5000' (counts can have thousands of digits)."
)


class ExpansionFields(BaseModel):
    """How a template becomes prompts. The same fields configure the Script (`alwayson_scripts`) and the API."""

    template: str | None = Field(
        None,
        title="Template",
        description="Name of a template in the library. Without it, the prompt and negative prompt are templates.",
    )
    variables: dict[str, VariableValue] = Field(
        default_factory=dict, title="Variables", description="Values for ${name} variables."
    )
    mode: Mode = Field(
        "random",
        title="Mode",
        description="random: each image's prompt is picked by its seed; combinatorial: every combination in order.",
    )
    count: int | None = Field(
        None,
        ge=1,
        title="Count",
        description="How many prompts (one image each). Default: random, batch_size x n_iter; "
        "combinatorial, every combination from offset on.",
    )
    offset: int = Field(0, ge=0, title="Offset", description="Combinatorial mode: the first combination to make.")


class ExpansionOptions(StrictModel, ExpansionFields):
    pass


class ScriptArgs(ExpansionOptions):
    """The Script's arguments: `alwayson_scripts: {"prompt templates": {"args": [{...}]}}`."""

    enabled: bool = Field(True, title="Enabled")
    plan: dict[str, Any] | None = Field(
        None,
        title="Plan",
        description="A generation plan made by this extension (its REST API, the tab, a job): the Script then applies "
        "its prompts and seeds as they are and reads no template. Other fields are ignored with a plan.",
    )


# How the Script's arguments appear in an image's infotext (generation parameters); pasting an infotext restores them.
INFOTEXT_LABELS = {
    "template": "Prompt template",
    "variables": "Template variables",
    "mode": "Template mode",
    "count": "Template count",
    "offset": "Template offset",
    "source": "Template source",  # an inline template: the prompt box's text before expansion
    "negative_source": "Template negative source",
}


def api_model(cls: type[Any], name: str, base: type[BaseModel], models: Mapping[type[Any], type[BaseModel]]) -> Any:
    """A pydantic model of a dataclass of the core (a template, a variable): the same fields, types, defaults and
    documentation, so the API states the schema the core defines instead of a second copy of it. Tuples become
    lists and nested dataclasses their own models (`models`). Checks beyond types stay in the core's validation."""
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {}
    for item in dataclasses.fields(cls):
        info = dict(item.metadata)
        required = info.pop("required", False)
        if item.default is not dataclasses.MISSING and not required:
            default = list(item.default) if isinstance(item.default, tuple) else item.default
            spec = Field(default, **info)
        elif item.default_factory is not dataclasses.MISSING and not required:
            spec = Field(default_factory=item.default_factory, **info)
        else:
            spec = Field(..., **info)
        fields[item.name] = (_api_type(hints[item.name], models), spec)
    return pydantic.create_model(name, __base__=base, __module__=__name__, **fields)  # type: ignore[call-overload, unused-ignore]


def _api_type(hint: Any, models: Mapping[type[Any], type[BaseModel]]) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in models:
        return models[hint]
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return list[_api_type(args[0], models)]  # type: ignore[misc, unused-ignore]
    if origin is collections.abc.Mapping:
        return dict[args[0], args[1]]  # type: ignore[valid-type]
    return hint


VariableSpecModel = api_model(VariableSpec, "VariableSpecModel", StrictModel, {})
if TYPE_CHECKING:  # what mypy sees of the models made below

    class TemplateIn(StrictModel): ...

    class TemplateOut(BaseModel): ...

else:
    TemplateIn = api_model(TemplateDraft, "TemplateIn", StrictModel, {VariableSpec: VariableSpecModel})
    TemplateIn.__doc__ = "A template as written by a user."
    TemplateOut = api_model(TemplateRecord, "TemplateOut", BaseModel, {VariableSpec: VariableSpecModel})


class TemplateUpdate(TemplateIn):
    version: int | None = Field(
        None,
        ge=1,
        le=INT64_MAX,
        description="The version you read; a stale one is refused with 409. Or send an If-Match header.",
    )


class TemplateList(BaseModel):
    templates: list[TemplateOut]


class ImportRequest(StrictModel):
    document: dict[str, Any] = Field(..., description="An export document, as GET /templates/export returns it.")
    on_conflict: Literal["error", "skip", "replace"] = "error"


class ImportResponse(BaseModel):
    created: list[str]
    replaced: list[str]
    skipped: list[str]


class WildcardOut(BaseModel):
    name: str
    file: str


class WildcardList(BaseModel):
    wildcards: list[WildcardOut]


class WildcardEntries(BaseModel):
    name: str
    entries: list[str]


class RenderResponse(BaseModel):
    template: str | None = Field(..., **NULLABLE)  # type: ignore[misc]
    mode: Mode
    count: int | None = Field(..., description=COUNT_DESCRIPTION, **NULLABLE)  # type: ignore[misc]
    count_text: str = Field(..., description=COUNT_TEXT_DESCRIPTION)
    total: int | None = Field(  # type: ignore[misc]
        ..., description="Deprecated: the same as count (kept for clients of the first release).", **NULLABLE
    )
    offset: int
    prompts: list[str]
    negative_prompts: list[str]
    seeds: list[int]

    @classmethod
    def from_plan(cls, plan: GenerationPlan) -> RenderResponse:
        return cls(
            template=plan.template,
            mode=plan.mode,
            count=plan.count,
            count_text=plan.count_text,
            total=plan.count,
            offset=plan.offset if plan.mode == "combinatorial" else 0,
            prompts=plan.prompts,
            negative_prompts=plan.negative_prompts,
            seeds=plan.seeds,
        )


class ErrorMessage(BaseModel):
    """An error told in one sentence: 400, 401, 403, 404, 409, 428 and 503 answers."""

    detail: str = Field(..., description="What went wrong, and what to do about it.")


class ErrorItem(BaseModel):
    loc: list[str | int] = Field(..., description='Where: ["body", field, ...], ["query", name] or ["header", name].')
    msg: str = Field(..., description="What is wrong with it.")
    type: str = Field("value_error", description="The kind of error.")
    line: int | None = Field(None, description="For an error in a template: its line (from 1).")
    column: int | None = Field(None, description="... and column (from 1).")


class ErrorList(BaseModel):
    """Errors in the request, each with the field at fault: 422 answers, and 404 for an unknown template."""

    detail: list[ErrorItem]


class VersionResponse(BaseModel):
    name: str
    version: str
    api: str
    pydantic: str
    worker: str = Field(..., description="This WebUI's name in the jobs it runs.")
    shared_database: bool = Field(
        ..., description="Whether the library and the jobs are in a database shared by several WebUIs."
    )


TXT2IMG_EXAMPLE = {
    "prompt": "a {red|green|blue} ${animal} wearing a hat, __styles__",
    "variables": {"animal": "cat"},
    "mode": "combinatorial",
    "steps": 20,
    "width": 512,
    "height": 512,
}

IMG2IMG_EXAMPLE = {
    "init_images": ["<base64 PNG>"],
    "denoising_strength": 0.6,
    "prompt": "the same scene as {an oil painting|a watercolor|a pencil sketch}",
    "mode": "combinatorial",
    "steps": 20,
}
