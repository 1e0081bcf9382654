import runpy
from pathlib import Path

from sd_prompt_templates.library import TemplateStore

ENTRY = Path(__file__).resolve().parents[2] / "scripts" / "prompt_templates.py"


def test_loading_the_entry_file_registers_callbacks_and_does_no_work(webui, tmp_path):
    runpy.run_path(str(ENTRY))
    registered = webui.callback_map["callbacks_app_started"]
    assert [c.name for c in registered] == ["sd-prompt-templates"]
    assert not (tmp_path / "prompt-templates").exists()  # nothing happens at import


def test_reloading_scripts_registers_once_again(webui):
    runpy.run_path(str(ENTRY))
    webui.clear_callbacks()  # what "Reload UI" does before loading scripts again
    runpy.run_path(str(ENTRY))
    assert len(webui.callback_map["callbacks_app_started"]) == 1


def test_app_started_opens_the_library_in_the_data_dir_with_examples_once(webui, tmp_path, capsys):
    runpy.run_path(str(ENTRY))
    webui.app_started_callback(None, object())
    path = tmp_path / "prompt-templates" / "templates.sqlite3"
    names = [r.name for r in TemplateStore(path).list()]
    assert "portrait" in names and len(names) >= 3
    TemplateStore(path).delete("portrait")
    webui.app_started_callback(None, object())
    assert "portrait" not in [r.name for r in TemplateStore(path).list()]
    out = capsys.readouterr().out
    assert f"template library at {path}" in out and "example templates added" in out


def test_a_library_that_cannot_be_opened_is_reported_not_raised(webui, tmp_path, capsys):
    (tmp_path / "prompt-templates").write_text("a file where the folder should be")
    runpy.run_path(str(ENTRY))
    webui.app_started_callback(None, object())
    assert "cannot be opened" in capsys.readouterr().out
