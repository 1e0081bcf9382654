"""The template library: /templates (list, create, read, replace, delete) and /export, /import."""

from typing import Any

from fastapi import APIRouter, Header, HTTPException, Query, Response

from sd_prompt_templates.api.deps import ServiceDep
from sd_prompt_templates.api.guard import GuardedRoute
from sd_prompt_templates.api.routes.errors import answers, errors
from sd_prompt_templates.library.records import INT64_MAX
from sd_prompt_templates.models import (
    ImportRequest,
    ImportResponse,
    TemplateIn,
    TemplateList,
    TemplateOut,
    TemplateUpdate,
    dump,
)
from sd_prompt_templates.service import PromptService

router = APIRouter(route_class=GuardedRoute)


@router.get("/templates", response_model=TemplateList, responses=errors(422, 503))
def list_templates(
    q: str | None = Query(None, description="Search name, title, description and tags."),
    tag: str | None = Query(None, description="Only templates with this tag."),
    service: PromptService = ServiceDep,
) -> dict[str, Any]:
    """The templates in the library, by name."""
    return {"templates": [r.as_dict() for r in service.store().list(q, tag)]}


@router.post("/templates", response_model=TemplateOut, status_code=201, responses=errors(403, 409, 422, 503))
def create_template(body: TemplateIn, response: Response, service: PromptService = ServiceDep) -> Any:
    """Add a template; 409 if the name is taken, 422 with the field (and line/column) if it is invalid. Its
    `parameters` must be fields of /sdapi/v1/txt2img requests with values those take."""
    with answers():
        record = service.store().create(dump(body))
    response.headers["ETag"] = f'"{record.version}"'
    return record.as_dict()


@router.get("/templates/{name}", response_model=TemplateOut, responses=errors(404, 422, 503))
def get_template(name: str, response: Response, service: PromptService = ServiceDep) -> Any:
    """One template; its ETag is its version."""
    with answers():
        record = service.store().get(name)
    response.headers["ETag"] = f'"{record.version}"'
    return record.as_dict()


@router.put("/templates/{name}", response_model=TemplateOut, responses=errors(400, 403, 404, 409, 422, 428, 503))
def update_template(
    name: str,
    body: TemplateUpdate,
    response: Response,
    if_match: str | None = Header(None),
    service: PromptService = ServiceDep,
) -> Any:
    """Replace a template (a new `name` renames it). Send the version you read, in the body or If-Match:
    if it changed since, the update is refused with 409, never merged."""
    expected = body.version if body.version is not None else _version_header(if_match)
    if expected is None:
        raise HTTPException(status_code=428, detail="send the version you read: `version` or an If-Match header")
    data = dump(body)
    data.pop("version", None)
    with answers():
        record = service.store().update(name, data, expected_version=expected)
    response.headers["ETag"] = f'"{record.version}"'
    return record.as_dict()


@router.delete(
    "/templates/{name}", status_code=204, response_class=Response, responses=errors(400, 403, 404, 409, 422, 503)
)
def delete_template(
    name: str,
    version: int | None = Query(
        None, ge=1, le=INT64_MAX, description="Refuse (409) if the template is no longer at this version."
    ),
    if_match: str | None = Header(None),
    service: PromptService = ServiceDep,
) -> Response:
    """Delete a template."""
    expected = version if version is not None else _version_header(if_match)
    with answers():
        service.store().delete(name, expected_version=expected)
    return Response(status_code=204)


@router.get("/export", responses=errors(404, 422, 503))
def export_templates(
    names: str | None = Query(None, description="Comma-separated names; all templates when absent."),
    service: PromptService = ServiceDep,
) -> dict[str, Any]:
    """The library (or some templates) as a JSON document that POST /import takes back."""
    with answers():
        return service.store().export(names.split(",") if names else None)


@router.post("/import", response_model=ImportResponse, responses=errors(403, 409, 422, 503))
def import_templates(body: ImportRequest, service: PromptService = ServiceDep) -> Any:
    """Import an export document: all of it lands, or none of it."""
    with answers():
        report = service.store().import_(body.document, on_conflict=body.on_conflict)
    return {"created": report.created, "replaced": report.replaced, "skipped": report.skipped}


def _version_header(value: str | None) -> int | None:
    """The version an If-Match header names (`"3"` or `W/"3"`): 400 if it names none, 422 if out of range."""
    if value is None:
        return None
    text = value.strip().removeprefix("W/").strip('"')
    if not (text.isascii() and text.isdigit()):
        raise HTTPException(status_code=400, detail='If-Match must be a template version, e.g. "3"')
    version = int(text) if len(text) <= len(str(INT64_MAX)) else None
    if version is None or not 1 <= version <= INT64_MAX:
        raise HTTPException(
            status_code=422,
            detail=[
                {"loc": ["header", "if-match"], "msg": f"a version is between 1 and {INT64_MAX}", "type": "value_error"}
            ],
        )
    return version
