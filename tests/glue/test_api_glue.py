"""The glue hands the API the WebUI's request model and settings: stored parameters are checked against
modules.api.models.StableDiffusionTxt2ImgProcessingAPI (by the API and by the tab), --cors-allow-origins(-regex) and
--api-auth are read from shared.cmd_opts at each request, and huge numbers never reach the WebUI's model."""

import json
import sqlite3

import pytest

PREFIX = "/prompt-templates/v1"
SMALL = {"steps": 2, "width": 64, "height": 64}
EVIL = "http://evil.example"


@pytest.fixture
def cmd_opts(started):
    opts = started.shared.cmd_opts
    saved = dict(vars(opts))
    yield opts
    vars(opts).update(saved)


def post(started, path, body, **headers):
    return started.client.post(PREFIX + path, content=json.dumps(body), headers=headers)


@pytest.mark.parametrize(
    ("parameters", "field", "fragment"),
    [
        ({"widht": 512}, "widht", "did you mean width"),
        ({"override_settings": "x"}, "override_settings", ""),  # only the WebUI's model knows it is a dict
        ({"hr_second_pass_steps": "many"}, "hr_second_pass_steps", "integer"),
        ({"width": "wide"}, "width", "integer"),
        ({"steps": 0}, "steps", "between 1 and"),
    ],
)
def test_stored_parameters_are_checked_against_the_webuis_model(started, parameters, field, fragment):
    response = post(started, "/templates", {"name": "t", "prompt": "x", "parameters": parameters})
    assert response.status_code == 422, response.text
    (item,) = response.json()["detail"]
    assert item["loc"] == ["body", "parameters", field] and fragment in item["msg"]


def test_parameters_the_webui_takes_are_saved(started):
    parameters = {
        "hr_upscaler": "Latent",
        "override_settings": {"CLIP_stop_at_last_layers": 2},
        "sampler_name": "Euler",
    }
    response = post(started, "/templates", {"name": "t", "prompt": "x", "parameters": parameters})
    assert response.status_code == 201, response.text


def test_the_tab_saves_through_a_service_that_knows_the_model(started):
    from sd_prompt_templates.ui.handlers.library import EditorInputs, SaveInputs, save
    from sd_prompt_templates.webui import runtime

    editor = EditorInputs(name="t", prompt="x", parameters='{"override_settings": "x", "widht": 1}')
    _, version, text = save(runtime.service(), SaveInputs(original="", version=None, editor=editor))
    assert version is None and "parameters.override_settings" in text and "parameters.widht" in text


def test_a_bad_stored_template_is_a_422_not_a_failure_inside_the_webui(started):
    from sd_prompt_templates.webui import runtime

    store = runtime.service().store()
    store.create({"name": "old", "prompt": "x"})
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE templates SET parameters = ? WHERE name = 'old'", ('{"override_settings": "x"}',))
    response = post(started, "/txt2img", {"template": "old", **SMALL})
    assert response.status_code == 422, response.text
    assert "override_settings" in response.json()["detail"][0]["msg"]
    assert started.shared.state.begun == 0


@pytest.mark.parametrize("field", ["seed", "subseed", "steps", "n_iter", "cfg_scale", "hr_scale", "denoising_strength"])
def test_huge_numbers_never_reach_the_webuis_model(started, field):
    """pydantic 1 raises OverflowError (a 500) turning a 400-digit int into a float field."""
    text = json.dumps({"prompt": "x", **SMALL, field: "N"}).replace('"N"', "9" * 400)
    response = started.client.post(f"{PREFIX}/txt2img", content=text)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", field]


def test_cors_settings_are_read_from_cmd_opts_at_each_request(started, cmd_opts):
    assert post(started, "/render", {"prompt": "x"}, Origin=EVIL).status_code == 403
    cmd_opts.cors_allow_origins = "http://localhost:3000," + EVIL
    assert post(started, "/render", {"prompt": "x"}, Origin=EVIL).status_code == 200
    cmd_opts.cors_allow_origins = None
    cmd_opts.cors_allow_origins_regex = r"http://evil\.exam.*"
    assert post(started, "/render", {"prompt": "x"}, Origin=EVIL).status_code == 200
    cmd_opts.cors_allow_origins_regex = None
    assert post(started, "/templates", {"name": "t", "prompt": "x"}, Origin=EVIL).status_code == 403
    assert post(started, "/templates", {"name": "t", "prompt": "x"}, Origin="http://testserver").status_code == 201
    assert post(started, "/render", {"prompt": "x"}).status_code == 200  # no Origin: scripts and programs


def test_a_webui_without_the_cors_options_still_works(started, cmd_opts):
    """SD.Next or an old fork may not have the options at all: then only the own origin is allowed."""
    del cmd_opts.cors_allow_origins, cmd_opts.cors_allow_origins_regex
    assert post(started, "/render", {"prompt": "x"}, Origin=EVIL).status_code == 403
    assert post(started, "/render", {"prompt": "x"}, Origin="http://testserver").status_code == 200


def test_openapi_declares_http_basic_only_with_api_auth(started, cmd_opts):
    def ours(schema):
        return [op for path, ops in schema["paths"].items() if path.startswith(PREFIX) for op in ops.values()]

    schema = started.client.get("/openapi.json").json()
    assert ours(schema) and not any("security" in op for op in ours(schema))
    assert "HTTPBasic" not in schema.get("components", {}).get("securitySchemes", {})
    cmd_opts.api_auth = "alice:secret"
    schema = started.client.get("/openapi.json").json()  # the document itself is open, as the WebUI's
    assert all(op["security"] == [{"HTTPBasic": []}] and "401" in op["responses"] for op in ours(schema))
    assert schema["components"]["securitySchemes"]["HTTPBasic"] == {"type": "http", "scheme": "basic"}
    assert started.client.get(f"{PREFIX}/version").status_code == 401
