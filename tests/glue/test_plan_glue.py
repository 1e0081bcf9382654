"""A request is planned once; the Script applies a handed-in plan and binds nothing; our prompts win over a script
that rewrites all_prompts after ours (sd-dynamic-prompts, when its folder sorts after ours), in either order."""

from __future__ import annotations

import json
import runpy
import sys

import pytest

from tests.glue.conftest import ENTRY

SMALL = {"steps": 2, "width": 64, "height": 64}
PREFIX = "/prompt-templates/v1"


class RewritesPrompts:
    """Stands in for sd-dynamic-prompts v2.17.0's process(): it takes the first prompt as its template, makes as
    many prompts as images from it, and renumbers n_iter and the seeds."""

    def __init__(self):
        from modules import scripts

        self.base = scripts.Script

    def make(self):
        from modules import scripts

        class DynamicPrompts(scripts.Script):
            def title(self):
                return "Dynamic Prompts v2.17.0"

            def show(self, is_img2img):
                return scripts.AlwaysVisible

            def ui(self, is_img2img):
                return []

            def process(self, p, *args):
                n = len(p.all_prompts)
                p.all_prompts = [p.all_prompts[0]] * n
                p.all_negative_prompts = [p.all_negative_prompts[0]] * n
                p.all_seeds = [p.all_seeds[0]] * n
                p.n_iter = max(1, n // p.batch_size)

        return DynamicPrompts()


def start(webui, tmp_path, order):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    namespace = runpy.run_path(str(ENTRY))
    from modules import scripts
    from modules.api.api import Api

    webui.ui_settings_callback()
    ours, theirs = namespace["PromptTemplatesScript"](), RewritesPrompts().make()
    runner = scripts.ScriptRunner([ours, theirs] if order == "ours first" else [theirs, ours])
    app = FastAPI()
    Api(app, runner)
    webui.app_started_callback(None, app)
    return TestClient(app), runner


def infotext_prompts(body):
    return [text.split("\n", 1)[0] for text in json.loads(body["info"])["infotexts"]]


@pytest.mark.parametrize("order", ["ours first", "theirs first"])
def test_our_prompts_win_whatever_the_order_of_the_scripts(webui, tmp_path, order):
    client, runner = start(webui, tmp_path, order)
    body = {"prompt": "a {red|green|blue} cat", "mode": "combinatorial", "seed": 7, **SMALL}
    response = client.post(f"{PREFIX}/txt2img", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert infotext_prompts(answer) == ["a red cat", "a green cat", "a blue cat"]
    assert json.loads(answer["info"])["all_seeds"] == [7, 8, 9]
    sdapi = client.post(
        "/sdapi/v1/txt2img",
        json={
            "prompt": "a {red|blue} cat",
            "seed": 1,
            **SMALL,
            "alwayson_scripts": {"prompt templates": {"args": [{"mode": "combinatorial"}]}},
        },
    )
    assert infotext_prompts(sdapi.json()) == ["a red cat", "a blue cat"]
    assert runner.errors == []


def test_without_our_script_the_other_script_works_as_before(webui, tmp_path):
    client, runner = start(webui, tmp_path, "ours first")
    response = client.post("/sdapi/v1/txt2img", json={"prompt": "a {red|blue} cat", "batch_size": 2, **SMALL})
    assert infotext_prompts(response.json()) == ["a {red|blue} cat"] * 2  # ours off: its prompts are left alone
    assert runner.errors == []


def test_a_request_reads_the_library_once_and_compiles_once(webui, tmp_path, monkeypatch):
    client, _ = start(webui, tmp_path, "ours first")
    from sd_prompt_templates.engine import compiler
    from sd_prompt_templates.library.store import TemplateStore

    created = client.post(
        f"{PREFIX}/templates", json={"name": "once", "prompt": "a {red|blue} ${animal:cat}", "negative_prompt": "ugly"}
    )
    assert created.status_code == 201, created.text
    reads, compiles = [], []
    real_get, real_compile = TemplateStore.get, compiler.compile_template
    monkeypatch.setattr(TemplateStore, "get", lambda self, name: reads.append(name) or real_get(self, name))
    monkeypatch.setattr(compiler, "compile_template", lambda *a, **k: compiles.append(a[0]) or real_compile(*a, **k))
    monkeypatch.setattr(sys.modules["sd_prompt_templates.engine.render"], "compile_template", compiler.compile_template)
    response = client.post(f"{PREFIX}/txt2img", json={"template": "once", "mode": "combinatorial", "seed": 3, **SMALL})
    assert response.status_code == 200, response.text
    assert infotext_prompts(response.json()) == ["a red cat", "a blue cat"]
    assert reads == ["once"]  # one library read for the whole request, none in the Script
    assert compiles == ["a {red|blue} ${animal:cat}", "ugly"]  # the prompt and the negative prompt, once each


def test_the_script_handed_a_plan_binds_nothing(webui, tmp_path, monkeypatch):
    client, _ = start(webui, tmp_path, "ours first")
    from sd_prompt_templates.service import PromptService

    def refuse(*args, **kwargs):
        raise AssertionError("the Script bound a template although it was handed a plan")

    plan = client.post(f"{PREFIX}/render", json={"prompt": "{x|y|z}", "mode": "combinatorial", "seed": 5, **SMALL})
    assert plan.status_code == 200, plan.text
    monkeypatch.setattr(PromptService, "bind", refuse)
    response = client.post(f"{PREFIX}/txt2img", json={"prompt": "{x|y|z}", "mode": "combinatorial", "seed": 5, **SMALL})
    assert response.status_code == 200, response.text
    assert infotext_prompts(response.json()) == plan.json()["prompts"] == ["x", "y", "z"]
    assert response.json()["seeds"] == plan.json()["seeds"] == [5, 6, 7]


def test_render_takes_the_txt2img_body_and_gives_what_txt2img_makes(webui, tmp_path):
    client, _ = start(webui, tmp_path, "ours first")
    body = {"prompt": "a {red|blue|green} {cat|dog}", "seed": 42, "batch_size": 2, "n_iter": 2, "cfg_scale": 5, **SMALL}
    rendered = client.post(f"{PREFIX}/render", json=body)
    assert rendered.status_code == 200, rendered.text
    made = client.post(f"{PREFIX}/txt2img", json=body).json()
    assert rendered.json()["prompts"] == made["prompts"] == infotext_prompts(made)
    assert rendered.json()["seeds"] == made["seeds"] == [42, 43, 44, 45]
