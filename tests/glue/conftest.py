from __future__ import annotations

import importlib
import runpy
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

STUB = Path(__file__).parent / "stub"
VARIANTS = Path(__file__).parent / "variants"
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
    callbacks.script_unloaded_callback()  # as the WebUI does before it reloads scripts: our jobs' threads stop
    callbacks.clear_callbacks()


def use_variant(monkeypatch, name):
    """Put a fork's stand-ins for some `modules` files (variants/<name>/modules) ahead of the stub's. Call it before
    anything imports those files: the `webui` fixture imports only shared, options and script_callbacks."""
    import modules

    monkeypatch.setattr(modules, "__path__", [str(VARIANTS / name / "modules"), *modules.__path__])


def hooks_without_name(callbacks, monkeypatch):
    """Forge Classic's and SD.Next's `script_callbacks.on_*(callback)` take no `name=`."""

    def nameless(hook):
        def on(callback):
            hook(callback)

        return on

    for hook in ("on_app_started", "on_ui_settings", "on_infotext_pasted", "on_ui_tabs", "on_script_unloaded"):
        monkeypatch.setattr(callbacks, hook, nameless(getattr(callbacks, hook)))


@pytest.fixture
def forge_classic(webui, monkeypatch):
    """The stub as Forge Classic: sd_samplers without visible_samplers(), callback hooks without name=."""
    use_variant(monkeypatch, "forge_classic")
    hooks_without_name(webui, monkeypatch)
    return webui


@pytest.fixture
def sdnext(webui, monkeypatch):
    """The stub as SD.Next: modules.scripts_manager, a stub infotext_utils and the paste buttons in
    generation_parameters_copypaste, diffusers samplers, callback hooks without name=, and its command-line flags
    (--auth and --auth-file; --api-auth parsed and ignored; --cors-origins and --cors-regex; the API always on)."""
    use_variant(monkeypatch, "sdnext")
    hooks_without_name(webui, monkeypatch)
    shared = importlib.import_module("modules.shared")
    monkeypatch.setattr(shared, "url", "https://github.com/vladmandic/sdnext", raising=False)
    cmd_opts = SimpleNamespace(api=True, api_auth=None, auth=None, auth_file=None, cors_origins=None, cors_regex=None)
    monkeypatch.setattr(shared, "cmd_opts", cmd_opts)
    return webui


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
    Started.webui_callbacks = webui
    return Started
