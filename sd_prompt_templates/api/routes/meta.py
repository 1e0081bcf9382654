"""GET /version: what is serving the API."""

from typing import Any

from fastapi import APIRouter

from sd_prompt_templates import __version__
from sd_prompt_templates.api.deps import ServiceDep
from sd_prompt_templates.api.guard import GuardedRoute
from sd_prompt_templates.models import VersionResponse
from sd_prompt_templates.service import PromptService

API_VERSION = "1"

router = APIRouter(route_class=GuardedRoute)


@router.get("/version", response_model=VersionResponse)
def version(service: PromptService = ServiceDep) -> dict[str, Any]:
    """The extension's version and API version, and this WebUI's name in the jobs it runs."""
    import pydantic

    settings = service.settings()
    return {
        "name": "sd-prompt-templates",
        "version": __version__,
        "api": API_VERSION,
        "pydantic": pydantic.VERSION,
        "worker": service.worker_name(),
        "shared_database": bool(settings.database_url),
    }
