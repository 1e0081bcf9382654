import base64
import json
import threading

import pytest

from tests.api.conftest import png

PREFIX = "/prompt-templates/v1"


def test_version(api):
    body = api.client.get(f"{PREFIX}/version").json()
    assert body["name"] == "sd-prompt-templates" and body["api"] == "1"


def test_plain_sdapi_payload_works_as_is_and_returns_the_same_shape(api):
    response = api.client.post(f"{PREFIX}/txt2img", json={"prompt": "a {red|blue} cat", "steps": 20, "seed": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= {"images", "parameters", "info", "prompts", "negative_prompts", "seeds"}
    assert len(body["images"]) == 1 and base64.b64decode(body["images"][0]).startswith(b"\x89PNG")
    assert body["prompts"][0] in ("a red cat", "a blue cat") and body["seeds"] == [5]
    assert json.loads(body["info"])["all_prompts"] == body["prompts"]
    assert body["parameters"]["prompt"] == "a {red|blue} cat"


def test_seed_article_client_without_content_type(api):
    payload = {"prompt": "a {red|blue} cat", "steps": 20}
    response = api.client.post(f"{PREFIX}/txt2img", content=json.dumps(payload))  # no Content-Type header
    assert response.status_code == 200, response.text
    assert len(response.json()["images"]) == 1


def test_one_call_eight_variations_in_one_run(api):
    response = api.client.post(
        f"{PREFIX}/txt2img",
        json={"prompt": "a {red|blue} {cat|dog} {sits|runs}", "mode": "combinatorial", "steps": 2, "seed": 100},
    )
    body = response.json()
    assert len(body["images"]) == 8 and len(set(body["prompts"])) == 8
    assert body["seeds"] == list(range(100, 108))
    assert len(api.generator.payloads) == 1  # one WebUI run, not eight
    payload = api.generator.payloads[0]
    plan = payload["alwayson_scripts"]["prompt templates"]["args"][0]["plan"]
    assert plan["prompts"] == body["prompts"] and plan["seeds"] == body["seeds"]  # planned once, applied as is
    # 8 images of 512x512 are 2 Mpx: batches of 2 by default (the budget is 8 x 256 x 256 pixels)
    assert (payload["batch_size"], payload["n_iter"]) == (2, 4)
    assert (body["parameters"]["batch_size"], body["parameters"]["n_iter"]) == (2, 4)


@pytest.mark.parametrize(
    ("extra", "batching"),
    [
        ({"width": 64, "height": 64}, (8, 1)),
        ({"width": 256, "height": 256}, (8, 1)),
        ({"width": 1024, "height": 1024}, (1, 8)),
        ({"width": 256, "height": 256, "enable_hr": True}, (2, 4)),  # sized by the 512x512 hires pass
        ({"batch_size": 2}, (2, 4)),  # the caller's choice
        ({"width": 64, "height": 64, "batch_size": 1}, (1, 8)),
        ({"width": 64, "height": 64, "n_iter": 8}, (1, 8)),  # n_iter alone says "one at a time" too
    ],
)
def test_batching_is_the_callers_choice_else_within_the_pixel_budget(api, extra, batching):
    body = {"prompt": "{a|b|c|d|e|f|g|h}", "mode": "combinatorial", "steps": 2, **extra}
    response = api.client.post(f"{PREFIX}/txt2img", json=body)
    assert response.status_code == 200, response.text
    payload = api.generator.payloads[-1]
    assert (payload["batch_size"], payload["n_iter"]) == batching
    assert len(response.json()["images"]) == 8


def test_template_parameters_can_choose_the_batch_size(api):
    template = {"name": "one-by-one", "prompt": "{a|b|c|d}", "parameters": {"batch_size": 1, "width": 64}}
    assert api.client.post(f"{PREFIX}/templates", json=template).status_code == 201
    api.client.post(f"{PREFIX}/txt2img", json={"template": "one-by-one", "mode": "combinatorial", "height": 64})
    payload = api.generator.payloads[-1]
    assert (payload["batch_size"], payload["n_iter"]) == (1, 4)


def test_random_count_default_is_batch_size_times_n_iter(api):
    body = api.client.post(f"{PREFIX}/txt2img", json={"prompt": "{a|b}", "batch_size": 2, "n_iter": 3}).json()
    assert len(body["images"]) == 6


def test_combinatorial_offset_and_count_resume(api):
    first = api.client.post(f"{PREFIX}/render", json={"prompt": "{a|b|c|d|e}", "mode": "combinatorial"}).json()
    page = api.client.post(
        f"{PREFIX}/txt2img", json={"prompt": "{a|b|c|d|e}", "mode": "combinatorial", "offset": 2, "count": 2}
    ).json()
    assert page["prompts"] == first["prompts"][2:4]


def test_named_template_variables_and_default_parameters(api, portrait):
    body = api.client.post(
        f"{PREFIX}/txt2img", json={"template": portrait, "variables": {"subject": "a cat"}, "steps": 3, "count": 2}
    ).json()
    assert all(p.startswith("portrait of a cat, ") and p.endswith("calm mood") for p in body["prompts"])
    assert body["template"] == "portrait" and body["negative_prompts"] == ["blurry", "blurry"]
    payload = api.generator.payloads[-1]
    assert payload["steps"] == 3  # the caller's value wins
    assert payload["width"] == 256  # the template's default fills what the caller left out


def test_render_previews_without_generating(api, portrait):
    body = api.client.post(f"{PREFIX}/render", json={"template": portrait, "mode": "combinatorial"}).json()
    assert body["count"] == body["total"] == 2 and body["count_text"] == "2" and len(body["prompts"]) == 2
    assert api.generator.payloads == []


@pytest.mark.parametrize(
    ("payload", "status", "loc", "position"),
    [
        ({"prompt": "a {red|blue cat"}, 422, ["body", "prompt"], (1, 3)),
        ({"prompt": "x", "negative_prompt": "__nope__"}, 422, ["body", "negative_prompt"], (1, 1)),
        ({"prompt": "a ${who}"}, 422, ["body", "prompt"], (1, 3)),
        ({"template": "ghost"}, 404, ["body", "template"], None),
        ({"prompt": "x", "width": 500}, 422, ["body", "width"], None),
        ({"prompt": "x", "height": 99999}, 422, ["body", "height"], None),
        ({"prompt": "x", "steps": 5000}, 422, ["body", "steps"], None),
        ({"prompt": "{a|b}", "count": 5000}, 422, ["body", "count"], None),
        ({"prompt": "{a|b|c|d|e|f|g|h|i|j}" * 4, "mode": "combinatorial"}, 422, ["body", "count"], None),
        ({"prompt": "x", "width": 2048, "height": 2048, "steps": 150, "count": 20}, 422, ["body", "steps"], None),
        ({"prompt": "{a|b}", "mode": "combinatorial", "offset": 2}, 422, ["body", "offset"], None),
        ({"prompt": "x", "mode": "sideways"}, 422, ["body", "mode"], None),
        ({"prompt": "x", "variables": {"a": [1]}}, 422, ["body", "variables", "a"], None),
    ],
)
def test_bad_input_gets_a_4xx_with_the_field_and_nothing_runs(api, portrait, payload, status, loc, position):
    response = api.client.post(f"{PREFIX}/txt2img", json=payload)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    if status == 404:
        assert "ghost" in str(detail)
    else:
        item = next(d for d in detail if d["loc"][: len(loc)] == loc)
        if position:
            assert (item["line"], item["column"]) == position
    assert api.generator.payloads == []
    assert api.client.post(f"{PREFIX}/txt2img", json={"prompt": "ok"}).status_code == 200  # and the next one works


def test_named_template_variable_errors(api, portrait):
    response = api.client.post(f"{PREFIX}/txt2img", json={"template": portrait, "variables": {"mood": "sad", "x": 1}})
    assert response.status_code == 422
    assert {tuple(d["loc"]) for d in response.json()["detail"]} == {
        ("body", "variables", "mood"),
        ("body", "variables", "x"),
    }


def test_templates_crud_with_optimistic_concurrency(api):
    created = api.client.post(f"{PREFIX}/templates", json={"name": "cat", "prompt": "a {red|blue} cat"})
    assert created.status_code == 201 and created.headers["etag"] == '"1"'
    assert api.client.post(f"{PREFIX}/templates", json={"name": "cat", "prompt": "x"}).status_code == 409
    got = api.client.get(f"{PREFIX}/templates/cat")
    assert got.json()["version"] == 1
    update = {"name": "cat", "prompt": "a {green|blue} cat"}
    assert api.client.put(f"{PREFIX}/templates/cat", json=update).status_code == 428
    ok = api.client.put(f"{PREFIX}/templates/cat", json={**update, "version": 1})
    assert ok.status_code == 200 and ok.json()["version"] == 2
    stale = api.client.put(f"{PREFIX}/templates/cat", json=update, headers={"If-Match": '"1"'})
    assert stale.status_code == 409 and "version 2" in stale.json()["detail"]
    assert api.client.get(f"{PREFIX}/templates", params={"q": "green"}).json()["templates"] == []
    assert [t["name"] for t in api.client.get(f"{PREFIX}/templates").json()["templates"]] == ["cat"]
    assert api.client.delete(f"{PREFIX}/templates/cat", params={"version": 1}).status_code == 409
    assert api.client.delete(f"{PREFIX}/templates/cat", headers={"If-Match": '"2"'}).status_code == 204
    assert api.client.get(f"{PREFIX}/templates/cat").status_code == 404


def test_invalid_template_points_at_the_field_and_position(api):
    response = api.client.post(f"{PREFIX}/templates", json={"name": "bad", "prompt": "ok\n {x"})
    assert response.status_code == 422
    (item,) = response.json()["detail"]
    assert item["loc"] == ["body", "prompt"] and (item["line"], item["column"]) == (2, 2)


def test_export_import_round_trip(api, portrait):
    document = api.client.get(f"{PREFIX}/export").json()
    assert [t["name"] for t in document["templates"]] == ["portrait"]
    again = api.client.post(f"{PREFIX}/import", json={"document": document})
    assert again.status_code == 409
    assert api.client.post(f"{PREFIX}/import", json={"document": document, "on_conflict": "skip"}).json() == {
        "created": [],
        "replaced": [],
        "skipped": ["portrait"],
    }
    bad = {**document, "templates": [{"name": "x", "prompt": "{"}]}
    assert api.client.post(f"{PREFIX}/import", json={"document": bad}).status_code == 422


def test_wildcards_listing_and_entries(api):
    names = [w["name"] for w in api.client.get(f"{PREFIX}/wildcards").json()["wildcards"]]
    assert "colors" in names and "animals/pets" in names
    assert api.client.get(f"{PREFIX}/wildcards/animals/pets").json()["entries"] == ["cat", "dog"]
    assert api.client.get(f"{PREFIX}/wildcards/nope").status_code == 404
    assert api.client.get(f"{PREFIX}/wildcards/%2e%2e/x").status_code == 404


ROUTES = [
    ("get", "/version"),
    ("get", "/templates"),
    ("post", "/templates"),
    ("get", "/templates/x"),
    ("put", "/templates/x"),
    ("delete", "/templates/x"),
    ("get", "/export"),
    ("post", "/import"),
    ("get", "/wildcards"),
    ("get", "/wildcards/colors"),
    ("post", "/render"),
    ("post", "/txt2img"),
    ("post", "/img2img"),
    ("post", "/jobs"),
    ("get", "/jobs"),
    ("get", "/jobs/j0"),
    ("delete", "/jobs/j0"),
    ("post", "/jobs/j0/rerun"),
    ("get", "/jobs/j0/images/0"),
    ("get", "/jobs/j0/images"),
    ("get", "/jobs/j0/events"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_enforces_api_auth(api, method, path):
    api.auth["value"] = "alice:secret,bob:hunter2"
    assert getattr(api.client, method)(PREFIX + path).status_code == 401
    wrong = getattr(api.client, method)(PREFIX + path, auth=("alice", "wrong"))
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Basic"
    right = getattr(api.client, method)(PREFIX + path, auth=("bob", "hunter2"))
    assert right.status_code != 401


def test_every_route_is_covered_by_the_auth_test(api):
    paths = {
        (m.lower(), r.path.removeprefix(PREFIX)) for r in api.app.routes if r.path.startswith(PREFIX) for m in r.methods
    }
    covered = {
        (
            m,
            p.replace("/x", "/{name}")
            .replace("/colors", "/{name:path}")
            .replace("/j0", "/{job_id}")
            .replace("/0", "/{index}"),
        )
        for m, p in ROUTES
    }
    assert paths == covered


def test_openapi_documents_every_route_with_schemas_and_an_example(api):
    schema = api.client.get("/openapi.json").json()
    ours = {p for p in schema["paths"] if p.startswith(PREFIX)}
    assert len(ours) == 16
    assert {"init_images", "denoising_strength", "template"} <= set(
        schema["components"]["schemas"]["PromptTemplatesImg2ImgRequest"]["properties"]
    )
    body = schema["components"]["schemas"]["PromptTemplatesTxt2ImgRequest"]
    assert {"template", "variables", "mode", "count", "offset", "prompt", "steps"} <= set(body["properties"])
    assert body["example"]["mode"] == "combinatorial"


def test_concurrent_clients_get_their_own_prompts(api):
    results: dict[int, list[str]] = {}

    def client(i: int) -> None:
        body = api.client.post(f"{PREFIX}/txt2img", json={"prompt": f"client{i} {{a|b}}", "count": 2}).json()
        results[i] = body["prompts"]

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(all(p.startswith(f"client{i} ") for p in results[i]) for i in range(8))


def test_img2img_makes_one_image_per_prompt_from_the_init_image_in_one_run(api):
    init = png("init")
    body = {"init_images": [init], "denoising_strength": 0.5, "prompt": "a {red|blue} boat", "mode": "combinatorial"}
    response = api.client.post(f"{PREFIX}/img2img", data=json.dumps(body))  # the seed client: no content type
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["prompts"] == ["a red boat", "a blue boat"] and len(answer["images"]) == 2
    payload = api.generator.payloads[-1]
    assert payload["init_images"] == [init] and payload["denoising_strength"] == 0.5  # to the WebUI's img2img
    assert len(api.generator.payloads) == 1
    assert answer["parameters"]["init_images"] is None  # as /sdapi/v1/img2img answers: no images echoed back


def test_render_takes_the_txt2img_body_and_answers_what_txt2img_makes(api):
    body = {
        "prompt": "a {red|blue|green} {cat|dog}",
        "seed": 42,
        "batch_size": 2,
        "n_iter": 2,
        "width": 64,
        "height": 64,
    }
    rendered = api.client.post(f"{PREFIX}/render", json=body)
    assert rendered.status_code == 200, rendered.text
    made = api.client.post(f"{PREFIX}/txt2img", json=body).json()
    assert rendered.json()["prompts"] == made["prompts"] and rendered.json()["seeds"] == made["seeds"] == [
        42,
        43,
        44,
        45,
    ]
