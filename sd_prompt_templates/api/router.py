"""REST routes under /prompt-templates/v1. Handlers that touch the disk or the GPU are plain `def`: FastAPI runs them
in its thread pool, so a long generation never blocks the event loop. No `from __future__ import annotations`
here: FastAPI must see the request model built inside build_router as a real class, not a string.

Every route is a `GuardedRoute` (api/guard.py): cross-site writes (403), --api-auth (401) and numbers no field
takes (422) are refused before FastAPI reads the body. `mount()` puts the routes on an app."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sd_prompt_templates import __version__
from sd_prompt_templates.api.deps import STATE_KEY, ApiContext, auth_enabled, get_service
from sd_prompt_templates.api.guard import GuardedRoute
from sd_prompt_templates.engine import WildcardLookupError
from sd_prompt_templates.library import InvalidTemplate, StaleVersion, TemplateExists, TemplateNotFound
from sd_prompt_templates.library.records import INT64_MAX
from sd_prompt_templates.models import (
    PYDANTIC_V2,
    TXT2IMG_EXAMPLE,
    ErrorList,
    ErrorMessage,
    ExpansionFields,
    ImportRequest,
    ImportResponse,
    RenderRequest,
    RenderResponse,
    TemplateIn,
    TemplateList,
    TemplateOut,
    TemplateUpdate,
    VersionResponse,
    WildcardEntries,
    WildcardList,
    dump,
    fields_set,
)
from sd_prompt_templates.planning import PlanError
from sd_prompt_templates.service import GenerationUnavailable, PromptService

PREFIX = "/prompt-templates/v1"
API_VERSION = "1"
SECURITY_SCHEME = "HTTPBasic"  # the name FastAPI gives the WebUI's own HTTP Basic scheme: one "Authorize" for both

_REASONS = {
    400: "The request is malformed (e.g. an If-Match header that is not a version).",
    403: "A cross-site request: its Origin is neither this server's nor one the WebUI allows (--cors-allow-origins).",
    404: "No such template or wildcard.",
    409: "A template of that name exists, or the template changed since the version you sent.",
    422: "The request is invalid: `detail` lists each field at fault (with line and column for template errors).",
    428: "Send the version you read: `version` in the body or an If-Match header.",
    503: "Image generation is not available here.",
}


def errors(*statuses: int, lists: tuple[int, ...] = (422,)) -> dict[Any, dict[str, Any]]:
    """OpenAPI `responses` for the errors a route answers; those in `lists` carry a list of field errors."""
    return {s: {"model": ErrorList if s in lists else ErrorMessage, "description": _REASONS[s]} for s in statuses}


class Txt2ImgResponse(BaseModel):
    images: list[str] = Field(..., description="Base64-encoded images, as /sdapi/v1/txt2img returns them.")
    parameters: dict = Field(..., description="The request, with the batch_size and n_iter the images were made with.")
    info: str = Field(..., description="The WebUI's generation info as a JSON string (all_prompts, infotexts...).")
    prompts: list[str] = Field(..., description="Each image's prompt.")
    negative_prompts: list[str]
    seeds: list[int]
    template: str | None = Field(None, description="The library template used, if any.")
    task_id: str = Field(..., description="The progress task id: POST /internal/progress {id_task} follows it.")


def txt2img_request_model(base: type[BaseModel]) -> type[BaseModel]:
    """/sdapi/v1/txt2img's request model (every field it takes) plus ours: template, variables, mode, count, offset.
    Unknown fields are ignored, as /sdapi/v1/txt2img ignores them, so existing payloads keep working."""
    example = {"example": TXT2IMG_EXAMPLE}

    class PromptTemplatesTxt2ImgRequest(base, ExpansionFields):  # type: ignore[valid-type, misc]
        if PYDANTIC_V2:
            model_config = {**base.model_config, "json_schema_extra": example}  # type: ignore[typeddict-unknown-key]
        else:

            class Config:
                schema_extra = example

    return PromptTemplatesTxt2ImgRequest


@contextmanager
def answers() -> Iterator[None]:
    """The library's and the planner's refusals, as HTTP answers with the field (and line/column) at fault."""
    try:
        yield
    except PlanError as exc:
        raise HTTPException(status_code=exc.status, detail=[p.as_dict() for p in exc.problems]) from None
    except InvalidTemplate as exc:
        raise HTTPException(status_code=422, detail=[p.as_dict() for p in exc.problems]) from None
    except TemplateNotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    except (TemplateExists, StaleVersion) as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    except GenerationUnavailable as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from None


def build_router(txt2img_base: type[BaseModel]) -> APIRouter:
    Txt2ImgRequest = txt2img_request_model(txt2img_base)
    router = APIRouter(prefix=PREFIX, tags=["Prompt Templates"], route_class=GuardedRoute)

    @router.get("/version", response_model=VersionResponse)
    def version() -> dict[str, Any]:
        """The extension's version and API version."""
        import pydantic

        return {"name": "sd-prompt-templates", "version": __version__, "api": API_VERSION, "pydantic": pydantic.VERSION}

    @router.get("/templates", response_model=TemplateList, responses=errors(422))
    def list_templates(
        q: str | None = Query(None, description="Search name, title, description and tags."),
        tag: str | None = Query(None, description="Only templates with this tag."),
        service: PromptService = Depends(get_service),
    ) -> dict[str, Any]:
        """The templates in the library, by name."""
        return {"templates": [r.as_dict() for r in service.store().list(q, tag)]}

    @router.post("/templates", response_model=TemplateOut, status_code=201, responses=errors(403, 409, 422))
    def create_template(body: TemplateIn, response: Response, service: PromptService = Depends(get_service)) -> Any:
        """Add a template; 409 if the name is taken, 422 with the field (and line/column) if it is invalid. Its
        `parameters` must be fields of /sdapi/v1/txt2img requests with values those take."""
        with answers():
            record = service.store().create(dump(body))
        response.headers["ETag"] = f'"{record.version}"'
        return record.as_dict()

    @router.get("/templates/{name}", response_model=TemplateOut, responses=errors(404, 422))
    def get_template(name: str, response: Response, service: PromptService = Depends(get_service)) -> Any:
        """One template; its ETag is its version."""
        with answers():
            record = service.store().get(name)
        response.headers["ETag"] = f'"{record.version}"'
        return record.as_dict()

    @router.put("/templates/{name}", response_model=TemplateOut, responses=errors(400, 403, 404, 409, 422, 428))
    def update_template(
        name: str,
        body: TemplateUpdate,
        response: Response,
        if_match: str | None = Header(None),
        service: PromptService = Depends(get_service),
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
        "/templates/{name}", status_code=204, response_class=Response, responses=errors(400, 403, 404, 409, 422)
    )
    def delete_template(
        name: str,
        version: int | None = Query(
            None, ge=1, le=INT64_MAX, description="Refuse (409) if the template is no longer at this version."
        ),
        if_match: str | None = Header(None),
        service: PromptService = Depends(get_service),
    ) -> Response:
        """Delete a template."""
        expected = version if version is not None else _version_header(if_match)
        with answers():
            service.store().delete(name, expected_version=expected)
        return Response(status_code=204)

    @router.get("/export", responses=errors(404, 422))
    def export_templates(
        names: str | None = Query(None, description="Comma-separated names; all templates when absent."),
        service: PromptService = Depends(get_service),
    ) -> dict[str, Any]:
        """The library (or some templates) as a JSON document that POST /import takes back."""
        with answers():
            return service.store().export(names.split(",") if names else None)

    @router.post("/import", response_model=ImportResponse, responses=errors(403, 409, 422))
    def import_templates(body: ImportRequest, service: PromptService = Depends(get_service)) -> Any:
        """Import an export document: all of it lands, or none of it."""
        with answers():
            report = service.store().import_(body.document, on_conflict=body.on_conflict)
        return {"created": report.created, "replaced": report.replaced, "skipped": report.skipped}

    @router.get("/wildcards", response_model=WildcardList)
    def list_wildcards(service: PromptService = Depends(get_service)) -> dict[str, Any]:
        """Every wildcard collection in the configured folders."""
        return {"wildcards": [{"name": c.name, "file": c.file} for c in service.wildcards().collections()]}

    @router.get("/wildcards/{name:path}", response_model=WildcardEntries, responses=errors(404, 422))
    def get_wildcard(name: str, service: PromptService = Depends(get_service)) -> dict[str, Any]:
        """The entries of one wildcard (or of every collection a glob matches). Every name GET /wildcards lists
        opens here, URL-encoded as any path (`my%20colors`, `caf%C3%A9`, `a%26b`)."""
        try:
            entries = service.wildcards().resolve(name)
        except WildcardLookupError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        return {"name": name, "entries": [e.text for e in entries]}

    @router.post("/render", response_model=RenderResponse, responses=errors(403, 404, 422, lists=(404, 422)))
    def render(body: RenderRequest, service: PromptService = Depends(get_service)) -> Any:
        """Expand a template into prompts, negative prompts and seeds, without generating anything. `count` is how
        many prompts the template gives in all (null beyond 2^53 - 1), `count_text` the same as text (any size)."""
        with answers():
            result = service.render(dump(body))
        return {**result, "total": result["count"]}

    @router.post("/txt2img", response_model=Txt2ImgResponse, responses=errors(403, 404, 422, 503, lists=(404, 422)))
    def txt2img(body: Txt2ImgRequest, service: PromptService = Depends(get_service)) -> Any:  # type: ignore[valid-type]
        """/sdapi/v1/txt2img from a template: every field it takes, plus template, variables, mode, count and offset.
        All images are made in one run of the WebUI's txt2img, one prompt each; the answer has the same shape as
        /sdapi/v1/txt2img's, plus prompts, negative_prompts, seeds and template. Without batch_size and n_iter, the
        images are batched as far as the extension's Settings allow; give batch_size to choose it yourself."""
        with answers():
            result = service.txt2img(dump(body), fields_set(body))
        # Already plain JSON types: skip FastAPI's re-validation and re-encoding of every base64 image.
        return JSONResponse(result)

    return router


def _version_header(value: str | None) -> int | None:
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


def mount(app: Any, context: ApiContext, txt2img_base: type[BaseModel]) -> None:
    """Serve the routes on `app` with `context` (once per app: a second call changes nothing)."""
    if getattr(app.state, STATE_KEY, None) is not None:
        return
    setattr(app.state, STATE_KEY, context)
    app.include_router(build_router(txt2img_base))
    install_openapi(app)
    app.openapi_schema = None  # rebuilt with our routes on the next request for it


def install_openapi(app: Any) -> None:
    """Declare HTTP Basic (and the 401 answer) on our routes in the app's OpenAPI document only while --api-auth is
    on: the credentials are read at each request, so the document follows them each time it is asked for."""
    original = app.openapi
    if getattr(original, "_prompt_templates", False):
        return

    def openapi() -> dict[str, Any]:
        schema = original()
        context = getattr(app.state, STATE_KEY, None)
        declare_auth(schema, context is not None and auth_enabled(context))
        return schema

    openapi._prompt_templates = True  # type: ignore[attr-defined]
    app.openapi = openapi


def declare_auth(schema: dict[str, Any], secured: bool) -> None:
    components = schema.setdefault("components", {})
    schemes = components.setdefault("securitySchemes", {})
    message = "#/components/schemas/ErrorMessage"
    body = {"$ref": message} if "ErrorMessage" in components.get("schemas", {}) else {"type": "object"}
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith(PREFIX + "/"):
            continue
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            if secured:
                operation["security"] = [{SECURITY_SCHEME: []}]
                operation["responses"]["401"] = {
                    "description": "--api-auth is on: send its user name and password (HTTP Basic).",
                    "content": {"application/json": {"schema": body}},
                }
            else:
                operation.pop("security", None)
                operation["responses"].pop("401", None)
    if secured:
        schemes.setdefault(SECURITY_SCHEME, {"type": "http", "scheme": "basic"})
    elif not any(
        SECURITY_SCHEME in requirement
        for operations in schema.get("paths", {}).values()
        for operation in operations.values()
        if isinstance(operation, dict)
        for requirement in operation.get("security", [])
    ):
        schemes.pop(SECURITY_SCHEME, None)
    if not schemes:
        components.pop("securitySchemes")
