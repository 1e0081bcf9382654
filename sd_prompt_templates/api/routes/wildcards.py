"""GET /wildcards and /wildcards/{name}: the wildcard collections of the configured folders."""

from typing import Any

from fastapi import APIRouter, HTTPException

from sd_prompt_templates.api.deps import ServiceDep
from sd_prompt_templates.api.guard import GuardedRoute
from sd_prompt_templates.api.routes.errors import errors
from sd_prompt_templates.engine import WildcardLookupError
from sd_prompt_templates.models import WildcardEntries, WildcardList
from sd_prompt_templates.service import PromptService

router = APIRouter(route_class=GuardedRoute)


@router.get("/wildcards", response_model=WildcardList)
def list_wildcards(service: PromptService = ServiceDep) -> dict[str, Any]:
    """Every wildcard collection in the configured folders."""
    return {"wildcards": [{"name": c.name, "file": c.file} for c in service.wildcards().collections()]}


@router.get("/wildcards/{name:path}", response_model=WildcardEntries, responses=errors(404, 422))
def get_wildcard(name: str, service: PromptService = ServiceDep) -> dict[str, Any]:
    """The entries of one wildcard (or of every collection a glob matches). Every name GET /wildcards lists
    opens here, URL-encoded as any path (`my%20colors`, `caf%C3%A9`, `a%26b`)."""
    try:
        entries = service.wildcards().resolve(name)
    except WildcardLookupError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    return {"name": name, "entries": [e.text for e in entries]}
