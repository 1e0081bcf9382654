"""The OpenAPI document lists every status each route answers, with the model of its body; HTTP Basic (and 401) is
declared only while --api-auth is on."""

import pytest

PREFIX = "/prompt-templates/v1"
MESSAGE, LIST = "ErrorMessage", "ErrorList"

# The error statuses each route answers (without --api-auth), and the model of each body.
EXPECTED = {
    ("get", "/version"): {},
    ("get", "/templates"): {422: LIST, 503: MESSAGE},
    ("post", "/templates"): {403: MESSAGE, 409: MESSAGE, 422: LIST, 503: MESSAGE},
    ("get", "/templates/{name}"): {404: MESSAGE, 422: LIST, 503: MESSAGE},
    ("put", "/templates/{name}"): {
        400: MESSAGE,
        403: MESSAGE,
        404: MESSAGE,
        409: MESSAGE,
        422: LIST,
        428: MESSAGE,
        503: MESSAGE,
    },
    ("delete", "/templates/{name}"): {400: MESSAGE, 403: MESSAGE, 404: MESSAGE, 409: MESSAGE, 422: LIST, 503: MESSAGE},
    ("get", "/export"): {404: MESSAGE, 422: LIST, 503: MESSAGE},
    ("post", "/import"): {403: MESSAGE, 409: MESSAGE, 422: LIST, 503: MESSAGE},
    ("get", "/wildcards"): {},
    ("get", "/wildcards/{name}"): {404: MESSAGE, 422: LIST},
    ("post", "/render"): {403: MESSAGE, 404: LIST, 422: LIST, 503: MESSAGE},
    ("post", "/txt2img"): {403: MESSAGE, 404: LIST, 422: LIST, 503: MESSAGE},
    ("post", "/img2img"): {403: MESSAGE, 404: LIST, 422: LIST, 503: MESSAGE},
    ("post", "/jobs"): {403: MESSAGE, 404: LIST, 409: MESSAGE, 422: LIST, 503: MESSAGE},
    ("get", "/jobs"): {422: LIST, 503: MESSAGE},
    ("get", "/jobs/{job_id}"): {404: MESSAGE, 422: LIST, 503: MESSAGE},
    ("delete", "/jobs/{job_id}"): {403: MESSAGE, 404: MESSAGE, 422: LIST, 503: MESSAGE},
    ("post", "/jobs/{job_id}/rerun"): {403: MESSAGE, 404: MESSAGE, 422: LIST, 503: MESSAGE},
    ("get", "/jobs/{job_id}/images/{index}"): {404: MESSAGE, 422: LIST, 503: MESSAGE},
    ("get", "/jobs/{job_id}/images"): {404: MESSAGE, 422: LIST, 503: MESSAGE},
    ("get", "/jobs/{job_id}/events"): {404: MESSAGE, 422: LIST, 503: MESSAGE},
}
EVIL = {"Origin": "http://evil.example"}
DOCUMENT = {"format": "sd-prompt-templates", "format_version": 1, "templates": [{"name": "portrait", "prompt": "x"}]}

# Requests that get each error status: what the document says must be what the routes do.
TRIGGERS = [
    ("post", "/templates", "/templates", {"json": {"name": "portrait", "prompt": "x"}}, 409),
    ("post", "/templates", "/templates", {"json": {"name": "Bad Name", "prompt": "x"}}, 422),
    ("post", "/templates", "/templates", {"json": {"name": "n", "prompt": "x"}, "headers": EVIL}, 403),
    ("get", "/templates/{name}", "/templates/nope", {}, 404),
    (
        "put",
        "/templates/{name}",
        "/templates/portrait",
        {"json": {"name": "portrait", "prompt": "x"}, "headers": {"If-Match": "x"}},
        400,
    ),
    (
        "put",
        "/templates/{name}",
        "/templates/portrait",
        {"json": {"name": "portrait", "prompt": "x"}, "headers": EVIL},
        403,
    ),
    ("put", "/templates/{name}", "/templates/nope", {"json": {"name": "nope", "prompt": "x", "version": 1}}, 404),
    (
        "put",
        "/templates/{name}",
        "/templates/portrait",
        {"json": {"name": "portrait", "prompt": "x", "version": 9}},
        409,
    ),
    (
        "put",
        "/templates/{name}",
        "/templates/portrait",
        {"json": {"name": "portrait", "prompt": "{", "version": 1}},
        422,
    ),
    ("put", "/templates/{name}", "/templates/portrait", {"json": {"name": "portrait", "prompt": "x"}}, 428),
    ("delete", "/templates/{name}", "/templates/portrait", {"headers": {"If-Match": "x"}}, 400),
    ("delete", "/templates/{name}", "/templates/portrait", {"headers": EVIL}, 403),
    ("delete", "/templates/{name}", "/templates/nope", {}, 404),
    ("delete", "/templates/{name}", "/templates/portrait", {"params": {"version": 9}}, 409),
    ("delete", "/templates/{name}", "/templates/portrait", {"params": {"version": "x"}}, 422),
    ("get", "/export", "/export", {"params": {"names": "nope"}}, 404),
    ("post", "/import", "/import", {"json": {"document": DOCUMENT}, "headers": EVIL}, 403),
    ("post", "/import", "/import", {"json": {"document": DOCUMENT}}, 409),
    ("post", "/import", "/import", {"json": {"document": {}}}, 422),
    ("get", "/wildcards/{name}", "/wildcards/nope", {}, 404),
    ("post", "/render", "/render", {"json": {"prompt": "x"}, "headers": EVIL}, 403),
    ("post", "/render", "/render", {"json": {"template": "nope"}}, 404),
    ("post", "/render", "/render", {"json": {"prompt": "{"}}, 422),
    ("post", "/txt2img", "/txt2img", {"json": {"prompt": "x"}, "headers": EVIL}, 403),
    ("post", "/txt2img", "/txt2img", {"json": {"template": "nope"}}, 404),
    ("post", "/txt2img", "/txt2img", {"json": {"prompt": "x", "steps": 0}}, 422),
    ("post", "/img2img", "/img2img", {"json": {"prompt": "x"}, "headers": EVIL}, 403),
    ("post", "/img2img", "/img2img", {"json": {"template": "nope"}}, 404),
    ("post", "/img2img", "/img2img", {"json": {"prompt": "{x", "init_images": []}}, 422),
]


def operations(schema):
    for path, methods in schema["paths"].items():
        if path.startswith(PREFIX):
            for method, operation in methods.items():
                yield (method, path.removeprefix(PREFIX)), operation


def ref_name(response):
    return response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]


def test_every_route_lists_its_error_statuses_with_a_model(api):
    schema = api.client.get("/openapi.json").json()
    found = dict(operations(schema))
    assert set(found) == set(EXPECTED)
    for key, operation in found.items():
        errors = {int(s): r for s, r in operation["responses"].items() if s.startswith(("4", "5"))}
        assert {s: ref_name(r) for s, r in errors.items()} == EXPECTED[key], key
        assert all(r["description"] for r in errors.values())
    assert schema["components"]["schemas"][LIST]["properties"]["detail"]["type"] == "array"
    assert schema["components"]["schemas"][MESSAGE]["properties"]["detail"]["type"] == "string"


@pytest.mark.parametrize(("method", "documented", "path", "kwargs", "status"), TRIGGERS)
def test_what_the_routes_answer_is_what_the_document_lists(api, portrait, method, documented, path, kwargs, status):
    response = getattr(api.client, method)(PREFIX + path, **kwargs)
    assert response.status_code == status, response.text[:300]
    model = EXPECTED[(method, documented)][status]
    assert isinstance(response.json()["detail"], list if model == LIST else str), response.json()


def test_txt2img_without_a_generator_is_the_documented_503(api):
    api.service.generator = None
    assert api.client.post(f"{PREFIX}/txt2img", json={"prompt": "x"}).status_code == 503


def test_http_basic_is_declared_only_while_api_auth_is_on(api):
    def document():
        return api.client.get("/openapi.json").json()

    off = document()
    assert "HTTPBasic" not in off.get("components", {}).get("securitySchemes", {})
    assert all("security" not in op and "401" not in op["responses"] for _, op in operations(off))

    api.auth["value"] = "alice:secret"
    on = document()
    assert on["components"]["securitySchemes"]["HTTPBasic"] == {"type": "http", "scheme": "basic"}
    for _, operation in operations(on):
        assert operation["security"] == [{"HTTPBasic": []}]
        assert ref_name(operation["responses"]["401"]) == MESSAGE

    api.auth["value"] = None  # the document follows the setting each time it is asked for
    assert document() == off


def test_other_routes_of_the_app_keep_their_own_security(api):
    """The WebUI's own routes declare HTTP Basic themselves under --api-auth: ours never remove it."""
    from fastapi import Depends
    from fastapi.security import HTTPBasic

    basic = HTTPBasic()

    @api.app.get("/sdapi/v1/own", dependencies=[Depends(basic)])
    def own() -> dict:
        return {}

    api.app.openapi_schema = None
    schema = api.client.get("/openapi.json").json()
    assert schema["paths"]["/sdapi/v1/own"]["get"]["security"] == [{"HTTPBasic": []}]
    assert "HTTPBasic" in schema["components"]["securitySchemes"]
    assert all("security" not in op for _, op in operations(schema))
