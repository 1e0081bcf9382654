"""What the routes answer when they refuse: the OpenAPI `responses` of each error status, and the library's and the
planner's exceptions turned into those answers. Not a resource: every route module uses it."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import HTTPException

from sd_prompt_templates.library import InvalidTemplate, StaleVersion, TemplateExists, TemplateNotFound
from sd_prompt_templates.models import ErrorList, ErrorMessage
from sd_prompt_templates.problems import PlanError, UnknownTemplate
from sd_prompt_templates.service import GenerationUnavailable

_REASONS = {
    400: "The request is malformed (e.g. an If-Match header that is not a version).",
    403: "A cross-site request: its Origin is neither this server's nor one the WebUI allows (--cors-allow-origins).",
    404: "No such template or wildcard.",
    409: "A template of that name exists, or the template changed since the version you sent.",
    422: "The request is invalid: `detail` lists each field at fault (with line and column for template errors).",
    428: "Send the version you read: `version` in the body or an If-Match header.",
    503: "Image generation, the database (the template library, the jobs) or the jobs' files are not available here "
    "right now; `detail` says which and why.",
}


def errors(*statuses: int, lists: tuple[int, ...] = (422,)) -> dict[Any, dict[str, Any]]:
    """OpenAPI `responses` for the errors a route answers; those in `lists` carry a list of field errors."""
    return {s: {"model": ErrorList if s in lists else ErrorMessage, "description": _REASONS[s]} for s in statuses}


@contextmanager
def answers() -> Iterator[None]:
    """The library's and the planner's refusals, as HTTP answers with the field (and line/column) at fault."""
    try:
        yield
    except UnknownTemplate as exc:
        raise HTTPException(status_code=404, detail=[p.as_dict() for p in exc.problems]) from None
    except PlanError as exc:
        raise HTTPException(status_code=422, detail=[p.as_dict() for p in exc.problems]) from None
    except InvalidTemplate as exc:
        raise HTTPException(status_code=422, detail=[p.as_dict() for p in exc.problems]) from None
    except TemplateNotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    except (TemplateExists, StaleVersion) as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    except GenerationUnavailable as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from None
