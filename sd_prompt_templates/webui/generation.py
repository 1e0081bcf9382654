"""The generation port on the real WebUI: its own /sdapi/v1/txt2img handler, called in-process.

Calling the handler the WebUI registered (found on the app) gives exactly its semantics — the queue lock, the
progress task, `shared.state`, samplers, scripts, saving and encoding — without copying any of it. Our Script, named
in the payload's `alwayson_scripts`, gives each image its prompt."""

from __future__ import annotations

from typing import Any

from modules import progress
from modules.api import models as api_models

from sd_prompt_templates.models import dump
from sd_prompt_templates.service import GenerationUnavailable

TXT2IMG_PATH = "/sdapi/v1/txt2img"


class WebUIGenerator:
    def __init__(self, app: Any) -> None:
        self.app = app

    def _txt2img_handler(self) -> Any:
        for route in self.app.routes:
            if getattr(route, "path", None) == TXT2IMG_PATH and "POST" in getattr(route, "methods", ()):
                return route.endpoint
        raise GenerationUnavailable("the WebUI's API is off: start it with --api (or --nowebui) to generate")

    def txt2img(self, payload: dict[str, Any]) -> dict[str, Any]:
        request = api_models.StableDiffusionTxt2ImgProcessingAPI(**payload)
        task_id = payload["force_task_id"]
        try:
            response = self._txt2img_handler()(request)
        finally:
            release_task(task_id)
        return dump(response)


def release_task(task_id: str) -> None:
    """The WebUI marks its task finished only on success; on any other path the task would stay "queued" or
    "active" in /internal/progress for ever."""
    progress.pending_tasks.pop(task_id, None)
    if progress.current_task == task_id:
        progress.finish_task(task_id)
