import re
import sqlite3
from contextlib import closing

import pytest

from sd_prompt_templates.library import TemplateStore

SDNEXT_ERROR = re.compile(r"^\d\d:\d\d:\d\d-\d+\s+ERROR\s")
SDNEXT_NOISE = ("UI theme: css=", "No module named 'basicsr'")  # see shared/design/REAL-WEBUI.md, SD.Next


def test_webui_answers_and_lists_the_script(webui):
    reply = webui.call("GET", "/sdapi/v1/scripts")
    assert reply.status == 200
    assert "prompt templates" in reply.body["txt2img"] and "prompt templates" in reply.body["img2img"]


def test_library_is_in_the_data_dir_with_the_examples_installed(webui, webui_dir):
    if webui.ours("GET", "/version").body.get("shared_database"):
        pytest.skip("this WebUI keeps its library in a shared database (SD_PROMPT_TEMPLATES_DATABASE_URL)")
    path = webui_dir / "prompt-templates" / "templates.sqlite3"
    assert path.is_file()
    TemplateStore(path)  # opens: schema current
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'examples_installed'").fetchone()


def test_extension_loaded_without_errors(webui_log):
    assert "Prompt Templates 0.1.0: template library at" in webui_log
    lines = webui_log.splitlines()
    for i, line in enumerate(lines):
        if "Traceback" in line or line.startswith("*** Error"):
            context = "\n".join(lines[i : i + 30])
            assert "sd_prompt_templates" not in context and "prompt_templates.py" not in context, context
    # SD.Next logs a failing callback as one `ERROR` line naming its file (`ERROR Executing callback: …/callbacks.py
    # ui_tabs_callback: AttributeError`) and a rich traceback without "Traceback"; its own noise names no file of ours
    for line in lines:
        if SDNEXT_ERROR.match(line) and not any(noise in line for noise in SDNEXT_NOISE):
            assert "sd_prompt_templates" not in line and "prompt_templates" not in line, line


def test_settings_section_with_device_aware_batching_default(webui):
    settings = webui.settings()
    if settings is None and webui.call("GET", "/login_check", auth=None).status == 401:
        pytest.skip("the page needs its login, and POST /login with SD_WEBUI_AUTH did not open /config")
    if settings is None:
        pytest.skip("no Settings page (--nowebui): the extension uses its defaults")
    ours = {k: v for k, v in settings.items() if k.startswith("prompt_templates_")}
    assert {"prompt_templates_wildcard_dirs", "prompt_templates_auto_batch_pixels"} <= set(ours)
    assert ours["prompt_templates_auto_batch_image_pixels"] in (384 * 384, 0)  # CPU, or any other device
    flags = webui.call("GET", "/sdapi/v1/cmd-flags").body  # Forge's own flags (--always-cpu) are not listed
    if "all" in (flags.get("use_cpu") or []):
        assert ours["prompt_templates_auto_batch_image_pixels"] == 384 * 384
