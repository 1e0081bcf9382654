"""The use cases behind the REST API and the tab: render a template, generate images from it, manage the library.

Generation goes through a port (`GenerationPort`); the WebUI's implementation is webui/generation.py, tests pass a
fake. Nothing here imports the WebUI."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sd_prompt_templates.batching import auto_batch_size, batches
from sd_prompt_templates.binding import Bound, bind, infotext_fields, read_template
from sd_prompt_templates.checks import check_generation, check_parameters, check_prompt_count
from sd_prompt_templates.engine import Mode, fixed_seed
from sd_prompt_templates.jobs.runner import RunInterrupted
from sd_prompt_templates.jobs.settings import JobPaths
from sd_prompt_templates.library import TemplateRecord, TemplateStore
from sd_prompt_templates.library.records import INT64_MAX, PARAMETER_RULES, ParameterSchema, parameter_problems
from sd_prompt_templates.models import count_fields, request_schema
from sd_prompt_templates.plan import OPTION_FIELDS, Generated, GenerationPlan, Kind, WebUIReply
from sd_prompt_templates.problems import PlanError, Problem
from sd_prompt_templates.settings import Settings
from sd_prompt_templates.wildcards import WildcardLibrary

if TYPE_CHECKING:
    from sd_prompt_templates.jobs.system import JobSystem


class GenerationPort(Protocol):
    def run(self, plan: GenerationPlan, task_id: str) -> WebUIReply:
        """Run a plan through the WebUI's own processing, as progress task `task_id`."""
        ...

    def interrupt(self, task_id: str) -> bool:
        """Stop the run of progress task `task_id` if it is the one running now (the WebUI's interrupt is global:
        never another caller's run); False otherwise."""
        ...


class GenerationUnavailable(RuntimeError):
    pass


class JobsUnavailable(OSError):
    """The jobs cannot run in this process (a package missing); the API answers 503 with the reason."""


class PromptService:
    def __init__(
        self,
        settings: Callable[[], Settings],
        generator: GenerationPort | None = None,
        *,
        request_model: type[Any] | None = None,
    ) -> None:
        self._settings = settings
        self.generator = generator
        self._lock = threading.Lock()
        self._store: tuple[str | Path, TemplateStore] | None = None
        self._wildcards: tuple[tuple[Path, ...], WildcardLibrary] | None = None
        self.parameter_schema: ParameterSchema | None = None
        self._jobs: JobSystem | None = None
        if request_model is not None:
            self.use_request_model(request_model)

    def use_request_model(self, model: type[Any]) -> None:
        """The WebUI's /sdapi/v1/txt2img request model (a pydantic model; the glue hands it in, the core never
        imports the WebUI): a template's stored parameters must then be fields of it, with values it takes.
        Without it, only the parameters our own code reads are checked (width, steps, seed...)."""
        self.parameter_schema = request_schema(model)

    # -- configuration, read at use time --------------------------------------------------------------------------
    def settings(self) -> Settings:
        return self._settings()

    def store(self) -> TemplateStore:
        settings = self.settings()
        with self._lock:
            target = settings.library_target
            if self._store is None or self._store[0] != target:
                self._store = (target, TemplateStore(target, settings.limits))
            store = self._store[1]
            store.parameter_schema = self.parameter_schema
            return store

    def wildcards(self) -> WildcardLibrary:
        dirs = self.settings().wildcard_dirs
        with self._lock:
            if self._wildcards is None or self._wildcards[0] != dirs:
                self._wildcards = (dirs, WildcardLibrary(dirs))
            return self._wildcards[1]

    def jobs(self) -> JobSystem:
        """The jobs of this process, beside the template library; made on first use, and again if the library
        moved (the previous one is stopped first). Its worker runs only once `start()`ed (the glue does, when the
        app starts)."""
        settings = self.settings()
        paths = JobPaths.beside(settings.library_path, settings.database_url)
        with self._lock:
            current = self._jobs
            if current is not None and current.paths == paths:
                return current
            try:  # here, not at import: without huey (--skip-install) the rest of the extension works on
                from sd_prompt_templates.jobs.system import JobSystem
            except ImportError as exc:
                raise JobsUnavailable(f"jobs need the huey package ({exc}): pip install 'huey>=3,<4'") from None
            self._jobs = JobSystem.open(
                paths,
                GeneratorPort(self),
                worker_name=self.worker_name(),
                limits=lambda: self.settings().jobs,
                webhooks=lambda: self.settings().webhooks,
            )
        if current is not None:
            current.close()
        return self._jobs

    def worker_name(self) -> str:
        """This WebUI's name in the jobs it runs (Settings; the glue's default is host:port)."""
        return self.settings().worker_name or socket.gethostname()

    def close_jobs(self) -> None:
        with self._lock:
            jobs, self._jobs = self._jobs, None
        if jobs is not None:
            jobs.close()

    def bind(self, *, template: str | None, prompt: str, negative_prompt: str, variables: Mapping[str, Any]) -> Bound:
        record = read_template(self.store(), template) if template else None
        return self._bind(record, prompt, negative_prompt, variables)

    def _bind(
        self, record: TemplateRecord | None, prompt: str, negative_prompt: str, variables: Mapping[str, Any]
    ) -> Bound:
        return bind(
            record,
            self.wildcards(),
            self.settings().limits,
            prompt=prompt,
            negative_prompt=negative_prompt,
            variables=variables,
        )

    # -- plan and generate ---------------------------------------------------------------------------------------
    def plan(
        self, request: Mapping[str, Any], given: set[str], kind: Kind = "txt2img", *, limit: int | None = None
    ) -> GenerationPlan:
        """Work a generation out once: the template read and compiled once, every image's prompt, negative prompt
        and seed, the batching, and the WebUI's request. `given` are the fields the caller set, so a library
        template's default parameters fill only the others."""
        options = {k: request.get(k) for k in OPTION_FIELDS}
        payload = {k: v for k, v in request.items() if k not in OPTION_FIELDS}
        mode: Mode = options["mode"] or "random"
        offset = options["offset"] or 0
        variables = options["variables"] or {}
        record = read_template(self.store(), options["template"]) if options["template"] else None
        defaults = self._checked_parameters(record) if record is not None else {}
        payload.update({k: v for k, v in defaults.items() if k not in given})
        check_parameters(payload, [k for k in PARAMETER_RULES if k in given])
        bound = self._bind(record, payload.get("prompt") or "", payload.get("negative_prompt") or "", variables)
        settings = self.settings()
        batch_size = _int(payload, "batch_size", 1)
        images = bound.image_count(mode, options["count"], offset, batch_size * _int(payload, "n_iter", 1))
        if limit is not None:  # a preview's page: the first images of the run
            images = min(images, limit)
        check_prompt_count(images, settings.limits, mode, bound.total, offset)
        if not {"batch_size", "n_iter"} & (given | set(defaults)):  # the caller left the batching to us
            batch_size = auto_batch_size(images, payload, settings.generation)
        n_iter = batches(images, batch_size)
        check_generation(payload, n_iter * batch_size, settings.generation)

        seeds, prompt_seeds = _seeds(payload, n_iter * batch_size)
        prompts, negatives = bound.prompts(mode, prompt_seeds, offset)
        payload.update(batch_size=batch_size, n_iter=n_iter, prompt=bound.prompt_source)
        payload["negative_prompt"] = bound.negative_source
        follows = bool(payload.get("enable_hr"))
        return GenerationPlan(
            kind=kind,
            payload=payload,
            prompt_source=bound.prompt_source,
            negative_source=bound.negative_source,
            prompts=prompts,
            negative_prompts=negatives,
            seeds=seeds,
            batch_size=batch_size,
            n_iter=n_iter,
            mode=mode,
            offset=offset,
            template=bound.name,
            template_version=bound.version,
            variables=dict(bound.variables),
            **count_fields(bound.total),
            hires_prompts=list(prompts) if follows and not payload.get("hr_prompt") else None,
            hires_negative_prompts=list(negatives) if follows and not payload.get("hr_negative_prompt") else None,
            infotext=infotext_fields(bound, mode, offset, images if options["count"] is not None else None, variables),
        )

    def run(self, plan: GenerationPlan, task_id: str | None = None) -> Generated:
        """Generate a plan in ONE run of the WebUI's own processing; our Script, handed the plan, gives every image
        its prompt and binds nothing."""
        if self.generator is None:
            raise GenerationUnavailable("image generation is not available here")
        task_id = task_id or f"task(prompt-templates-{uuid.uuid4().hex[:12]})"
        reply = self.generator.run(plan, task_id)
        info = reply.info_dict()
        return Generated(
            images=list(reply.images),
            info=reply.info,
            prompts=info.get("all_prompts", plan.prompts),
            negative_prompts=info.get("all_negative_prompts", plan.negative_prompts),
            seeds=info.get("all_seeds", plan.seeds),
            template=plan.template,
            task_id=task_id,
            parameters=dict(plan.payload),
        )

    def generate(self, request: Mapping[str, Any], given: set[str], kind: Kind) -> Generated:
        """Plan `request` and run it; `parameters` is the request as the caller sent it, with the batching used."""
        plan = self.plan(request, given, kind)
        generated = self.run(plan, request.get("force_task_id") or None)
        parameters = {**request, "batch_size": plan.batch_size, "n_iter": plan.n_iter}
        if kind == "img2img":  # as /sdapi/v1/img2img answers: the images sent are not echoed back
            parameters.update(init_images=None, mask=None)
        return replace(generated, parameters=parameters)

    def _checked_parameters(self, record: TemplateRecord) -> dict[str, Any]:
        """A template's stored parameters, checked again: a template saved before they were checked at save (or
        with another WebUI) must give a 422 naming it, not fail inside the generation."""
        parameters = dict(record.parameters)
        problems = parameter_problems(parameters, self.parameter_schema, names=False)
        if problems:
            raise PlanError(
                [
                    Problem(
                        "template", f"template '{record.name}' stores an invalid parameter {path}: {message}; edit it"
                    )
                    for path, message in problems
                ]
            )
        return parameters


class GeneratorPort:
    """The jobs' way to the WebUI: the service's generation port as it is when a batch runs (the glue sets it when
    the app starts), with an interrupted run told apart, since its last images are unfinished."""

    def __init__(self, service: PromptService) -> None:
        self.service = service

    def run(self, plan: GenerationPlan, task_id: str) -> WebUIReply:
        generator = self.service.generator
        if generator is None:
            raise GenerationUnavailable("image generation is not available here")
        reply = generator.run(plan, task_id)
        if reply.interrupted:
            raise RunInterrupted(task_id)
        return reply

    def interrupt(self, task_id: str) -> bool:
        generator = self.service.generator
        return generator.interrupt(task_id) if generator is not None else False

    def cannot_run(self, plan: GenerationPlan) -> str | None:
        check = getattr(self.service.generator, "cannot_run", None)
        return None if check is None else check(plan)


def _seeds(payload: dict[str, Any], images: int) -> tuple[list[int], list[int]]:
    """Each image's seed as the WebUI will number it, and the seed that picks its prompt (the variation seed when
    variations are on, since the image seeds are then all the same). Random seeds (-1) are fixed here, in the
    payload too, so the WebUI makes exactly the planned images."""
    seed = payload["seed"] = fixed_seed(payload.get("seed"))
    if seed + images - 1 > INT64_MAX:
        raise PlanError([Problem("seed", f"is too large: the {images} images' seeds must stay below 2^63")])
    if float(payload.get("subseed_strength") or 0) == 0:
        seeds = [seed + i for i in range(images)]
        return seeds, seeds
    subseed = payload["subseed"] = fixed_seed(payload.get("subseed"))
    return [seed] * images, [subseed + i for i in range(images)]


def _int(fields: Mapping[str, Any], name: str, default: int) -> int:
    value = fields.get(name)
    return default if value is None else int(value)
