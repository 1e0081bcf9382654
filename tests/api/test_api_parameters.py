"""A template's stored parameters are checked when it is saved (API, import, the tab's save), against the WebUI's
request model when there is one; a template saved before that gives a 422 at use, never a 500. Requests to /txt2img
refuse 0 (and less) for sizes, steps and counts."""

import json
import sqlite3

import pytest

from sd_prompt_templates.library import InvalidTemplate
from sd_prompt_templates.service import PromptService
from sd_prompt_templates.ui.handlers.library import EditorInputs, SaveInputs, save

PREFIX = "/prompt-templates/v1"

BAD_PARAMETERS = [
    ({"width": "wide"}, "width", "integer"),
    ({"steps": [20]}, "steps", "integer"),
    ({"seed": "lucky"}, "seed", "integer"),
    ({"width": 0}, "width", "between 64 and"),
    ({"height": -512}, "height", "between 64 and"),
    ({"width": 500}, "width", "multiple of 8"),
    ({"width": 512.5}, "width", "integer"),
    ({"width": True}, "width", "integer"),
    ({"width": None}, "width", "null"),
    ({"steps": 0}, "steps", "between 1 and"),
    ({"n_iter": 0}, "n_iter", "between 1 and"),
    ({"batch_size": -1}, "batch_size", "between 1 and"),
    ({"cfg_scale": "high"}, "cfg_scale", "number"),
    ({"enable_hr": "maybe"}, "enable_hr", "true or false"),
    ({"hr_resize_x": "big"}, "hr_resize_x", "integer"),
    ({"alwayson_scripts": 5}, "alwayson_scripts", ""),  # only the WebUI's request model knows this one
    ({"widht": 512}, "widht", "did you mean width"),  # not a request field: it would be silently ignored
    ({"prompt": "a cat"}, "prompt", "the template's own prompt"),
    ({"count": 4}, "count", "chosen by each request"),
    ({"steps": 10**18}, "steps", "between 1 and"),
]
GOOD_PARAMETERS = {
    "steps": 20,
    "width": 512,
    "height": 768,
    "cfg_scale": 6.5,
    "seed": -1,
    "sampler_name": "Euler a",
    "enable_hr": False,
    "alwayson_scripts": {"some script": {"args": [1]}},
}


def template(parameters, name="t"):
    return {"name": name, "prompt": "a {red|blue} cat", "parameters": parameters}


def item_at(response, *loc):
    """The 422 item whose loc ends with `loc`."""
    assert response.status_code == 422, response.text
    items = [d for d in response.json()["detail"] if tuple(d["loc"][-len(loc) :]) == loc]
    assert items, response.json()["detail"]
    return items[0]


@pytest.mark.parametrize(("parameters", "field", "reason"), BAD_PARAMETERS)
def test_create_refuses_a_bad_parameter_naming_it(api, parameters, field, reason):
    response = api.client.post(f"{PREFIX}/templates", json=template(parameters))
    item = item_at(response, "parameters", field)
    assert item["loc"] == ["body", "parameters", field]
    assert reason.lower() in item["msg"].lower() and item["msg"]
    assert api.store.list() == []


@pytest.mark.parametrize(("parameters", "field", "reason"), BAD_PARAMETERS)
def test_update_and_import_refuse_it_too(api, parameters, field, reason):
    assert api.client.post(f"{PREFIX}/templates", json=template({"steps": 5})).status_code == 201
    response = api.client.put(f"{PREFIX}/templates/t", json={**template(parameters), "version": 1})
    assert reason.lower() in item_at(response, "parameters", field)["msg"].lower()
    document = {"format": "sd-prompt-templates", "format_version": 1, "templates": [template(parameters, "u")]}
    for on_conflict in ("error", "replace"):
        response = api.client.post(f"{PREFIX}/import", json={"document": document, "on_conflict": on_conflict})
        assert item_at(response, "templates", "0", "parameters", field)
    assert [r.name for r in api.store.list()] == ["t"] and api.store.get("t").parameters == {"steps": 5}


def test_good_parameters_are_kept_as_given(api):
    response = api.client.post(f"{PREFIX}/templates", json=template(GOOD_PARAMETERS))
    assert response.status_code == 201, response.text
    assert response.json()["parameters"] == GOOD_PARAMETERS


def test_the_tabs_save_path_checks_them_with_the_same_model(api):
    """The tab saves through the service's store: the same checks, the same WebUI model."""
    _, _, text = save(
        api.service, SaveInputs(editor=EditorInputs(name="t", prompt="x", parameters='{"width": "wide"}'))
    )
    assert "parameters.width" in text and "integer" in text
    _, _, text = save(api.service, SaveInputs(editor=EditorInputs(name="t", prompt="x", parameters='{"widht": 64}')))
    assert "parameters.widht" in text and "did you mean width" in text
    with pytest.raises(InvalidTemplate) as info:
        api.service.store().create(template({"seed": "lucky"}))
    assert [p.field for p in info.value.problems] == ["parameters.seed"]
    assert api.store.list() == []


def test_without_the_webuis_model_our_own_fields_are_still_checked(settings):
    """The CLI and plain use: no request model, so unknown names cannot be told from fields of some WebUI."""
    store = PromptService(lambda: settings).store()
    for parameters, field, _ in BAD_PARAMETERS:
        if field in ("alwayson_scripts", "widht"):
            continue
        with pytest.raises(InvalidTemplate) as info:
            store.create(template(parameters))
        assert [p.field for p in info.value.problems] == [f"parameters.{field}"]
    assert store.create(template({"widht": 512, "alwayson_scripts": 5})).parameters == {
        "widht": 512,
        "alwayson_scripts": 5,
    }


def store_raw(api, name, parameters):
    """A template as an older version saved it: parameters never checked."""
    api.store.create(template({}, name))
    with sqlite3.connect(api.store.path) as conn:
        conn.execute("UPDATE templates SET parameters = ? WHERE name = ?", (json.dumps(parameters), name))


@pytest.mark.parametrize(
    "parameters", [{"width": "wide"}, {"steps": [20]}, {"seed": "lucky"}, {"steps": 0}, {"alwayson_scripts": 5}]
)
def test_a_template_stored_before_the_checks_gives_422_naming_it_never_500(api, parameters):
    store_raw(api, "old", parameters)
    response = api.client.post(f"{PREFIX}/txt2img", json={"template": "old"})
    item = item_at(response, "template")
    assert "template 'old' stores an invalid parameter" in item["msg"] and next(iter(parameters)) in item["msg"]
    assert api.generator.payloads == []


def test_a_stored_unknown_name_is_still_ignored_at_use(api):
    store_raw(api, "old", {"widht": 64, "steps": 3})
    response = api.client.post(f"{PREFIX}/txt2img", json={"template": "old"})
    assert response.status_code == 200, response.text
    assert api.generator.payloads[-1]["steps"] == 3


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("steps", 0, "at least 1"),
        ("steps", -3, "at least 1"),
        ("width", 0, "at least 64"),
        ("height", 0, "at least 64"),
        ("width", 8, "at least 64"),
        ("n_iter", 0, "at least 1"),
        ("batch_size", 0, "at least 1"),
        ("n_iter", -1, "at least 1"),
    ],
)
def test_txt2img_refuses_zero_and_less(api, field, value, reason):
    response = api.client.post(f"{PREFIX}/txt2img", json={"prompt": "x", field: value})
    assert reason in item_at(response, field)["msg"]
    assert api.generator.payloads == []


@pytest.mark.parametrize("field", ["steps", "width", "n_iter", "batch_size", "cfg_scale"])
def test_txt2img_refuses_null_where_a_value_is_needed(optional_api, field):
    response = optional_api.client.post(f"{PREFIX}/txt2img", json={"prompt": "x", field: None})
    assert "null" in item_at(response, field)["msg"]


@pytest.mark.parametrize(("field", "value"), [("batch_size", 0), ("n_iter", 0), ("count", 0), ("offset", -1)])
def test_render_refuses_zero_and_less(api, field, value):
    response = api.client.post(f"{PREFIX}/render", json={"prompt": "{a|b}", field: value})
    assert item_at(response, field)


def test_stored_parameters_pass_the_same_bounds_as_requests(api):
    """What the template stores is what a request could send: a 64x64, 1-step, 1-image template runs."""
    assert (
        api.client.post(f"{PREFIX}/templates", json=template({"width": 64, "height": 64, "steps": 1})).status_code
        == 201
    )
    response = api.client.post(f"{PREFIX}/txt2img", json={"template": "t", "count": 1})
    assert response.status_code == 200, response.text
    assert {k: api.generator.payloads[-1][k] for k in ("width", "height", "steps")} == {
        "width": 64,
        "height": 64,
        "steps": 1,
    }
