"""How api/main.py composes the resource routers: every route under the prefix, guarded, tagged, blocking handlers as
plain `def`, and operation ids that stay what generated clients call them."""

import inspect

from fastapi import FastAPI

from sd_prompt_templates.api.guard import GuardedRoute
from sd_prompt_templates.api.main import PREFIX, TAG, mount
from tests.api.conftest import Img2ImgBase, Txt2ImgBase

# Client generators name their methods after these: a renamed handler would rename them.
OPERATION_IDS = {
    ("GET", "/version"): "version_prompt_templates_v1_version_get",
    ("GET", "/templates"): "list_templates_prompt_templates_v1_templates_get",
    ("POST", "/templates"): "create_template_prompt_templates_v1_templates_post",
    ("GET", "/templates/{name}"): "get_template_prompt_templates_v1_templates__name__get",
    ("PUT", "/templates/{name}"): "update_template_prompt_templates_v1_templates__name__put",
    ("DELETE", "/templates/{name}"): "delete_template_prompt_templates_v1_templates__name__delete",
    ("GET", "/export"): "export_templates_prompt_templates_v1_export_get",
    ("POST", "/import"): "import_templates_prompt_templates_v1_import_post",
    ("GET", "/wildcards"): "list_wildcards_prompt_templates_v1_wildcards_get",
    ("GET", "/wildcards/{name}"): "get_wildcard_prompt_templates_v1_wildcards__name__get",
    ("POST", "/render"): "render_prompt_templates_v1_render_post",
    ("POST", "/txt2img"): "txt2img_prompt_templates_v1_txt2img_post",
    ("POST", "/img2img"): "img2img_prompt_templates_v1_img2img_post",
    ("POST", "/jobs"): "submit_job_prompt_templates_v1_jobs_post",
    ("GET", "/jobs"): "list_jobs_prompt_templates_v1_jobs_get",
    ("GET", "/jobs/{job_id}"): "get_job_prompt_templates_v1_jobs__job_id__get",
    ("DELETE", "/jobs/{job_id}"): "delete_job_prompt_templates_v1_jobs__job_id__delete",
    ("POST", "/jobs/{job_id}/rerun"): "rerun_job_prompt_templates_v1_jobs__job_id__rerun_post",
    ("GET", "/jobs/{job_id}/images/{index}"): "get_job_image_prompt_templates_v1_jobs__job_id__images__index__get",
    ("GET", "/jobs/{job_id}/images"): "get_job_images_prompt_templates_v1_jobs__job_id__images_get",
    ("GET", "/jobs/{job_id}/events"): "job_events_prompt_templates_v1_jobs__job_id__events_get",
}


def our_routes(app: FastAPI) -> list:
    return [r for r in app.routes if getattr(r, "path", "").startswith(PREFIX + "/")]


def test_every_route_is_guarded_tagged_and_blocking_handlers_are_plain_def(api):
    routes = our_routes(api.app)
    assert routes
    for route in routes:
        assert isinstance(route, GuardedRoute), route.path  # the 403/401/422 checks before the body is read
        assert route.tags == [TAG], route.path
        assert not inspect.iscoroutinefunction(route.endpoint), route.path  # run in the thread pool
        assert (route.endpoint.__doc__ or "").strip(), route.path  # the operation's description


def test_operation_ids_are_stable(api):
    schema = api.client.get("/openapi.json").json()
    found = {
        (method.upper(), path.removeprefix(PREFIX)): operation["operationId"]
        for path, operations in schema["paths"].items()
        if path.startswith(PREFIX)
        for method, operation in operations.items()
    }
    assert found == OPERATION_IDS


def test_mounting_twice_changes_nothing_and_each_app_gets_its_own_routes(api):
    before = [(r.path, sorted(r.methods)) for r in our_routes(api.app)]
    mount(api.app, api.app.state.prompt_templates, Txt2ImgBase, Img2ImgBase)  # a second call is ignored
    assert [(r.path, sorted(r.methods)) for r in our_routes(api.app)] == before

    other = FastAPI()
    mount(other, api.app.state.prompt_templates, Txt2ImgBase, Img2ImgBase)
    assert [(r.path, sorted(r.methods)) for r in our_routes(other)] == before
    assert not {id(r) for r in our_routes(other)} & {id(r) for r in our_routes(api.app)}
