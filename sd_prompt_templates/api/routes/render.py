"""POST /render: the prompts, negative prompts and seeds a generation would make, without generating anything. It
takes the very body /txt2img takes, so its model is built from the WebUI's when the API is mounted (`build`)."""

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from sd_prompt_templates.api.deps import ServiceDep
from sd_prompt_templates.api.guard import GuardedRoute
from sd_prompt_templates.api.routes.errors import answers, errors
from sd_prompt_templates.models import RenderResponse, dump, fields_set
from sd_prompt_templates.service import PromptService


def build(request_model: type[BaseModel]) -> APIRouter:
    """The route, taking `request_model`: the same model as /txt2img's."""
    router = APIRouter(route_class=GuardedRoute)

    @router.post("/render", response_model=RenderResponse, responses=errors(403, 404, 422, 503, lists=(404, 422)))
    def render(body: request_model, service: PromptService = ServiceDep) -> Any:  # type: ignore[valid-type]
        """The prompts, negative prompts and seeds that POST /txt2img with the same body makes (give a seed: -1
        draws a new one each time), without generating anything. `count` is how many prompts the template gives
        in all (null beyond 2^53 - 1), `count_text` the same as text (any size)."""
        with answers():
            plan = service.plan(dump(body), fields_set(body))
        return RenderResponse.from_plan(plan)

    return router
