"""POST /txt2img and /img2img: a template's images, made by the WebUI's own txt2img and img2img. The request models
extend the WebUI's, so these routes are built when the API is mounted (`build`). No `from __future__ import
annotations` here: FastAPI must see the request models made at mount time as real classes, not strings."""

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sd_prompt_templates.api.deps import ServiceDep
from sd_prompt_templates.api.guard import GuardedRoute
from sd_prompt_templates.api.routes.errors import answers, errors
from sd_prompt_templates.models import (
    IMG2IMG_EXAMPLE,
    NULLABLE,
    PYDANTIC_V2,
    TXT2IMG_EXAMPLE,
    ExpansionFields,
    dump,
    fields_set,
)
from sd_prompt_templates.plan import Kind
from sd_prompt_templates.service import PromptService


class GenerationResponse(BaseModel):
    images: list[str] = Field(..., description="Base64-encoded images, as /sdapi/v1/txt2img and img2img return them.")
    parameters: dict[str, Any] = Field(
        ..., description="The request, with the batch_size and n_iter the images were made with."
    )
    info: str = Field(..., description="The WebUI's generation info as a JSON string (all_prompts, infotexts...).")
    prompts: list[str] = Field(..., description="Each image's prompt.")
    negative_prompts: list[str]
    seeds: list[int]
    template: str | None = Field(None, description="The library template used, if any.", **NULLABLE)  # type: ignore[misc]
    task_id: str = Field(..., description="The progress task id: POST /internal/progress {id_task} follows it.")


def request_model(base: type[BaseModel], kind: Kind) -> type[BaseModel]:
    """The WebUI's request model for `kind` (every field /sdapi/v1/txt2img or img2img takes) plus ours: template,
    variables, mode, count, offset. Unknown fields are ignored, as the WebUI's API ignores them, so existing
    payloads keep working."""
    example = {"example": TXT2IMG_EXAMPLE if kind == "txt2img" else IMG2IMG_EXAMPLE}
    namespace: dict[str, Any] = {"__module__": __name__}
    if PYDANTIC_V2:
        namespace["model_config"] = {**base.model_config, "json_schema_extra": example}
    else:
        namespace["Config"] = type("Config", (), {"schema_extra": example})
    # named at creation: pydantic 2 takes the OpenAPI schema's name from the class as it is made
    name = {"txt2img": "PromptTemplatesTxt2ImgRequest", "img2img": "PromptTemplatesImg2ImgRequest"}[kind]
    fields: Any = base.model_fields if PYDANTIC_V2 else base.__fields__  # type: ignore[attr-defined, unused-ignore]
    if "force_task_id" not in fields:  # SD.Next's models lack it: our answer's task_id must still be the caller's
        namespace["__annotations__"] = {"force_task_id": str | None}
        namespace["force_task_id"] = Field(None, description="The progress task id to run as (default: a new one).")
    return type(name, (base, ExpansionFields), namespace)


def build(txt2img_request: type[BaseModel], img2img_request: type[BaseModel] | None) -> APIRouter:
    """The generation routes, with request models made by `request_model` (img2img when the WebUI has one)."""
    router = APIRouter(route_class=GuardedRoute)
    responses = errors(403, 404, 422, 503, lists=(404, 422))

    @router.post("/txt2img", response_model=GenerationResponse, responses=responses)
    def txt2img(body: txt2img_request, service: PromptService = ServiceDep) -> Any:  # type: ignore[valid-type]
        """/sdapi/v1/txt2img from a template: every field it takes, plus template, variables, mode, count and offset.
        All images are made in one run of the WebUI's txt2img, one prompt each; the answer has the same shape as
        /sdapi/v1/txt2img's, plus prompts, negative_prompts, seeds and template. Without batch_size and n_iter, the
        images are batched as far as the extension's Settings allow; give batch_size to choose it yourself."""
        return generate(service, body, "txt2img")

    if img2img_request is not None:

        @router.post("/img2img", response_model=GenerationResponse, responses=responses)
        def img2img(body: img2img_request, service: PromptService = ServiceDep) -> Any:  # type: ignore[valid-type]
            """/sdapi/v1/img2img from a template: every field it takes (init_images, denoising_strength, mask...),
            plus template, variables, mode, count and offset; one run of the WebUI's img2img, one prompt per image,
            the same answer shape as /sdapi/v1/img2img's plus prompts, negative_prompts, seeds and template."""
            return generate(service, body, "img2img")

    return router


def generate(service: PromptService, body: BaseModel, kind: Kind) -> JSONResponse:
    with answers():
        generated = service.generate(dump(body), fields_set(body), kind)
    # Already plain JSON types: skip FastAPI's re-validation and re-encoding of every base64 image.
    return JSONResponse(generated.to_dict())
