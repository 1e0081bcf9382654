"""The tab's handlers, without gradio: what a user sees for each action."""

import html
import json
from dataclasses import replace

import pytest

from sd_prompt_templates.service import PromptService
from sd_prompt_templates.settings import Settings
from sd_prompt_templates.ui.handlers import generation as g
from sd_prompt_templates.ui.handlers import library as h
from sd_prompt_templates.ui.handlers import wildcards as w


@pytest.fixture
def service(tmp_path, wildcard_dir):
    settings = Settings(library_path=tmp_path / "t.sqlite3", wildcard_dirs=(wildcard_dir,))
    return PromptService(lambda: settings)


def editor(**fields):
    base = {"name": "cat", "prompt": "a {red|blue} ${animal}", "variables": [["animal", "text", "cat", "", "who"]]}
    return h.EditorInputs(**{**base, **fields})


def test_save_new_then_update_then_stale(service):
    name, version, text = h.save(service, h.SaveInputs(editor=editor()))
    assert (name, version) == ("cat", 1) and "Saved 'cat'" in html.unescape(text)
    name, version, text = h.save(service, h.SaveInputs("cat", 1, editor=editor(title="v2")))
    assert version == 2 and service.store().get("cat").title == "v2"
    _, version, text = h.save(service, h.SaveInputs("cat", 1, editor=editor(title="lost")))
    assert version == 1 and "changed since you read it" in text and "prompt-templates-error" in text


def test_save_shows_field_errors_with_position(service):
    _, _, text = h.save(service, h.SaveInputs(editor=editor(prompt="ok\n {x")))
    assert "data-field='prompt' data-line='2' data-column='2'" in text
    _, _, text = h.save(service, h.SaveInputs(editor=editor(parameters="{not json")))
    assert "parameters" in text and "not valid JSON" in text
    assert service.store().list() == []


def test_editor_round_trip_through_a_record(service):
    h.save(service, h.SaveInputs(editor=editor(parameters='{"steps": 12}', tags="pets, Cute")))
    again = h.editor_from_record(service.store().get("cat"))
    assert again.variables == [["animal", "text", "cat", "", "who"]]
    assert json.loads(again.parameters) == {"steps": 12} and again.tags == "pets, cute"
    assert h.variables_from_rows([["mood", "choice", "calm", "calm|wild", ""], ["", "", "", "", ""]]) == [
        {"name": "mood", "type": "choice", "description": "", "choices": ["calm", "wild"], "default": "calm"}
    ]


def test_delete_needs_confirmation_and_the_current_version(service):
    h.save(service, h.SaveInputs(editor=editor()))
    assert "Pick a template first" in html.unescape(h.delete(service, h.DeleteInputs(confirmed=True)))
    assert "Tick 'Yes, delete'" in html.unescape(h.delete(service, h.DeleteInputs("cat", 1, confirmed=False)))
    assert "is at version 1, not 7" in html.unescape(h.delete(service, h.DeleteInputs("cat", 7, confirmed=True)))
    assert "Deleted 'cat'" in html.unescape(h.delete(service, h.DeleteInputs("cat", 1, confirmed=True)))
    assert service.store().list() == []


def test_duplicate_name_is_free(service):
    h.save(service, h.SaveInputs(editor=editor()))
    h.save(service, h.SaveInputs(editor=editor(name="cat-2")))
    assert h.duplicate_name(service, "cat") == "cat-3"


def test_export_then_import(service, tmp_path):
    h.save(service, h.SaveInputs(editor=editor()))
    path = h.export_file(service)
    with open(path, "rb") as f:
        data = f.read()
    assert "0 new, 0 replaced, 1 skipped" in h.import_file(service, h.ImportInputs(data, replace=False))
    assert "1 replaced" in h.import_file(service, h.ImportInputs(data, replace=True))
    assert "Not a JSON export" in h.import_file(service, h.ImportInputs(b"\xff\xfe", replace=False))
    assert "Choose an export file" in h.import_file(service, h.ImportInputs(None, replace=False))


def preview_of(prompt, values="", mode="random", count=1, seed=1, **more):
    return g.PreviewInputs(prompt=prompt, negative="", values=values, mode=mode, count=count, seed=seed, **more)


def test_preview_counts_and_points_at_errors(service):
    text, rows, _ = g.preview(service, preview_of("a {red|blue} __colors__", mode="combinatorial", count=0))
    assert "4 combinations (all shown)" in text and [r[1] for r in rows][:2] == ["a red red", "a red blue"]
    text, rows, _ = g.preview(service, preview_of("first\na {red|blue", count=3))
    assert rows == [] and "line 2, column 3" in text and "a {red|blue\n  ^" in text
    text, *_ = g.preview(service, preview_of("a ${who}", values="who = Ann\nbroken"))
    assert "data-field='variables' data-line='2'" in text


def test_preview_fills_values_not_given_from_the_declared_defaults(service):
    variables = [["who", "text", "Bo", "", ""], ["", "", "", "", ""]]
    _, rows, _ = g.preview(service, preview_of("a ${who}", variables=variables))
    assert [r[1] for r in rows] == ["a Bo"]
    _, rows, _ = g.preview(service, preview_of("a ${who}", values="who = Ann", variables=variables))
    assert [r[1] for r in rows] == ["a Ann"]


def test_preview_shows_counts_of_any_size(service):
    template = "{1-2000$$" + "|".join(f"o{i}" for i in range(2000)) + "}"
    text, rows, _ = g.preview(service, preview_of(template, count=2))
    assert "≈9.01e5735 combinations (showing 2)" in text and len(rows) == 2


def generate_of(task_id, preview, width=512, height=512, memo=None, sampler="Euler a"):
    run = g.RunInputs(preview, sampler=sampler, steps=20, cfg=7, width=width, height=height, template="", memo=memo)
    return g.GenerateInputs(task_id, run)


def test_generate_captions_each_image_with_its_prompt_and_refuses_errors(service):
    calls = []

    def port(plan, task_id):
        calls.append((plan, task_id))
        return [f"image {i}" for i in range(plan.images)], [
            f"{p}\nSeed: {s}" for p, s in zip(plan.prompts, plan.seeds, strict=True)
        ]

    asked = generate_of("task(1)", preview_of("a {red|blue} cat", mode="combinatorial", count=0, seed=10))
    images, infotexts, info = g.generate(service, port, asked)
    assert images == [("image 0", "a red cat"), ("image 1", "a blue cat")]
    assert "2 images from 'the editor'" in html.unescape(info)
    plan, task_id = calls[0]
    assert task_id == "task(1)" and plan.infotext["Template source"] == "a {red|blue} cat"
    assert plan.payload["steps"] == 20 and plan.payload["save_images"] is True and plan.seeds == [10, 11]
    images, _, info = g.generate(service, port, generate_of("task(2)", preview_of("a {red"), sampler=""))
    assert images == [] and "unclosed" in info and len(calls) == 1
    images, _, info = g.generate(service, port, generate_of("task(3)", preview_of("x"), width=500, sampler=""))
    assert images == [] and "multiple of 8" in info and len(calls) == 1


def test_generate_right_after_preview_makes_the_previewed_prompts_and_seeds(service):
    made = []

    def port(plan, task_id):
        made.append(plan)
        return [None] * plan.images, [""] * plan.images

    editor = preview_of("a {red|green|blue|black} cat", count=3, seed=-1)
    _, rows, memo = g.preview(service, editor)
    g.generate(service, port, generate_of("task(1)", editor, width=64, height=64, memo=memo))
    assert [[s, p] for s, p in zip(made[0].seeds, made[0].prompts, strict=True)] == [[r[0], r[1]] for r in rows]
    # anything else changed since the preview: a fresh random seed, as the WebUI draws one
    changed = replace(editor, prompt="a {red|green|blue|black} dog")
    g.generate(service, port, generate_of("task(2)", changed, width=64, height=64, memo=memo))
    assert made[1].seeds[0] != rows[0][0]  # a new draw (the same one by chance: 1 in 4e9)


def test_wildcard_entries_and_completion_names(service):
    assert w.wildcard_entries(service, "animals/pets") == "cat\ndog"
    assert "unknown" in w.wildcard_entries(service, "nope")
    names = w.completion_names(lambda: service)
    assert "colors" in names and "data-names=" in names
