"""The Script inside the WebUI's processing order (stub mirroring v1.10.1), and our /txt2img through it."""

import json

import pytest

SMALL = {"steps": 2, "width": 64, "height": 64}


def sdapi(started, payload):
    return started.client.post("/sdapi/v1/txt2img", json=payload)


def prompts_of(response):
    info = json.loads(response.json()["info"])
    return [text.split("\n", 1)[0] for text in info["infotexts"]], info


def test_alwayson_dict_args_give_each_image_its_prompt(started):
    response = sdapi(
        started,
        {
            "prompt": "a {red|blue} cat",
            "seed": 10,
            "n_iter": 1,
            **SMALL,
            "alwayson_scripts": {"Prompt Templates": {"args": [{"mode": "combinatorial"}]}},
        },
    )
    assert response.status_code == 200, response.text
    prompts, info = prompts_of(response)
    assert prompts == ["a red cat", "a blue cat"]  # n_iter set from the count
    assert info["all_seeds"] == [10, 11]
    assert "Template source: a {red|blue} cat" in info["infotexts"][0]


def test_random_prompts_follow_the_image_seeds(started):
    from sd_prompt_templates.engine import Expansion

    response = sdapi(
        started,
        {
            "prompt": "{a|b|c|d|e|f}",
            "seed": 50,
            "batch_size": 2,
            "n_iter": 3,
            **SMALL,
            "alwayson_scripts": {"prompt templates": {"args": [{}]}},
        },
    )
    prompts, info = prompts_of(response)
    assert prompts == [Expansion("{a|b|c|d|e|f}").random(s) for s in range(50, 56)]


def test_ui_positional_args_and_disabled(started):
    from modules import processing

    script = started.runner.alwayson_scripts[0]
    p = processing.StableDiffusionProcessingTxt2Img(prompt="{x|y}", seed=1)
    p.scripts, p.script_args = started.runner, (None, True, "(the prompt box)", "", "combinatorial", 0, 0)
    assert [text.split("\n")[0] for text in processing.process_images(p).infotexts] == ["x", "y"]
    p = processing.StableDiffusionProcessingTxt2Img(prompt="{x|y}", seed=1)
    p.scripts, p.script_args = started.runner, (None, False, "(the prompt box)", "", "combinatorial", 0, 0)
    assert processing.process_images(p).all_prompts == ["{x|y}"]
    assert script.title() == "Prompt Templates"


def test_library_template_variables_styles_and_hires_prompts(started):
    from modules import processing

    started.client.post(
        "/prompt-templates/v1/templates",
        json={
            "name": "hat",
            "prompt": "a ${animal} in a {red|blue} hat",
            "negative_prompt": "blurry",
            "variables": [{"name": "animal", "default": "cat"}],
        },
    )
    p = processing.StableDiffusionProcessingTxt2Img(
        prompt="ignored", negative_prompt="lowres", seed=3, n_iter=1, styles=["film"], enable_hr=True
    )
    p.scripts = started.runner
    p.script_args = (None, {"template": "hat", "variables": {"animal": "fox"}, "mode": "combinatorial"})
    processed = processing.process_images(p)
    assert processed.all_prompts == ["a fox in a red hat, film", "a fox in a blue hat, film"]
    assert processed.all_negative_prompts == ["blurry, lowres"] * 2
    assert p.all_hr_prompts == processed.all_prompts
    assert p.extra_generation_params["Prompt template"] == "hat"
    assert json.loads(p.extra_generation_params["Template variables"]) == {"animal": "fox"}


@pytest.mark.parametrize(
    ("args", "status", "fragment"),
    [
        ({"template": "no-such"}, 404, "no template named 'no-such'"),
        ({"mode": "sideways"}, 422, "mode"),
        ({"colour": "red"}, 422, "colour"),
        ({"count": 100000}, 422, "limit"),
        ({"variables": {"x": "1"}, "template": "portrait"}, 422, "not a variable of this template"),
    ],
)
def test_a_bad_template_stops_the_generation_never_a_literal_prompt(started, args, status, fragment):
    response = sdapi(
        started, {"prompt": "a {cat|dog}", **SMALL, "alwayson_scripts": {"prompt templates": {"args": [args]}}}
    )
    assert response.status_code == status, response.text
    assert fragment in json.dumps(response.json())
    assert started.runner.errors == []  # refused cleanly, not swallowed as a script error


def test_a_syntax_error_names_line_and_column(started):
    response = sdapi(
        started, {"prompt": "ok\n a {cat|", **SMALL, "alwayson_scripts": {"prompt templates": {"args": [{}]}}}
    )
    assert response.status_code == 422
    (item,) = response.json()["detail"]
    assert (item["line"], item["column"]) == (2, 4) and item["loc"] == ["body", "prompt"]
    assert started.runner.errors == []  # refused cleanly, not swallowed as a script error


def test_our_txt2img_runs_once_through_the_webui_route(started):
    response = started.client.post(
        "/prompt-templates/v1/txt2img",
        json={"prompt": "a __colors__ {cat|dog}", "mode": "combinatorial", "seed": 7, **SMALL},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["prompts"] == ["a red cat", "a red dog", "a blue cat", "a blue dog"]
    assert len(body["images"]) == 4 and body["seeds"] == [7, 8, 9, 10]
    assert prompts_of(response)[0] == body["prompts"]
    assert started.shared.state.begun == started.shared.state.ended == 1


def test_progress_task_is_released_on_failure(started):
    from modules import progress

    task = "task(failing)"
    response = started.client.post(
        "/prompt-templates/v1/txt2img",
        json={"prompt": "x", "refiner_checkpoint": "nope", "force_task_id": task, **SMALL},
    )
    assert response.status_code == 500
    assert progress.current_task is None and task not in progress.pending_tasks
    ok = started.client.post(
        "/prompt-templates/v1/txt2img", json={"prompt": "{a|b}", "force_task_id": "task(ok)", **SMALL}
    )
    assert ok.status_code == 200 and "task(ok)" in progress.finished_tasks


def test_api_auth_from_cmd_opts_at_request_time(started):
    started.shared.cmd_opts.api_auth = "alice:secret"
    try:
        assert started.client.get("/prompt-templates/v1/version").status_code == 401
        assert started.client.get("/prompt-templates/v1/version", auth=("alice", "secret")).status_code == 200
    finally:
        started.shared.cmd_opts.api_auth = None


def test_pasting_restores_the_template_source(webui):
    from sd_prompt_templates.webui.script import restore_template_source

    params = {"Prompt": "a red cat", "Negative prompt": "x", "Template source": "a {red|blue} cat"}
    restore_template_source("", params)
    assert params["Prompt"] == "a {red|blue} cat" and params["Negative prompt"] == "x"


def test_variables_box_parsing():
    from sd_prompt_templates.problems import PlanError
    from sd_prompt_templates.variables_format import parse_variables, variables_text

    assert parse_variables("a = 1\n# note\n b=two words ") == {"a": "1", "b": "two words"}
    assert parse_variables('{"a": 1}') == {"a": 1}
    assert variables_text('{"a": "x"}') == "a = x"
    with pytest.raises(PlanError) as info:
        parse_variables("a = 1\nnonsense")
    assert info.value.problems[0].line == 2


def test_prompt_limit_with_a_padded_last_batch_still_expands(started):
    started.shared.opts.prompt_templates_max_prompts = 3
    response = sdapi(
        started,
        {
            "prompt": "{a|b|c|d|e}",
            "batch_size": 2,
            "seed": 1,
            **SMALL,
            "alwayson_scripts": {"prompt templates": {"args": [{"mode": "combinatorial", "count": 3}]}},
        },
    )
    assert response.status_code == 200, response.text
    assert prompts_of(response)[0] == ["a", "b", "c", "a"]  # 2 batches of 2; the 4th image wraps around


def pasted_inputs(started, params):
    """What a paste (A1111's or SD.Next's paste_func) puts into each of the Script's inputs: the on_infotext_pasted
    callbacks run on the parsed infotext, then each input reads its key. SD.Next calls should_skip(key), which
    takes text only: a function as key would end the whole paste."""
    import gradio as gr

    script = started.runner.alwayson_scripts[0]
    with gr.Blocks():
        inputs = script.ui(False)
    assert all(isinstance(key, str) for _, key in script.infotext_fields)
    # A1111's API (apply_infotext): no on_infotext_pasted; a callable key is called, a text key read
    api_params = dict(params)
    by_api = {id(c): key(api_params) if callable(key) else api_params.get(key) for c, key in script.infotext_fields}
    started.webui_callbacks.infotext_pasted_callback("", params)
    # the pages' paste (A1111's and SD.Next's paste_func): the callbacks, then each key called or read as text
    by_page = {id(c): key(params) if callable(key) else params.get(key) for c, key in script.infotext_fields}
    by_text = {id(c): params.get(key) for c, key in script.infotext_fields}
    assert by_api == by_page == by_text
    names = ["enabled", "template", "variables", "mode", "count", "offset"]
    return {name: by_page[id(component)] for name, component in zip(names, inputs, strict=True)}


def test_pasting_an_infotext_of_ours_restores_every_input_of_the_script(started):
    params = {
        "Prompt": "portrait of an old fisherman",
        "Template mode": "combinatorial",
        "Prompt template": "portrait",
        "Template variables": json.dumps({"subject": "an old fisherman", "mood": "calm"}),
        "Template count": "4",
        "Template offset": "2",
    }
    assert pasted_inputs(started, params) == {
        "enabled": True,
        "template": "portrait",
        "variables": "subject = an old fisherman\nmood = calm",
        "mode": "combinatorial",
        "count": 4,
        "offset": 2,
    }


def test_pasting_another_infotext_turns_the_script_off_and_resets_it(started):
    params = {"Prompt": "a cat", "Steps": "20"}
    assert pasted_inputs(started, params) == {
        "enabled": False,
        "template": "(the prompt box)",
        "variables": "",
        "mode": None,  # not in the infotext: the paste leaves the radio as it is
        "count": 0,
        "offset": 0,
    }
    edited = {"Template mode": "random", "Template count": "many"}  # edited by hand: defaults, not a failed paste
    assert pasted_inputs(started, edited)["count"] == 0
