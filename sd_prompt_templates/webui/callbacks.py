"""Callbacks the extension registers with the WebUI, once each time the WebUI loads scripts/prompt_templates.py.

The WebUI clears every callback before it (re)loads scripts ("Reload UI"), and restores sys.path after each script
file, so everything these callbacks use is imported here, at load time, not lazily inside them.
"""

from __future__ import annotations

from typing import Any

from modules import script_callbacks, shared

from sd_prompt_templates import __version__
from sd_prompt_templates.library import StoreError, TemplateStore, default_library_path

NAME = "sd-prompt-templates"


def register() -> None:
    _on(script_callbacks.on_app_started, app_started)


def _on(hook: Any, callback: Any) -> None:
    try:
        hook(callback, name=NAME)
    except TypeError:  # SD.Next's hooks take no name
        hook(callback)


def app_started(demo: Any, app: Any) -> None:
    """Open the template library under the WebUI's data directory; the first time, add the example templates."""
    path = default_library_path(shared.data_path)
    try:
        store = TemplateStore(path)
        added = store.install_examples()
    except (StoreError, OSError, ValueError) as exc:
        print(f"Prompt Templates {__version__}: the template library at {path} cannot be opened: {exc}")
        return
    note = f", {len(added.created)} example templates added" if added else ""
    print(f"Prompt Templates {__version__}: template library at {path} ({len(store.list())} templates{note})")
