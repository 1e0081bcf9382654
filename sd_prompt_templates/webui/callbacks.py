"""Callbacks the extension registers with the WebUI, once each time the WebUI loads scripts/prompt_templates.py.

The WebUI clears every callback before it (re)loads scripts ("Reload UI"), and restores sys.path after each script
file, so everything these callbacks use is imported here, at load time, not lazily inside them.
"""

from __future__ import annotations

from typing import Any

from modules import script_callbacks, shared
from modules.api import models as api_models

from sd_prompt_templates import __version__
from sd_prompt_templates.api.deps import STATE_KEY, ApiContext
from sd_prompt_templates.api.router import PREFIX, mount
from sd_prompt_templates.library import StoreError
from sd_prompt_templates.service import PromptService
from sd_prompt_templates.webui import element_ids, runtime, settings, tab, tab_ports
from sd_prompt_templates.webui.generation import WebUIGenerator
from sd_prompt_templates.webui.script import restore_template_source

NAME = "sd-prompt-templates"


def register() -> None:
    _on(script_callbacks.on_app_started, app_started)
    _on(script_callbacks.on_ui_settings, settings.on_ui_settings)
    _on(script_callbacks.on_infotext_pasted, restore_template_source)
    _on(script_callbacks.on_ui_tabs, ui_tabs)


def ui_tabs() -> list[tuple[Any, str, str]]:
    return [(tab.build(tab_ports.ports()), "Prompt Templates", element_ids.TAB)]


def _on(hook: Any, callback: Any) -> None:
    try:
        hook(callback, name=NAME)
    except TypeError:  # SD.Next's hooks take no name
        hook(callback)


def app_started(demo: Any, app: Any) -> None:
    """Open the template library (adding the examples the first time) and mount the REST API on this app."""
    service = runtime.service()
    # The tab saves templates through this service: their parameters are checked against the WebUI's request model.
    service.use_request_model(api_models.StableDiffusionTxt2ImgProcessingAPI)
    path = service.settings().library_path
    try:
        store = service.store()
        added = store.install_examples()
    except (StoreError, OSError, ValueError) as exc:
        print(f"Prompt Templates {__version__}: the template library at {path} cannot be opened: {exc}")
        return
    note = f", {len(added.created)} example templates added" if added else ""
    print(f"Prompt Templates {__version__}: template library at {path} ({len(store.list())} templates{note})")
    if getattr(shared.cmd_opts, "api", False) or getattr(shared.cmd_opts, "nowebui", False):
        mount_api(app)
        print(f"Prompt Templates: REST API at {PREFIX}")
    else:
        print("Prompt Templates: REST API off (start the WebUI with --api to have it)")


def mount_api(app: Any) -> None:
    """Once per app: a reloaded UI brings a new app, a second call on the same one changes nothing. The WebUI's
    --api-auth and CORS settings are read at each request."""
    if getattr(app.state, STATE_KEY, None) is not None:
        return
    request_model = api_models.StableDiffusionTxt2ImgProcessingAPI
    context = ApiContext(
        service=PromptService(settings.current, WebUIGenerator(app), request_model=request_model),
        credentials=lambda: getattr(shared.cmd_opts, "api_auth", None),
        cors_origins=lambda: getattr(shared.cmd_opts, "cors_allow_origins", None),
        cors_origin_regex=lambda: getattr(shared.cmd_opts, "cors_allow_origins_regex", None),
    )
    mount(app, context, request_model)
