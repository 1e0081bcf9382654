"""The REST routes on the real WebUI: they exist, they are documented, and --api-auth covers every one."""

import os

import pytest

ROUTES = [
    ("GET", "/version"),
    ("GET", "/templates"),
    ("POST", "/templates"),
    ("GET", "/templates/portrait"),
    ("PUT", "/templates/portrait"),
    ("DELETE", "/templates/portrait"),
    ("GET", "/export"),
    ("POST", "/import"),
    ("GET", "/wildcards"),
    ("GET", "/wildcards/colors"),
    ("POST", "/render"),
    ("POST", "/txt2img"),
    ("POST", "/img2img"),
    ("POST", "/jobs"),
    ("GET", "/jobs"),
    ("GET", "/jobs/no-such-job"),
    ("DELETE", "/jobs/no-such-job"),
    ("POST", "/jobs/no-such-job/rerun"),
    ("GET", "/jobs/no-such-job/images"),
    ("GET", "/jobs/no-such-job/images/0"),
    ("GET", "/jobs/no-such-job/events"),
]


def test_version_and_openapi(webui):
    assert webui.ours("GET", "/version").body["name"] == "sd-prompt-templates"
    schema = webui.call("GET", "/openapi.json")
    if schema.status == 404:
        pytest.skip("this WebUI serves no OpenAPI document")
    paths = {p for p in schema.body["paths"] if p.startswith("/prompt-templates/v1")}
    assert len(paths) == 16  # 10 + the jobs' 6
    img2img = schema.body["components"]["schemas"]["PromptTemplatesImg2ImgRequest"]["properties"]
    assert {"template", "mode", "init_images", "denoising_strength"} <= set(img2img)
    fields = schema.body["components"]["schemas"]["PromptTemplatesTxt2ImgRequest"]["properties"]
    assert {"template", "variables", "mode", "count", "offset", "prompt", "sampler_name", "alwayson_scripts"} <= set(
        fields
    )


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_refuses_requests_without_credentials(webui, method, path):
    if not os.environ.get("SD_WEBUI_AUTH"):
        pytest.skip("start the WebUI with --api-auth and set SD_WEBUI_AUTH to run this")
    body = {} if method in ("POST", "PUT") else None
    assert webui.ours(method, path, body, auth=None).status == 401
    assert webui.ours(method, path, body, auth=("nobody", "wrong")).status == 401
    assert webui.ours("GET", "/version").status == 200


def test_render_matches_what_txt2img_generates(webui):
    request = {"prompt": "a {red|blue} {cat|dog}", "seed": 77, "count": 3}
    rendered = webui.ours("POST", "/render", request).body
    generated = webui.ours("POST", "/txt2img", {**request, "steps": 2, "width": 64, "height": 64}).body
    assert rendered["prompts"] == generated["prompts"] and rendered["seeds"] == generated["seeds"]
