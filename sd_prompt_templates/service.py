"""The use cases behind the REST API and the tab: render a template, generate images from it, manage the library.

Generation goes through a port (`GenerationPort`); the WebUI's implementation is webui/generation.py, tests pass a
fake. Nothing here imports the WebUI."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from sd_prompt_templates.engine import fixed_seed
from sd_prompt_templates.library import TemplateNotFound, TemplateStore
from sd_prompt_templates.library.records import PARAMETER_RULES, ParameterSchema, parameter_problems
from sd_prompt_templates.models import count_fields, request_schema
from sd_prompt_templates.planning import (
    Bound,
    PlanError,
    Problem,
    auto_batch_size,
    batches,
    bind,
    check_generation,
    check_parameters,
    check_prompt_count,
)
from sd_prompt_templates.settings import Settings
from sd_prompt_templates.wildcards import WildcardLibrary

SCRIPT_KEY = "prompt templates"  # the Script's title, lower-cased, as the WebUI's API matches alwayson_scripts
OPTION_FIELDS = ("template", "variables", "mode", "count", "offset")


class GenerationPort(Protocol):
    def txt2img(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Run the WebUI's txt2img with a /sdapi/v1/txt2img payload (it carries `force_task_id`); return its
        response as a dict: `images` (base64), `parameters`, `info` (a JSON string)."""
        ...


class GenerationUnavailable(RuntimeError):
    pass


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
        self._store: tuple[Path, TemplateStore] | None = None
        self._wildcards: tuple[tuple[Path, ...], WildcardLibrary] | None = None
        self.parameter_schema: ParameterSchema | None = None
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
            if self._store is None or self._store[0] != settings.library_path:
                self._store = (settings.library_path, TemplateStore(settings.library_path, settings.limits))
            store = self._store[1]
            store.parameter_schema = self.parameter_schema
            return store

    def wildcards(self) -> WildcardLibrary:
        dirs = self.settings().wildcard_dirs
        with self._lock:
            if self._wildcards is None or self._wildcards[0] != dirs:
                self._wildcards = (dirs, WildcardLibrary(dirs))
            return self._wildcards[1]

    def bind(self, *, template: str | None, prompt: str, negative_prompt: str, variables: Mapping[str, Any]) -> Bound:
        return bind(
            self.store(),
            self.wildcards(),
            self.settings().limits,
            template=template,
            prompt=prompt,
            negative_prompt=negative_prompt,
            variables=variables,
        )

    # -- render ---------------------------------------------------------------------------------------------------
    def render(self, request: Mapping[str, Any], *, limit: int | None = None) -> dict[str, Any]:
        """Prompts, negative prompts and seeds for a request, without generating anything; at most `limit` of them
        (a preview's page), even when the request asks for more."""
        bound = self.bind(
            template=request.get("template"),
            prompt=request.get("prompt", ""),
            negative_prompt=request.get("negative_prompt", ""),
            variables=request.get("variables") or {},
        )
        mode, offset = request.get("mode", "random"), request.get("offset", 0)
        default = request.get("batch_size", 1) * request.get("n_iter", 1)
        images = bound.image_count(mode, request.get("count"), offset, default)
        if limit is not None:
            images = min(images, limit)
        check_prompt_count(images, self.settings().limits, mode, bound.total, offset)
        seed = fixed_seed(request.get("seed"))
        seeds = [seed + i for i in range(images)]
        prompts, negatives = bound.prompts(mode, seeds, offset)
        return {
            "template": bound.name,
            "mode": mode,
            "total": bound.total,  # exact, of any size: count_fields() makes it JSON
            **count_fields(bound.total),
            "offset": offset if mode == "combinatorial" else 0,
            "prompts": prompts,
            "negative_prompts": negatives,
            "seeds": seeds,
        }

    # -- generate -------------------------------------------------------------------------------------------------
    def txt2img(self, request: Mapping[str, Any], given: set[str]) -> dict[str, Any]:
        """Generate one image per prompt in ONE run of the WebUI's txt2img: our Script, named in the payload's
        `alwayson_scripts`, gives every image its own prompt. `given` are the fields the caller set, so a library
        template's default parameters fill only the others."""
        if self.generator is None:
            raise GenerationUnavailable("image generation is not available here")
        options = {k: request.get(k) for k in OPTION_FIELDS}
        payload = {k: v for k, v in request.items() if k not in OPTION_FIELDS}
        template = options["template"] or None
        mode, offset = options["mode"] or "random", options["offset"] or 0
        variables = options["variables"] or {}
        defaults = self._template_parameters(template) if template else {}
        if defaults:
            payload.update({k: v for k, v in defaults.items() if k not in given and k in payload})
        check_parameters(payload, [k for k in PARAMETER_RULES if k in given])
        bound = self.bind(
            template=template,
            prompt=payload.get("prompt") or "",
            negative_prompt=payload.get("negative_prompt") or "",
            variables=variables,
        )
        settings = self.settings()
        batch_size = _int(payload, "batch_size", 1)
        images = bound.image_count(mode, options["count"], offset, batch_size * _int(payload, "n_iter", 1))
        check_prompt_count(images, settings.limits, mode, bound.total, offset)
        if not {"batch_size", "n_iter"} & (given | set(defaults)):  # the caller left the batching to us
            batch_size = auto_batch_size(images, payload, settings.generation)
        n_iter = batches(images, batch_size)
        check_generation(payload, n_iter * batch_size, settings.generation)

        payload["seed"] = fixed_seed(payload.get("seed"))
        payload["batch_size"], payload["n_iter"] = batch_size, n_iter
        if template:
            payload["prompt"] = bound.prompt_source
        payload["force_task_id"] = payload.get("force_task_id") or f"task(prompt-templates-{uuid.uuid4().hex[:12]})"
        script_args = {
            "enabled": True,
            "template": template,
            "variables": dict(variables),
            "mode": mode,
            "count": images,
            "offset": offset,
        }
        payload["alwayson_scripts"] = {**(payload.get("alwayson_scripts") or {}), SCRIPT_KEY: {"args": [script_args]}}

        result = self.generator.txt2img(payload)
        info = json.loads(result.get("info") or "{}")
        return {
            "images": result.get("images") or [],
            "parameters": {**request, "batch_size": batch_size, "n_iter": n_iter},
            "info": result.get("info") or "",
            "prompts": info.get("all_prompts", []),
            "negative_prompts": info.get("all_negative_prompts", []),
            "seeds": info.get("all_seeds", []),
            "template": bound.name,
            "task_id": payload["force_task_id"],
        }

    def _template_parameters(self, name: str) -> dict[str, Any]:
        """A template's stored parameters, checked again: a template saved before they were checked at save (or
        with another WebUI) must give a 422 naming it, not fail inside the generation."""
        try:
            parameters = dict(self.store().get(name).parameters)
        except TemplateNotFound as exc:
            raise PlanError([Problem("template", str(exc))], status=404) from None
        problems = parameter_problems(parameters, self.parameter_schema, names=False)
        if problems:
            raise PlanError(
                [
                    Problem("template", f"template '{name}' stores an invalid parameter {path}: {message}; edit it")
                    for path, message in problems
                ]
            )
        return parameters


def _int(fields: Mapping[str, Any], name: str, default: int) -> int:
    value = fields.get(name)
    return default if value is None else int(value)
