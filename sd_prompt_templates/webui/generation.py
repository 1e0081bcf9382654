"""The generation port on the real WebUI: its own /sdapi/v1/txt2img or /img2img handler, called in-process.

Calling the handler the WebUI registered (found on the app) gives exactly its semantics — the queue lock, the
progress task, `shared.state`, samplers, other extensions' scripts, saving and encoding — without copying any of it.
Our Script, handed the plan in the payload's `alwayson_scripts`, gives each image its prompt and binds nothing."""

from __future__ import annotations

import threading
import time
from typing import Any

from fastapi import FastAPI
from modules import progress, shared
from modules.api import models as api_models

from sd_prompt_templates.models import dump
from sd_prompt_templates.plan import GenerationPlan, Kind, WebUIReply
from sd_prompt_templates.service import GenerationUnavailable
from sd_prompt_templates.webui import compat

PATHS: dict[Kind, str] = {"txt2img": "/sdapi/v1/txt2img", "img2img": "/sdapi/v1/img2img"}
HANDLERS: dict[Kind, str] = {"txt2img": "text2imgapi", "img2img": "img2imgapi"}


MODELS: dict[Kind, str] = {
    "txt2img": "StableDiffusionTxt2ImgProcessingAPI",
    "img2img": "StableDiffusionImg2ImgProcessingAPI",
}


class WebUIGenerator:
    def __init__(self, app: Any) -> None:
        self.app = app
        self._private_api: Any = None
        self._lock = threading.Lock()

    def _handler(self, kind: Kind) -> Any:
        return self._registered_handler(kind) or getattr(self._api(), HANDLERS[kind])

    def prepare(self) -> None:
        """Without --api, make the private API now, at start-up, as the WebUI makes its own: Forge's API class
        builds every script's UI when it is made, which fails inside a gradio event (the tab's Generate)."""
        if self._registered_handler("txt2img") is None:
            try:
                self._api()
            except GenerationUnavailable as exc:
                print(f"Prompt Templates: {exc}")

    def _registered_handler(self, kind: Kind) -> Any:
        for route in self.app.routes:
            if getattr(route, "path", None) == PATHS[kind] and "POST" in getattr(route, "methods", ()):
                return route.endpoint
        return None

    def _api(self) -> Any:
        """Without --api the WebUI registers no handler: the tab then uses the WebUI's own API class, made once on
        an app of its own (so nothing is added to the WebUI's), with the WebUI's queue lock."""
        with self._lock:
            if self._private_api is None:
                try:
                    from modules import call_queue
                    from modules.api.api import Api

                    self._private_api = Api(FastAPI(), call_queue.queue_lock)
                except Exception as exc:  # a fork whose API class cannot stand alone
                    raise GenerationUnavailable(
                        f"generation needs the WebUI's API here: start it with --api ({type(exc).__name__}: {exc})"
                    ) from None
            return self._private_api

    def run(self, plan: GenerationPlan, task_id: str) -> WebUIReply:
        wait_for_model()
        request = getattr(api_models, MODELS[plan.kind])(**plan.webui_request(task_id))
        try:
            response = dump(self._handler(plan.kind)(request))
            # read before the next run begins (state.begin() clears them): Interrupt or Skip during this one
            interrupted = bool(shared.state.interrupted or getattr(shared.state, "skipped", False))
        finally:
            release_task(task_id)
        images = list(response.get("images") or [])
        return WebUIReply(images=images, info=response.get("info") or "", interrupted=interrupted)

    def cannot_run(self, plan: GenerationPlan) -> str | None:
        """Why this WebUI cannot run the plan: a checkpoint it asks for (`override_settings.sd_model_checkpoint`)
        that this WebUI does not have. The job then waits for a WebUI that has it."""
        wanted = (plan.payload.get("override_settings") or {}).get("sd_model_checkpoint")
        if not wanted or compat.has_checkpoint(str(wanted)):
            return None
        return f"it has no checkpoint '{wanted}'"

    def interrupt(self, task_id: str) -> bool:
        """Interrupt the WebUI's current run if it is task `task_id`'s. The WebUI's interrupt is global; its
        current task id says whose run it is."""
        if progress.current_task != task_id:
            return False
        shared.state.interrupt()
        return True


MODEL_WAIT = 600.0  # seconds: SD.Next loading its model at start-up


def wait_for_model(timeout: float = MODEL_WAIT) -> None:
    """SD.Next starts loading its model only after the app_started callbacks (webui.py load_model(), after
    start_jobs), and until it is loaded its handlers answer no image ("Aborted: op=process model not loaded"): a job
    resumed at start-up would use up all its attempts in milliseconds and fail. So wait while SD.Next's model is
    locked (before load_model) or being loaded; with none to load, its handler loads one or answers as it does.
    A1111 and its forks load the model inside the handler: nothing to wait for."""
    if not compat.SDNEXT:
        return
    try:
        from modules.modeldata import model_data
    except ImportError:
        return
    deadline = time.monotonic() + timeout
    while model_data.sd_model is None and (model_data.locked or model_data.lock.locked()):
        if time.monotonic() >= deadline:
            raise GenerationUnavailable(f"SD.Next has not loaded its model after {timeout:.0f} s")
        time.sleep(0.25)


def release_task(task_id: str) -> None:
    """The WebUI marks its task finished only on success; on any other path the task would stay "queued" or
    "active" in /internal/progress for ever."""
    progress.pending_tasks.pop(task_id, None)
    if progress.current_task == task_id:
        progress.finish_task(task_id)
