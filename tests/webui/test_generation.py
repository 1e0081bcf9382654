"""Generation through the real WebUI: our /txt2img and the Script through /sdapi/v1/txt2img."""

import json
import threading
import uuid

import pytest

SMALL = {"steps": 2, "width": 64, "height": 64}  # in every request: SD.Next's defaults are 1024x1024, 20 steps
HIRES = {
    "enable_hr": True,
    "hr_scale": 1.5,
    "hr_upscaler": "Latent",
    "hr_second_pass_steps": 1,
    "denoising_strength": 0.5,
    "hr_additional_modules": [],
}


def infotext_prompts(reply):
    info = json.loads(reply.body["info"])
    return [text.split("\n", 1)[0] for text in info["infotexts"]], info


def test_eight_variations_in_one_call_give_eight_images_with_eight_prompts(webui):
    reply = webui.ours(
        "POST",
        "/txt2img",
        {"prompt": "a {red|blue} {cat|dog} {sits|runs}", "mode": "combinatorial", "seed": 1000, **SMALL},
    )
    assert reply.status == 200, reply.body
    prompts, info = infotext_prompts(reply)
    assert len(reply.body["images"]) == 8
    assert len(set(prompts)) == 8 and prompts == reply.body["prompts"]
    assert reply.body["seeds"] == list(range(1000, 1008))
    assert all("Template source: " in text and "Template mode: combinatorial" in text for text in info["infotexts"])


def test_images_are_batched_unless_the_caller_chooses(webui):
    settings = webui.settings() or {}
    if settings.get("prompt_templates_auto_batch_pixels", 8 * 256 * 256) < 4 * 64 * 64:
        pytest.skip("this WebUI's Settings turn the extension's batching (almost) off")
    body = {"prompt": "a {red|blue} {cat|dog}", "mode": "combinatorial", "seed": 7, **SMALL}
    batched, single = webui.ours("POST", "/txt2img", body), webui.ours("POST", "/txt2img", {**body, "batch_size": 1})
    assert batched.status == single.status == 200, (batched.body, single.body)
    assert (batched.body["parameters"]["batch_size"], batched.body["parameters"]["n_iter"]) == (4, 1)
    assert (single.body["parameters"]["batch_size"], single.body["parameters"]["n_iter"]) == (1, 4)
    batched_prompts, batched_info = infotext_prompts(batched)
    single_prompts, single_info = infotext_prompts(single)
    assert batched_prompts == single_prompts == ["a red cat", "a red dog", "a blue cat", "a blue dog"]
    assert (batched_info["batch_size"], single_info["batch_size"]) == (4, 1)  # what the WebUI itself ran


def test_the_script_through_sdapi_alwayson_scripts(webui):
    reply = webui.call(
        "POST",
        "/sdapi/v1/txt2img",
        {
            "prompt": "a {red|blue|green} cat",
            "seed": 42,
            "n_iter": 3,
            **SMALL,
            "alwayson_scripts": {"Prompt Templates": {"args": [{"mode": "combinatorial"}]}},
        },
    )
    assert reply.status == 200, reply.body
    prompts, _ = infotext_prompts(reply)
    assert prompts == ["a red cat", "a blue cat", "a green cat"]


def test_the_script_refuses_a_bad_template_with_a_422_and_no_literal_prompt(webui):
    reply = webui.call(
        "POST",
        "/sdapi/v1/txt2img",
        {
            "prompt": "a __no_such_wildcard__ cat",
            **SMALL,
            "alwayson_scripts": {"prompt templates": {"args": [{}]}},
        },
    )
    assert reply.status == 422, reply.body
    assert "__no_such_wildcard__" in json.dumps(reply.body["detail"])
    assert webui.call("POST", "/sdapi/v1/txt2img", {"prompt": "a cat", **SMALL}).status == 200


def test_pasting_an_infotext_restores_the_library_template_and_its_variables(webui):
    fields = webui.sdapi_request_fields("txt2img")
    if fields is not None and "infotext" not in fields:  # SD.Next: its ReqTxt2Img has none and ignores it
        pytest.skip("this WebUI's /sdapi/v1/txt2img request model has no `infotext` field: it cannot apply one")
    plain = webui.call("POST", "/sdapi/v1/txt2img", {"infotext": "a cat\nSteps: 2, Seed: 5, Size: 64x64", **SMALL})
    if plain.status != 200:  # Forge f2.0.1: "isinstance() argument 2 cannot be a parameterized generic"
        pytest.skip(f"this WebUI's API cannot apply any infotext: {plain.status} {plain.body}")
    if fields is None and json.loads(plain.body["info"])["seed"] != 5:  # no schema to read: what it did instead
        pytest.skip("this WebUI's /sdapi/v1/txt2img ignores `infotext` (an infotext with Seed: 5 gave another seed)")
    name = f"webui-test-{uuid.uuid4().hex[:8]}"
    assert (
        webui.ours(
            "POST",
            "/templates",
            {
                "name": name,
                "prompt": "a ${animal} in a {red|blue} hat",
                "variables": [{"name": "animal"}],
            },
        ).status
        == 201
    )
    try:
        first = webui.ours(
            "POST",
            "/txt2img",
            {"template": name, "variables": {"animal": "fox"}, "mode": "combinatorial", "seed": 5, **SMALL},
        )
        _, info = infotext_prompts(first)
        # the WebUI's API reads an infotext the way its "paste" button does: fields and Script arguments
        again = webui.call("POST", "/sdapi/v1/txt2img", {"infotext": info["infotexts"][1], **SMALL})
        assert again.status == 200, again.body
        prompts, _ = infotext_prompts(again)
        assert prompts == ["a fox in a red hat", "a fox in a blue hat"]
    finally:
        webui.ours("DELETE", f"/templates/{name}")


def test_library_template_with_variables_and_negative(webui):
    name = f"webui-test-{uuid.uuid4().hex[:8]}"
    created = webui.ours(
        "POST",
        "/templates",
        {
            "name": name,
            "prompt": "a ${animal} in a {red|blue} hat",
            "negative_prompt": "blurry",
            "variables": [{"name": "animal", "default": "cat"}],
            "parameters": {"steps": 2},
        },
    )
    assert created.status == 201, created.body
    try:
        reply = webui.ours(
            "POST",
            "/txt2img",
            {"template": name, "variables": {"animal": "dog"}, "count": 2, "width": 64, "height": 64},
        )
        assert reply.status == 200, reply.body
        prompts, info = infotext_prompts(reply)
        assert all(p.startswith("a dog in a ") for p in prompts)
        assert info["all_negative_prompts"] == ["blurry", "blurry"] and info["steps"] == 2
        assert all(f"Prompt template: {name}" in text for text in info["infotexts"])
    finally:
        webui.ours("DELETE", f"/templates/{name}")


def test_seed_article_client_no_content_type(webui):
    """`requests.post(url, data=json.dumps(payload))` sends no Content-Type header at all."""
    payload = {"prompt": "a {red|blue} cat", **SMALL}
    status, body = webui.post_without_content_type("/prompt-templates/v1/txt2img", json.dumps(payload).encode())
    assert status == 200, body
    assert len(json.loads(body)["images"]) == 1


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"prompt": "a {red|blue cat"}, 422),
        ({"prompt": "x", "width": 65}, 422),
        ({"prompt": "x", "steps": 100000}, 422),
        ({"template": "no-such-template"}, 404),
        ({"prompt": "{a|b}", "count": 1000000}, 422),
        ({"prompt": "x", "script_name": "no such script"}, 422),
    ],
)
def test_bad_input_gets_a_4xx_and_the_next_request_works(webui, payload, status):
    if "script_name" in payload:
        own = webui.probe("unknown-script", "POST", "/sdapi/v1/txt2img", {"prompt": "x", **SMALL, **payload})
        if own.status == 200:  # SD.Next: logs "API: script=… available=[…]" and generates without it
            pytest.skip(
                "this WebUI's own /sdapi/v1/txt2img accepts an unknown script_name (and generates): ours "
                "passes the request on as it is"
            )
    reply = webui.ours("POST", "/txt2img", {**SMALL, **payload})
    assert reply.status == status, reply.body
    assert webui.ours("POST", "/txt2img", {"prompt": "a {red|blue} cat", **SMALL}).status == 200


def test_eight_concurrent_clients_get_their_own_prompts(webui):
    results = {}

    def client(i):
        reply = webui.ours("POST", "/txt2img", {"prompt": f"client{i} {{red|blue}} cat", "count": 2, **SMALL})
        results[i] = (
            reply.status,
            reply.body.get("prompts"),
            infotext_prompts(reply)[0] if reply.status == 200 else None,
        )

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(8):
        status, prompts, infotext = results[i]
        assert status == 200
        assert len(prompts) == 2 and all(p.startswith(f"client{i} ") for p in prompts) and infotext == prompts


def test_progress_task_is_reported_and_released(webui):
    task = f"task(webui-test-{uuid.uuid4().hex[:8]})"
    reply = webui.ours("POST", "/txt2img", {"prompt": "{a|b}", "count": 2, "force_task_id": task, **SMALL})
    assert reply.status == 200 and reply.body["task_id"] == task
    progress = webui.call("POST", "/internal/progress", {"id_task": task})
    if progress.status == 404:
        pytest.skip("/internal/progress is not served (--nowebui)")
    fields = webui.sdapi_request_fields("txt2img")
    if fields is not None and "force_task_id" not in fields:  # SD.Next: progress tasks are its page's calls only
        pytest.skip(
            "this WebUI's /sdapi/v1/txt2img takes no force_task_id: its API runs no progress task, so its "
            "/internal/progress knows no task of an API call (SD.Next registers only its page's calls)"
        )
    assert progress.body["completed"] is True and progress.body["queued"] is False
    if fields is not None and "refiner_checkpoint" not in fields:  # SD.Next: it has none, and ignores the field
        pytest.skip(
            "this WebUI's /sdapi/v1/txt2img has no `refiner_checkpoint`: no request here fails inside its "
            "processing after queueing, so the release of a failed task is not checked"
        )
    failed = f"task(webui-test-{uuid.uuid4().hex[:8]})"  # fails inside the WebUI's processing, after queueing
    reply = webui.ours(
        "POST", "/txt2img", {"prompt": "x", "refiner_checkpoint": "no-such-model", "force_task_id": failed, **SMALL}
    )
    assert reply.status >= 400
    after = webui.call("POST", "/internal/progress", {"id_task": failed}).body
    assert after["queued"] is False and after["active"] is False
    assert webui.ours("POST", "/txt2img", {"prompt": "{a|b}", **SMALL}).status == 200


def test_the_script_in_img2img(webui):
    first = webui.call("POST", "/sdapi/v1/txt2img", {"prompt": "a cat", **SMALL})
    reply = webui.call(
        "POST",
        "/sdapi/v1/img2img",
        {
            "init_images": [first.body["images"][0]],
            "prompt": "a {red|blue} cat",
            "denoising_strength": 0.5,
            **SMALL,
            "alwayson_scripts": {"prompt templates": {"args": [{"mode": "combinatorial"}]}},
        },
    )
    assert reply.status == 200, reply.body
    prompts, info = infotext_prompts(reply)
    assert prompts == ["a red cat", "a blue cat"]


def test_hires_fix_follows_each_image_prompt(webui):
    reply = webui.ours(
        "POST",
        "/txt2img",
        {
            "prompt": "a {red|blue} cat",
            "mode": "combinatorial",
            **SMALL,
            **HIRES,
        },
    )
    if reply.status == 500 and "hr_additional_modules" in json.dumps(reply.body):
        pytest.skip("this WebUI's API fails on enable_hr (a known Forge bug)")
    assert reply.status == 200, reply.body
    prompts, info = infotext_prompts(reply)
    assert prompts == ["a red cat", "a blue cat"]
    assert info["width"] == 64 and len(reply.body["images"]) == 2
    if webui_writes_hires_upscale(webui):  # SD.Next writes no "Hires upscale:" key
        assert all("Hires upscale: 1.5" in text for text in info["infotexts"])
    # the WebUI writes "Hires prompt" only where an image's hires prompt differs from its prompt
    assert not any("Hires prompt" in text for text in info["infotexts"])


def webui_writes_hires_upscale(webui):
    """Whether the WebUI's own /sdapi/v1/txt2img writes `Hires upscale:` into a hires fix's infotext (A1111, Forge:
    yes; SD.Next: no). When its own request fails, the key is expected: the check is not dropped on a guess."""
    own = webui.probe("hires", "POST", "/sdapi/v1/txt2img", {"prompt": "a cat", **SMALL, **HIRES})
    return own.status != 200 or "Hires upscale:" in json.loads(own.body["info"])["infotexts"][0]


def test_img2img_over_rest_one_run_one_prompt_per_image(webui):
    """POST /prompt-templates/v1/img2img: everything /sdapi/v1/img2img takes, the seed client's way (no
    Content-Type), one run, one prompt per image, the same answer shape."""
    first = webui.call("POST", "/sdapi/v1/txt2img", {"prompt": "a cat", **SMALL})
    payload = {
        "init_images": [first.body["images"][0]],
        "denoising_strength": 0.5,
        "prompt": "a {red|blue} boat",
        "mode": "combinatorial",
        "seed": 77,
        **SMALL,
    }
    status, raw = webui.post_without_content_type("/prompt-templates/v1/img2img", json.dumps(payload).encode())
    assert status == 200, raw
    body = json.loads(raw)
    info = json.loads(body["info"])
    assert [t.split("\n", 1)[0] for t in info["infotexts"]] == body["prompts"] == ["a red boat", "a blue boat"]
    assert body["seeds"] == [77, 78] and len(body["images"]) == 2
    assert "Denoising strength: 0.5" in info["infotexts"][0]
    assert body["parameters"]["init_images"] is None


def test_render_answers_the_prompts_and_seeds_txt2img_makes(webui):
    body = {"prompt": "a {red|blue|green} {cat|dog}", "seed": 4242, "batch_size": 2, "n_iter": 2, **SMALL}
    rendered = webui.ours("POST", "/render", body)
    assert rendered.status == 200, rendered.body
    made = webui.ours("POST", "/txt2img", body)
    prompts, _ = infotext_prompts(made)
    assert rendered.body["prompts"] == made.body["prompts"] == prompts
    assert rendered.body["seeds"] == made.body["seeds"] == [4242, 4243, 4244, 4245]
