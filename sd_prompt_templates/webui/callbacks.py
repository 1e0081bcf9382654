"""Callbacks the extension registers with the WebUI, once each time the WebUI loads scripts/prompt_templates.py.

The WebUI clears every callback before it (re)loads scripts ("Reload UI"), and restores sys.path after each script
file, so everything these callbacks use is imported here, at load time, not lazily inside them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from modules import script_callbacks, shared
from modules.api import models as api_models

from sd_prompt_templates import __version__
from sd_prompt_templates.api.deps import STATE_KEY, ApiContext
from sd_prompt_templates.api.main import PREFIX, mount
from sd_prompt_templates.db import database_url, describe
from sd_prompt_templates.library import StoreError
from sd_prompt_templates.ui import element_ids, layout
from sd_prompt_templates.webui import compat, runtime, settings, tab_ports
from sd_prompt_templates.webui.generation import WebUIGenerator
from sd_prompt_templates.webui.script import restore_template_source

NAME = "sd-prompt-templates"


def register() -> None:
    compat.register_callback(script_callbacks.on_app_started, app_started, NAME)
    compat.register_callback(script_callbacks.on_ui_settings, settings.on_ui_settings, NAME)
    compat.register_callback(script_callbacks.on_infotext_pasted, restore_template_source, NAME)
    compat.register_callback(script_callbacks.on_ui_tabs, ui_tabs, NAME)
    compat.register_callback(script_callbacks.on_script_unloaded, stop_jobs, NAME)


def ui_tabs() -> list[tuple[Any, str, str]]:
    return [(layout.build(tab_ports.ports()), "Prompt Templates", element_ids.TAB)]


def app_started(demo: Any, app: Any) -> None:
    """Open the template library (adding the examples the first time) and mount the REST API on this app."""
    service = runtime.service()  # the one service of this process: the API, the tab and the Script share it
    # Saved templates' parameters are checked against the WebUI's request model, whichever door saves them.
    service.use_request_model(api_models.StableDiffusionTxt2ImgProcessingAPI)
    generator = WebUIGenerator(app)  # this app's handlers: a reloaded UI brings a new app
    service.generator = generator
    where = shown_location(service.settings().library_target)
    try:
        store = service.store()
        added = store.install_examples()
    except (StoreError, OSError, ValueError) as exc:  # the API answers 503 with the reason until it can
        print(f"Prompt Templates {__version__}: the template library at {where} cannot be opened: {exc}")
    else:
        note = f", {len(added.created)} example templates added" if added else ""
        print(f"Prompt Templates {__version__}: template library at {where} ({len(store.list())} templates{note})")
    if getattr(shared.cmd_opts, "api", False) or getattr(shared.cmd_opts, "nowebui", False):
        mount_api(app)
        print(f"Prompt Templates: REST API at {PREFIX}")
    else:
        print("Prompt Templates: REST API off (start the WebUI with --api to have it)")
        generator.prepare()  # the tab and the jobs generate through a private API, made now
    start_jobs()


def start_jobs() -> None:
    """The jobs' worker and webhook sender: one thread each, for the life of the process (or until the scripts
    are reloaded). Jobs a killed WebUI left running resume at their next image."""
    log_to_console()
    service = runtime.service()
    try:
        jobs = service.jobs()
        jobs.start()
        queued = len(jobs.store.queued_ids())
    except Exception as exc:  # the WebUI must start whatever happens to the jobs' files
        print(f"Prompt Templates: jobs are off: {type(exc).__name__}: {exc}")
        return
    where = shown_location(jobs.paths.database) if jobs.store.shared else jobs.paths.root
    print(f"Prompt Templates: jobs at {where} ({queued} queued), worker '{jobs.runner.worker_name}'")


def shown_location(target: str | Path) -> str:
    """A file's path, or a database's URL without its password."""
    if isinstance(target, Path):
        return str(target)
    try:
        return describe(database_url(target))
    except ValueError as exc:
        return str(exc)


def log_to_console() -> None:
    """The package's log (the jobs' worker: a failed attempt, a job resumed after a crash; wildcard files that do
    not load) on the console, where the WebUI would not show it: SD.Next sends the root logger to a NullHandler at
    ERROR, so nothing of ours shows; A1111 gives it no handler (Python's last resort: WARNING and up, no name).
    Where the root logger has a real handler (reForge), it is left to that one; where it gets one later (Forge
    calls `logging.basicConfig` after the extensions load), ours keeps the package's records, shown once."""
    log = logging.getLogger("sd_prompt_templates")
    if log.handlers or any(not isinstance(h, logging.NullHandler) for h in logging.getLogger().handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("Prompt Templates: %(levelname)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def stop_jobs() -> None:
    """A script reload brings new code: the old worker stops (its job goes back to the queue, to resume at its
    next image) before the new one starts."""
    runtime.service().close_jobs()


def mount_api(app: Any) -> None:
    """Once per app: a reloaded UI brings a new app, a second call on the same one changes nothing. The WebUI's
    --api-auth and CORS settings are read at each request."""
    if getattr(app.state, STATE_KEY, None) is not None:
        return
    context = ApiContext(
        service=runtime.service(),
        credentials=compat.api_credentials,
        cors_origins=compat.cors_origins,
        cors_origin_regex=compat.cors_origin_regex,
    )
    mount(
        app,
        context,
        api_models.StableDiffusionTxt2ImgProcessingAPI,
        getattr(api_models, "StableDiffusionImg2ImgProcessingAPI", None),
    )
