import json
import sqlite3
import urllib.request
from contextlib import closing

from sd_prompt_templates.library import TemplateStore


def test_webui_answers(webui_url):
    with urllib.request.urlopen(f"{webui_url}/sdapi/v1/scripts", timeout=30) as response:
        assert response.status == 200
        assert "txt2img" in json.load(response)


def test_library_is_in_the_data_dir_with_the_examples_installed(webui_url, webui_dir):
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
