"""The "Prompt Templates" Script: always visible in txt2img and img2img, it gives every image its own prompt.

before_process (ahead of the WebUI's prompt and seed set-up) checks the template and sets n_iter from the count;
process (after it) sets each image's prompt from its seed (random) or its place (combinatorial).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import gradio as gr
from modules import scripts, shared
from modules.ui_components import ToolButton

from sd_prompt_templates.batching import batches
from sd_prompt_templates.binding import infotext_fields
from sd_prompt_templates.checks import check_prompt_count
from sd_prompt_templates.models import INFOTEXT_LABELS, ScriptArgs, validate
from sd_prompt_templates.plan import GenerationPlan
from sd_prompt_templates.problems import PlanError, Problem, UnknownTemplate
from sd_prompt_templates.ui import element_ids
from sd_prompt_templates.variables_format import parse_variables, variables_text
from sd_prompt_templates.webui import runtime

TITLE = "Prompt Templates"  # never changes: API callers name the script by it in alwayson_scripts
PROMPT_BOX = "(the prompt box)"
STATE = "prompt_templates_plan"  # per-run state lives on p, never on the shared Script instance
USER_RUN = "prompt_templates_run"  # (bound template, options) of a run the Script plans itself
APPLIED = "prompt_templates_applied"  # the prompts and seeds it gave, restored before sampling
FIELDS = ("enabled", "template", "variables", "mode", "count", "offset")
PARAMS = INFOTEXT_LABELS


class PasteKey(str):
    """A paste key that is text and a function at once, so that every reader of `infotext_fields` gets the value.
    A1111's and Forge's paste, and their API's `infotext` (apply_infotext), call a callable key with the parsed
    infotext; the API runs no on_infotext_pasted first, so a text key whose value that callback works out would
    find nothing there. SD.Next's paste calls it too, then passes it to should_skip(), which takes text only
    (`param.lower()`): a plain function there ends the whole paste. The key itself never appears in an infotext."""

    value: Callable[[dict[str, Any]], Any]

    def __new__(cls, name: str, value: Callable[[dict[str, Any]], Any]) -> PasteKey:
        key = super().__new__(cls, f"prompt-templates/{name}")
        key.value = value
        return key

    def __call__(self, params: dict[str, Any]) -> Any:
        return self.value(params)


# What a pasted infotext gives each of the Script's inputs (an infotext of ours turns it on; any other turns it off)
PASTED = {
    "enabled": PasteKey("enabled", lambda d: PARAMS["mode"] in d),
    "template": PasteKey("template", lambda d: d.get(PARAMS["template"]) or PROMPT_BOX),
    "variables": PasteKey("variables", lambda d: variables_text(d.get(PARAMS["variables"]))),
    "count": PasteKey("count", lambda d: _whole_number(d.get(PARAMS["count"]))),
    "offset": PasteKey("offset", lambda d: _whole_number(d.get(PARAMS["offset"]))),
}


class PromptTemplateFailure(Exception):
    """Stops a generation with a visible message. The WebUI's API answers with `status_code` and `detail`."""

    def __init__(self, problems: list[Problem], status: int = 422) -> None:
        self.status_code = status
        self.detail = [p.as_dict() for p in problems]
        super().__init__("Prompt Templates: " + "; ".join(str(p) for p in problems))


class PromptTemplatesScript(scripts.Script):
    def title(self) -> str:
        return TITLE

    def show(self, is_img2img: bool) -> Any:
        return scripts.AlwaysVisible

    def ui(self, is_img2img: bool) -> list[Any]:
        eid = partial(element_ids.script, is_img2img)
        with gr.Accordion(TITLE, open=False, elem_id=eid("accordion"), elem_classes=[element_ids.SCRIPT_CLASS]):
            with gr.Row():
                enabled = gr.Checkbox(False, label="Enable", elem_id=eid("enabled"))
                mode = gr.Radio(["random", "combinatorial"], value="random", label="Mode", elem_id=eid("mode"))
            with gr.Row():
                template = gr.Dropdown(
                    [PROMPT_BOX, *template_names()], value=PROMPT_BOX, label="Template", elem_id=eid("template")
                )
                refresh = ToolButton("\U0001f504", elem_id=eid("refresh"))
            variables = gr.Textbox(
                "",
                label="Variables: one a line, name = value",
                lines=2,
                elem_id=eid("variables"),
                placeholder="subject = an old fisherman\nmood = calm",
            )
            with gr.Row():
                count = gr.Number(
                    0,
                    precision=0,
                    elem_id=eid("count"),
                    label="How many prompts (0: batch count x batch size; combinatorial: every combination)",
                )
                offset = gr.Number(0, precision=0, label="Combinatorial: start at combination", elem_id=eid("offset"))
        refresh.click(fn=lambda: gr.update(choices=[PROMPT_BOX, *template_names()]), outputs=[template])
        # Text keys that are also functions (PasteKey): A1111's API calls them, SD.Next's should_skip() reads text.
        self.infotext_fields = [
            (enabled, PASTED["enabled"]),
            (template, PASTED["template"]),
            (variables, PASTED["variables"]),
            (mode, PARAMS["mode"]),
            (count, PASTED["count"]),
            (offset, PASTED["offset"]),
        ]
        self.paste_field_names = [PARAMS["template"], PARAMS["variables"], PARAMS["mode"], *PASTED.values()]
        return [enabled, template, variables, mode, count, offset]

    def before_process(self, p: Any, *args: Any) -> None:
        setattr(p, STATE, None)
        setattr(p, USER_RUN, None)
        try:
            options = parse_args(args)
            if options is None or not options.enabled:
                return
            plan = None
            if options.plan is not None:
                plan = planned(p, options)
            else:
                self.plan_for_user(p, options)
        except Exception as exc:  # the WebUI would swallow it and generate the template's raw text
            refuse(p, exc)
            return
        if plan is not None:
            p.n_iter = plan.n_iter
        setattr(p, STATE, plan)

    def plan_for_user(self, p: Any, options: ScriptArgs) -> None:
        """A user in txt2img/img2img, or an `alwayson_scripts` caller who gives template arguments: check the
        template now and fix the number of images; the prompts follow the seeds the WebUI settles on (process)."""
        if not isinstance(p.prompt, str) or not isinstance(p.negative_prompt, str):
            raise PlanError([Problem("prompt", "is a list: another script already split it into prompts")])
        service = runtime.service()
        bound = service.bind(
            template=options.template,
            prompt=p.prompt,
            negative_prompt=p.negative_prompt,
            variables=options.variables,
        )
        images = bound.image_count(options.mode, options.count, options.offset, p.batch_size * p.n_iter)
        check_prompt_count(images, service.settings().limits, options.mode, bound.total, options.offset)
        p.n_iter = batches(images, p.batch_size)
        count = images if options.count is not None else None
        fields = infotext_fields(bound, options.mode, options.offset, count, options.variables)
        p.extra_generation_params.update(fields)
        setattr(p, USER_RUN, (bound, options))

    def process(self, p: Any, *args: Any) -> None:
        plan = getattr(p, STATE, None)
        user_run = getattr(p, USER_RUN, None)
        if plan is None and user_run is None:
            return
        try:
            seeds: list[int] | None = None
            if plan is not None:
                prompts, negatives, seeds = plan.prompts, plan.negative_prompts, plan.seeds
                hires, hires_negatives = plan.hires_prompts, plan.hires_negative_prompts
            else:
                bound, options = user_run  # type: ignore[misc]
                seeds = p.all_seeds if len(set(p.all_seeds)) == len(p.all_seeds) else p.all_subseeds  # variations
                prompts, negatives = bound.prompts(options.mode, seeds, options.offset)
                follows = getattr(p, "enable_hr", False)
                hires = prompts if follows and p.hr_prompt == p.prompt else None
                hires_negatives = negatives if follows and p.hr_negative_prompt == p.negative_prompt else None
        except Exception as exc:
            refuse(p, exc)
            return
        apply_prompts(p, prompts, negatives, hires, hires_negatives, seeds)

    def before_process_batch(self, p: Any, *args: Any, **kwargs: Any) -> None:
        if getattr(p, APPLIED, None) is not None and "Hires prompt" in p.extra_generation_params:
            p.extra_generation_params["Hires prompt"] = partial(_hires_param, "all_hr_prompts", "prompt_text")
            p.extra_generation_params["Hires negative prompt"] = partial(
                _hires_param, "all_hr_negative_prompts", "negative_prompt"
            )


def planned(p: Any, options: ScriptArgs) -> GenerationPlan:
    """A plan handed in by this extension: applied as it is, nothing bound or read again."""
    try:
        plan = GenerationPlan.from_dict(options.plan or {})
    except (TypeError, ValueError) as exc:
        raise PlanError([Problem("plan", str(exc))]) from None
    if plan.images != p.batch_size * plan.n_iter:
        raise PlanError([Problem("plan", f"has {plan.images} images; this run makes {p.batch_size} per batch")])
    p.extra_generation_params.update(plan.infotext)
    return plan


def apply_prompts(
    p: Any,
    prompts: list[str],
    negatives: list[str],
    hires: list[str] | None,
    hires_negatives: list[str] | None,
    seeds: list[int] | None = None,
) -> None:
    """Each image's prompts, with the user's styles. They are set now, for the scripts that run after this one, and
    again just before sampling starts: another extension's process() that runs later (sd-dynamic-prompts, when its
    folder sorts after ours) rewrites `all_prompts` from the first prompt, and must not win."""
    styles = shared.prompt_styles
    state = {
        "all_prompts": [styles.apply_styles_to_prompt(x, p.styles) for x in prompts],
        "all_negative_prompts": [styles.apply_negative_styles_to_prompt(x, p.styles) for x in negatives],
        "n_iter": p.n_iter,
    }
    if hires is not None:  # the hires pass follows each image's prompt, styles included
        state["all_hr_prompts"] = [styles.apply_styles_to_prompt(x, p.styles) for x in hires]
    if hires_negatives is not None:
        state["all_hr_negative_prompts"] = [
            styles.apply_negative_styles_to_prompt(x, p.styles) for x in hires_negatives
        ]
    for name in ("all_seeds", "all_subseeds"):
        if getattr(p, name, None) is not None:
            state[name] = list(getattr(p, name))
    if seeds is not None:  # a plan's seeds: another script that ran first may have renumbered the WebUI's
        state["all_seeds"] = list(seeds)
    _restore(p, state)
    setattr(p, APPLIED, state)
    original_init = p.init

    def init_with_our_prompts(*args: Any, **kwargs: Any) -> Any:
        _restore(p, state)
        if len(args) == 3:  # (all_prompts, all_seeds, all_subseeds), as the WebUI passes them: ours now
            args = (p.all_prompts, p.all_seeds, p.all_subseeds)
        return original_init(*args, **kwargs)

    p.init = init_with_our_prompts


def _restore(p: Any, state: dict[str, Any]) -> None:
    for name, value in state.items():
        setattr(p, name, list(value) if isinstance(value, list) else value)
    p.main_prompt, p.main_negative_prompt = p.all_prompts[0], p.all_negative_prompts[0]


def _hires_param(attribute: str, base: str, p: Any, index: int, **infotext_locals: Any) -> str | None:
    """The WebUI's own "Hires prompt" infotext entry looks up all_hr_prompts by the index within the batch, so from
    the second batch on every image would name the first image's hires prompt. Same test, right index."""
    values = getattr(p, attribute, None) or []
    i = p.iteration * p.batch_size + index
    if i >= len(values):
        return None
    return values[i] if values[i] != infotext_locals.get(base) else None


def parse_args(args: tuple[Any, ...]) -> ScriptArgs | None:
    """The Script's arguments: one dict (from the API's alwayson_scripts) or the UI components' values."""
    if not args:
        return None
    if isinstance(args[0], dict):
        data = dict(args[0])
    else:
        values = dict(zip(FIELDS, args, strict=False))
        if not values.get("enabled"):
            return None
        data = {
            "enabled": True,
            "template": None if values.get("template") in (None, "", PROMPT_BOX) else values["template"],
            "variables": parse_variables(values.get("variables") or ""),
            "mode": values.get("mode") or "random",
            "count": int(values.get("count") or 0) or None,
            "offset": int(values.get("offset") or 0),
        }
    try:
        return validate(ScriptArgs, data)
    except ValueError as exc:  # pydantic's ValidationError, 1 and 2
        errors = exc.errors() if hasattr(exc, "errors") else []
        problems = [Problem(".".join(str(x) for x in e.get("loc", ())) or "args", e.get("msg", "")) for e in errors]
        raise PlanError(problems or [Problem("args", str(exc))]) from None


def restore_template_source(infotext: str, params: dict[str, Any]) -> None:
    """on_infotext_pasted: put the template itself, not one of its prompts, back into the prompt boxes, and work out
    what each of the Script's inputs gets (an infotext of ours turns it on; any other turns it off)."""
    for key in PASTED.values():  # for a paste that reads the keys as text
        params[str(key)] = key(params)
    if PARAMS["source"] in params:
        params["Prompt"] = params[PARAMS["source"]]
    if PARAMS["negative_source"] in params:
        params["Negative prompt"] = params[PARAMS["negative_source"]]


def failure(error: Exception) -> PromptTemplateFailure:
    """What the WebUI's API answers for `error`: 404 for a template that does not exist, 422 for any other problem
    of the request, 500 for anything else (with its type and message, never a bare "Internal Server Error")."""
    if isinstance(error, UnknownTemplate):
        return PromptTemplateFailure(error.problems, 404)
    if isinstance(error, PlanError):
        return PromptTemplateFailure(error.problems, 422)
    return PromptTemplateFailure([Problem("template", f"{type(error).__name__}: {error}")], 500)


def _whole_number(value: Any) -> int:
    try:
        return max(int(str(value or 0).strip()), 0)
    except ValueError:  # an infotext edited by hand: the input's default, rather than no paste at all
        return 0


def refuse(p: Any, error: Exception) -> None:
    """The WebUI runs every Script hook inside try/except and carries on, so raising here would not stop the
    generation. `p.init` is the first call after the scripts' process() that it does not wrap: make it raise."""
    refusal = failure(error)

    def raise_failure(*_args: Any, **_kwargs: Any) -> None:
        raise refusal

    p.init = raise_failure
    setattr(p, STATE, None)
    setattr(p, USER_RUN, None)


def template_names() -> list[str]:
    try:
        path = runtime.service().settings().library_path
        return [r.name for r in runtime.service().store().list()] if path.exists() else []
    except Exception as exc:  # the dropdown must never break the WebUI's UI
        print(f"Prompt Templates: cannot list templates: {exc}")
        return []
