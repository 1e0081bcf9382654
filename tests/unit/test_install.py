import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FAKE_LAUNCH = """
import json, os
class args:
    skip_install = os.environ.get("FAKE_SKIP") == "1"
def is_installed(name):
    return name not in os.environ.get("FAKE_MISSING", "").split(",")
def run_pip(command, desc=None):
    with open(os.environ["FAKE_LOG"], "a") as f:
        f.write(json.dumps([command, desc]) + "\\n")
"""


def run_install(tmp_path, **env):
    (tmp_path / "launch.py").write_text(FAKE_LAUNCH)
    log = tmp_path / "pip.log"
    log.write_text("")
    full_env = {**os.environ, "PYTHONPATH": str(tmp_path), "FAKE_LOG": str(log), **env}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "install.py")], cwd=tmp_path, env=full_env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return log.read_text().splitlines()


def test_installs_nothing_the_webui_already_has(tmp_path):
    assert run_install(tmp_path) == []


def test_installs_a_missing_runtime_dependency(tmp_path):
    assert run_install(tmp_path, FAKE_MISSING="PyYAML") == [
        '["install \\"PyYAML>=5.4\\"", "PyYAML for sd-prompt-templates"]'
    ]


@pytest.mark.parametrize("env", [{"FAKE_SKIP": "1"}, {"COMMANDLINE_ARGS": "--api --skip-install"}])
def test_skip_install_is_honoured(tmp_path, env):
    assert run_install(tmp_path, FAKE_MISSING="PyYAML", **env) == []


POSTGRES = '["install \\"psycopg[binary]>=3.2\\"", "psycopg for sd-prompt-templates"]'


def test_the_postgresql_driver_only_when_a_shared_database_is_asked_for(tmp_path):
    assert run_install(tmp_path, FAKE_MISSING="psycopg") == []
    url = "postgresql://webui:secret@db.local/prompts"
    assert run_install(tmp_path, FAKE_MISSING="psycopg", SD_PROMPT_TEMPLATES_DATABASE_URL=url) == [POSTGRES]
    assert run_install(tmp_path, SD_PROMPT_TEMPLATES_DATABASE_URL=url) == []  # already there


def test_the_postgresql_driver_when_the_webui_setting_names_a_database(tmp_path):
    (tmp_path / "config.json").write_text('{"prompt_templates_database_url": "postgresql://db.local/prompts"}')
    assert run_install(tmp_path, FAKE_MISSING="psycopg") == [POSTGRES]
    (tmp_path / "config.json").write_text('{"prompt_templates_database_url": ""}')
    assert run_install(tmp_path, FAKE_MISSING="psycopg") == []
    (tmp_path / "config.json").write_text("not json")
    assert run_install(tmp_path, FAKE_MISSING="psycopg") == []


def test_install_py_imports_nothing_of_ours():
    text = (ROOT / "install.py").read_text()
    assert "sd_prompt_templates" not in text
