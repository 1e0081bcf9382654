from __future__ import annotations

import importlib
import runpy
import sys
from pathlib import Path

import pytest

STUB = Path(__file__).parent / "stub"
ENTRY = Path(__file__).resolve().parents[2] / "scripts" / "prompt_templates.py"


@pytest.fixture
def webui(tmp_path, monkeypatch):
    """The stub `modules` on sys.path (unless a real WebUI's is importable), with a fresh data directory."""
    try:
        import modules.script_callbacks  # noqa: F401

        real = "stub" not in (getattr(sys.modules["modules"], "__file__", "") or "")
    except ImportError:
        real = False
    if real:
        pytest.skip("a real WebUI's modules package is importable; the glue is tested against it by -m webui")
    monkeypatch.syspath_prepend(str(STUB))
    for name in [m for m in sys.modules if m == "modules" or m.startswith(("modules.", "sd_prompt_templates.webui"))]:
        monkeypatch.delitem(sys.modules, name)
    shared = importlib.import_module("modules.shared")
    callbacks = importlib.import_module("modules.script_callbacks")
    monkeypatch.setattr(shared, "data_path", str(tmp_path))
    monkeypatch.delenv("SD_PROMPT_TEMPLATES_LIBRARY", raising=False)
    callbacks.clear_callbacks()
    yield callbacks
    callbacks.clear_callbacks()


@pytest.fixture
def started(webui, tmp_path):
    """The entry file loaded, a ScriptRunner with our Script, the WebUI's txt2img route, app_started run."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    namespace = runpy.run_path(str(ENTRY))
    from modules import scripts, shared
    from modules.api.api import Api

    webui.ui_settings_callback()
    wildcards = tmp_path / "wildcards"
    wildcards.mkdir()
    (wildcards / "colors.txt").write_text("red\nblue\n")
    shared.opts.prompt_templates_wildcard_dirs = str(wildcards)
    runner = scripts.ScriptRunner([namespace["PromptTemplatesScript"]()])
    app = FastAPI()
    api = Api(app, runner)
    webui.app_started_callback(None, app)

    class Started:
        pass

    Started.app, Started.client, Started.runner, Started.api, Started.shared = app, TestClient(app), runner, api, shared
    return Started
