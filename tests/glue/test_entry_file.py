import runpy
from types import SimpleNamespace

import pytest

from sd_prompt_templates.library import TemplateStore
from tests.glue.conftest import ENTRY


def test_loading_the_entry_file_registers_callbacks_and_does_no_work(webui, tmp_path):
    namespace = runpy.run_path(str(ENTRY))
    assert namespace["PromptTemplatesScript"]().title() == "Prompt Templates"
    names = {key: [c.name for c in value] for key, value in webui.callback_map.items()}
    assert names == {
        "callbacks_app_started": ["sd-prompt-templates"],
        "callbacks_ui_settings": ["sd-prompt-templates"],
        "callbacks_infotext_pasted": ["sd-prompt-templates"],
        "callbacks_ui_tabs": ["sd-prompt-templates"],
        "callbacks_script_unloaded": ["sd-prompt-templates"],
    }
    assert not (tmp_path / "prompt-templates").exists()  # nothing happens at import


def test_reloading_scripts_registers_once_again(webui):
    runpy.run_path(str(ENTRY))
    webui.clear_callbacks()  # what "Reload UI" does before loading scripts again
    runpy.run_path(str(ENTRY))
    assert len(webui.callback_map["callbacks_app_started"]) == 1


def test_app_started_opens_the_library_in_the_data_dir_with_examples_once(started, tmp_path, capsys):
    path = tmp_path / "prompt-templates" / "templates.sqlite3"
    names = [r.name for r in TemplateStore(path).list()]
    assert "portrait" in names and len(names) >= 3
    TemplateStore(path).delete("portrait")
    from modules import script_callbacks

    script_callbacks.app_started_callback(None, started.app)
    assert "portrait" not in [r.name for r in TemplateStore(path).list()]
    out = capsys.readouterr().out  # the second start only: the first one's added the examples
    assert f"template library at {path} ({len(names) - 1} templates)" in out and "added" not in out


def test_the_api_is_mounted_once_per_app(started):
    from modules import script_callbacks

    routes = len(started.app.routes)
    script_callbacks.app_started_callback(None, started.app)  # a second call on the same app
    assert len(started.app.routes) == routes
    assert started.client.get("/prompt-templates/v1/version").status_code == 200


def test_no_api_without_api_flag(webui, capsys):
    from fastapi import FastAPI

    runpy.run_path(str(ENTRY))
    from modules import shared

    shared.cmd_opts.api = False
    try:
        app = FastAPI()
        webui.app_started_callback(None, app)
    finally:
        shared.cmd_opts.api = True
    assert not [r for r in app.routes if getattr(r, "path", "").startswith("/prompt-templates")]
    assert "REST API off" in capsys.readouterr().out


def test_a_library_that_cannot_be_opened_is_reported_not_raised(webui, tmp_path, capsys):
    (tmp_path / "prompt-templates").write_text("a file where the folder should be")
    runpy.run_path(str(ENTRY))
    from fastapi import FastAPI

    webui.app_started_callback(None, FastAPI())
    assert "cannot be opened" in capsys.readouterr().out


def test_settings_section_and_values_read_at_use_time(webui, tmp_path):
    runpy.run_path(str(ENTRY))
    webui.ui_settings_callback()
    from modules import shared

    from sd_prompt_templates.webui import settings

    keys = [k for k in shared.opts.data_labels]
    assert keys and all(k.startswith("prompt_templates_") for k in keys)
    assert sorted(keys) == sorted(settings.OPTION_KEYS)  # what a change of settings is looked for in
    assert {info.section for info in shared.opts.data_labels.values()} == {("prompt_templates", "Prompt Templates")}
    shared.opts.prompt_templates_max_prompts = 7
    shared.opts.prompt_templates_library_path = str(tmp_path / "elsewhere.sqlite3")
    current = settings.current()
    assert current.limits.max_prompts == 7 and current.library_path == tmp_path / "elsewhere.sqlite3"


def test_settings_apply_at_once_and_a_new_wildcard_folder_within_a_second(webui, monkeypatch, tmp_path):
    runpy.run_path(str(ENTRY))
    from modules import shared

    from sd_prompt_templates.webui import settings

    webui.ui_settings_callback()
    clock = [1000.0]
    monkeypatch.setattr(settings.time, "monotonic", lambda: clock[0])
    new = tmp_path / "new-wildcards"
    shared.opts.prompt_templates_wildcard_dirs = str(new)
    assert new not in settings.current().wildcard_dirs
    new.mkdir()
    clock[0] += 0.5
    assert new not in settings.current().wildcard_dirs  # the folders are taken as known for a second
    shared.opts.prompt_templates_max_prompts = 9  # a change of a setting: read again at once
    assert settings.current().limits.max_prompts == 9 and new in settings.current().wildcard_dirs
    new.rmdir()
    clock[0] += settings.FOLDERS_SECONDS
    assert new not in settings.current().wildcard_dirs
    monkeypatch.setenv("SD_PROMPT_TEMPLATES_DATABASE_URL", "postgresql://db.example/spt")
    assert settings.current().database_url == "postgresql://db.example/spt"


@pytest.mark.parametrize(("device", "image_pixels"), [("cpu", 384 * 384), ("cuda", 0)])
def test_auto_batching_defaults_follow_the_device(webui, monkeypatch, device, image_pixels):
    runpy.run_path(str(ENTRY))
    from modules import devices, shared

    from sd_prompt_templates.webui import settings

    monkeypatch.setattr(devices, "device", SimpleNamespace(type=device))
    webui.ui_settings_callback()
    assert shared.opts.data_labels["prompt_templates_auto_batch_image_pixels"].default == image_pixels
    generation = settings.current().generation
    assert (generation.auto_batch_pixels, generation.auto_batch_image_pixels) == (8 * 256 * 256, image_pixels)
    shared.opts.prompt_templates_auto_batch_pixels = 0
    assert settings.current().generation.auto_batch_pixels == 0


def test_the_tab_is_built_with_the_webuis_ports(started):
    from modules import infotext_utils, script_callbacks

    ((blocks, title, elem_id),) = script_callbacks.ui_tabs_callback()
    assert (title, elem_id) == ("Prompt Templates", "prompt_templates")
    assert [b.tabname for b in infotext_utils.registered_param_bindings[-2:]] == ["txt2img", "img2img"]


def test_tab_generation_runs_one_process_images_with_a_prompt_per_image(started, monkeypatch):
    from modules import call_queue, processing, progress, shared

    from sd_prompt_templates.ui.handlers.generation import GenerateInputs, PreviewInputs, RunInputs, generate
    from sd_prompt_templates.webui import tab_ports

    runs = []
    process_images = processing.process_images
    monkeypatch.setattr(processing, "process_images", lambda p: runs.append(p) or process_images(p))
    service = tab_ports.ports().service()
    asked = PreviewInputs("a {red|blue} cat", "blurry", "", "combinatorial", count=0, seed=5, variables=None)
    images, infotexts, info = generate(
        service,
        tab_ports.generate,
        GenerateInputs("task(tab-1)", RunInputs(asked, "Euler a", steps=2, cfg=7, width=64, height=64, template="")),
    )
    assert [caption for _, caption in images] == ["a red cat", "a blue cat"]
    assert infotexts[1].startswith("a blue cat\nNegative prompt: blurry\nSeed: 6")
    assert "Template source: a {red|blue} cat" in infotexts[0] and "2 images" in info
    assert [(p.batch_size, p.n_iter) for p in runs] == [(2, 1)]  # 64x64: one batch, within the pixel budget
    # the page follows task(tab-1): the WebUI's handler ran it as that task
    assert "task(tab-1)" in progress.finished_tasks and progress.current_task is None
    assert shared.state.begun == shared.state.ended == 1
    # the tab's handler must not hold the queue lock: the WebUI's handler takes it, and would wait for ever
    wrapped = tab_ports.ports().wrap_generation(lambda task, *a: [call_queue.queue_lock.locked()])
    assert wrapped("task(tab-2)") == (False,)
