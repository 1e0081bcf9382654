"""GET /version: what is serving the API."""

from typing import Any

from fastapi import APIRouter

from sd_prompt_templates import __version__
from sd_prompt_templates.api.guard import GuardedRoute
from sd_prompt_templates.models import VersionResponse

API_VERSION = "1"

router = APIRouter(route_class=GuardedRoute)


@router.get("/version", response_model=VersionResponse)
def version() -> dict[str, Any]:
    """The extension's version and API version."""
    import pydantic

    return {"name": "sd-prompt-templates", "version": __version__, "api": API_VERSION, "pydantic": pydantic.VERSION}
