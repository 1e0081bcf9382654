"""The REST API composed: each resource's routes (api/routes/) under /prompt-templates/v1 with one tag, and the
OpenAPI document declaring HTTP Basic while --api-auth is on. `mount()` puts it all on an app.

Handlers that touch the disk or the GPU are plain `def`: FastAPI runs them in its thread pool, so a long generation
never blocks the event loop. Every route is a `GuardedRoute` (api/guard.py): cross-site writes (403), --api-auth
(401) and numbers no field takes (422) are refused before FastAPI reads the body."""

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from sd_prompt_templates.api.deps import STATE_KEY, ApiContext, auth_enabled
from sd_prompt_templates.api.routes import generate, jobs, meta, render, templates, wildcards

PREFIX = "/prompt-templates/v1"
TAG = "Prompt Templates"
SECURITY_SCHEME = "HTTPBasic"  # the name FastAPI gives the WebUI's own HTTP Basic scheme: one "Authorize" for both


def build_router(txt2img_base: type[BaseModel], img2img_base: type[BaseModel] | None = None) -> APIRouter:
    """Every route under the prefix; `txt2img_base` and `img2img_base` are the WebUI's /sdapi/v1/txt2img and img2img
    request models (no /img2img without the latter)."""
    txt2img = generate.request_model(txt2img_base, "txt2img")
    img2img = generate.request_model(img2img_base, "img2img") if img2img_base is not None else None
    router = APIRouter(prefix=PREFIX, tags=[TAG])
    router.include_router(meta.router)
    router.include_router(templates.router)
    router.include_router(wildcards.router)
    router.include_router(render.build(txt2img))
    router.include_router(generate.build(txt2img, img2img))
    router.include_router(jobs.build(jobs.request_model(txt2img, img2img), jobs.kind_fields(txt2img, img2img)))
    return router


def mount(
    app: Any, context: ApiContext, txt2img_base: type[BaseModel], img2img_base: type[BaseModel] | None = None
) -> None:
    """Serve the routes on `app` with `context` (once per app: a second call changes nothing)."""
    if getattr(app.state, STATE_KEY, None) is not None:
        return
    setattr(app.state, STATE_KEY, context)
    app.include_router(build_router(txt2img_base, img2img_base))
    install_openapi(app)
    app.openapi_schema = None  # rebuilt with our routes on the next request for it


def install_openapi(app: Any) -> None:
    """Declare HTTP Basic (and the 401 answer) on our routes in the app's OpenAPI document only while --api-auth is
    on: the credentials are read at each request, so the document follows them each time it is asked for."""
    original = app.openapi
    if getattr(original, "_prompt_templates", False):
        return

    def openapi() -> dict[str, Any]:
        schema: dict[str, Any] = original()
        context = getattr(app.state, STATE_KEY, None)
        declare_auth(schema, context is not None and auth_enabled(context))
        return schema

    openapi._prompt_templates = True  # type: ignore[attr-defined]
    app.openapi = openapi


def declare_auth(schema: dict[str, Any], secured: bool) -> None:
    """Add (secured) or remove HTTP Basic and the 401 answer on our operations, leaving the app's other routes be."""
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
