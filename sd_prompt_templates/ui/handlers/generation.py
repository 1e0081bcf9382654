"""Preview and generate: the editor's prompt and the run's options made into one plan, as the REST API makes it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sd_prompt_templates.plan import GenerationPlan
from sd_prompt_templates.problems import PlanError
from sd_prompt_templates.service import PromptService
from sd_prompt_templates.ui.handlers.library import variables_from_rows
from sd_prompt_templates.ui.handlers.messages import message, problems_html
from sd_prompt_templates.ui.ports import Generate
from sd_prompt_templates.variables_format import parse_variables

PREVIEW_ROWS = 50


@dataclass(frozen=True)
class PreviewInputs:
    """What Preview shows and Generate makes; the defaults are the tab's first values."""

    prompt: str = ""
    negative: str = ""
    values: str = ""  # the variables' values, `name = value` a line
    mode: str = "random"
    count: float | None = 4  # images; 0: every combination
    seed: float | None = -1  # -1: random
    variables: Any = None  # the editor's variables table: its defaults fill the values not given


@dataclass(frozen=True)
class RunInputs:
    """A run of the editor's template with the generation settings: Queue's request, and Generate's without its
    progress task."""

    preview: PreviewInputs
    sampler: str | None = None
    steps: float | None = 20
    cfg: float | None = 7.0
    width: float | None = 512
    height: float | None = 512
    template: str = ""  # the library template in the editor, "" for a new one
    memo: Any = None  # what the last preview drew: see `previewed_seed`


@dataclass(frozen=True)
class GenerateInputs:
    """A run, as the progress task the page follows."""

    task_id: str  # the progress task the page follows: first, as the page's script sets the first value
    run: RunInputs


def request_body(inputs: PreviewInputs) -> dict[str, Any]:
    """The tab's editor as a generation request: the same body the REST API's /txt2img takes."""
    declared = variables_from_rows(inputs.variables)
    defaults = {v["name"]: v["default"] for v in declared if "default" in v}
    return {
        "prompt": inputs.prompt or "",
        "negative_prompt": inputs.negative or "",
        "variables": {**defaults, **parse_variables(inputs.values or "")},
        "mode": inputs.mode,
        "count": int(inputs.count or 0) or None,
        "seed": None if inputs.seed is None else int(inputs.seed),
    }


def previewed_seed(body: dict[str, Any], memo: Any) -> dict[str, Any]:
    """With a random seed (-1), Generate right after Preview makes the previewed prompts: it takes the seed the
    preview drew, as long as nothing else in the request changed."""
    if (body.get("seed") is None or body["seed"] < 0) and isinstance(memo, dict) and memo.get("key") == _key(body):
        return {**body, "seed": memo["seed"]}
    return body


def _key(body: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in body.items() if k != "seed"}, sort_keys=True, default=str)


def plan_problems_html(error: PlanError, inputs: PreviewInputs) -> str:
    sources = {
        "prompt": inputs.prompt or "",
        "negative_prompt": inputs.negative or "",
        "variables": inputs.values or "",
    }
    return problems_html(error.problems, sources)


def preview(service: PromptService, inputs: PreviewInputs) -> tuple[str, list[list[Any]], dict[str, Any] | None]:
    """The count and a page of prompts, or the errors with their positions; and the seed it drew, for Generate.
    Returns (html, rows, memo)."""
    try:
        body = request_body(inputs)
        plan = service.plan(body, set(body), limit=PREVIEW_ROWS)
    except PlanError as exc:
        return plan_problems_html(exc, inputs), [], None
    shown = "all shown" if plan.count is not None and len(plan.prompts) >= plan.count else f"showing {plan.images}"
    total = f"{plan.count:,}" if plan.count is not None else plan.count_text
    summary = message(f"{total} combinations ({shown}).")
    rows = [[s, p, n] for s, p, n in zip(plan.seeds, plan.prompts, plan.negative_prompts, strict=False)]
    return summary, rows, {"key": _key(body), "seed": plan.seeds[0]} if plan.seeds else None


def plan_run(service: PromptService, inputs: RunInputs) -> GenerationPlan:
    """The plan of a run, as the REST API makes one: what Generate makes now and Queue stores. PlanError if the
    template has an error or the run is over the limits."""
    body = previewed_seed(request_body(inputs.preview), inputs.memo)
    body.update(
        sampler_name=inputs.sampler or None,
        steps=int(inputs.steps or 20),
        cfg_scale=float(inputs.cfg or 7),
        width=int(inputs.width or 512),
        height=int(inputs.height or 512),
        save_images=True,  # the tab saves its images as txt2img does
    )
    return service.plan(body, set(body) - {"seed"} if body["seed"] is None else set(body))


def generate(service: PromptService, port: Generate, inputs: GenerateInputs) -> tuple[list[Any], list[str], str]:
    """Images captioned with their prompts, their infotexts, and a message; nothing is generated from a template
    with an error or over the limits. One plan, as the REST API makes it, run through the same port."""
    try:
        plan = plan_run(service, inputs.run)
    except PlanError as exc:
        return [], [], plan_problems_html(exc, inputs.run.preview)
    images, infotexts = port(plan, inputs.task_id)
    captioned = [(image, text) for image, text in zip(images, plan.prompts, strict=False)]
    return captioned, infotexts, message(f"{len(captioned)} images from '{inputs.run.template or 'the editor'}'.")
