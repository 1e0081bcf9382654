from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

STUB = Path(__file__).parent / "stub"


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
    for name in [m for m in sys.modules if m == "modules" or m.startswith("modules.")]:
        monkeypatch.delitem(sys.modules, name)
    shared = importlib.import_module("modules.shared")
    callbacks = importlib.import_module("modules.script_callbacks")
    monkeypatch.setattr(shared, "data_path", str(tmp_path))
    monkeypatch.delenv("SD_PROMPT_TEMPLATES_LIBRARY", raising=False)
    callbacks.clear_callbacks()
    for name in [m for m in sys.modules if m.startswith("sd_prompt_templates.webui")]:
        monkeypatch.delitem(sys.modules, name)
    yield callbacks
    callbacks.clear_callbacks()
