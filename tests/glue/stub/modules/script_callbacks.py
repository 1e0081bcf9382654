# Mirrors modules/script_callbacks.py at v1.10.1: on_*(callback, *, name=None), *_callback(...) runners,
# clear_callbacks().
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass
class ScriptCallback:
    script: str
    callback: Callable[..., Any]
    name: str | None = None


callback_map: dict[str, list[ScriptCallback]] = {
    "callbacks_app_started": [],
    "callbacks_ui_settings": [],
    "callbacks_infotext_pasted": [],
}


def clear_callbacks() -> None:  # also empties the ui_tabs list added below
    for callback_list in callback_map.values():
        callback_list.clear()


def add_callback(callbacks, fun, *, name=None, category="unknown", filename=None) -> None:
    callbacks.append(ScriptCallback(filename or "unknown file", fun, name))


def on_app_started(callback, *, name=None):
    add_callback(callback_map["callbacks_app_started"], callback, name=name, category="app_started")


def on_ui_settings(callback, *, name=None):
    add_callback(callback_map["callbacks_ui_settings"], callback, name=name, category="ui_settings")


def on_infotext_pasted(callback, *, name=None):
    add_callback(callback_map["callbacks_infotext_pasted"], callback, name=name, category="infotext_pasted")


def app_started_callback(demo, app) -> None:
    for c in callback_map["callbacks_app_started"]:
        c.callback(demo, app)


def ui_settings_callback() -> None:
    for c in callback_map["callbacks_ui_settings"]:
        c.callback()


def infotext_pasted_callback(infotext: str, params: dict) -> None:
    for c in callback_map["callbacks_infotext_pasted"]:
        c.callback(infotext, params)


callback_map["callbacks_ui_tabs"] = []


def on_ui_tabs(callback, *, name=None):
    add_callback(callback_map["callbacks_ui_tabs"], callback, name=name, category="ui_tabs")


def ui_tabs_callback():
    res = []
    for c in callback_map["callbacks_ui_tabs"]:
        res += c.callback() or []
    return res


callback_map["callbacks_script_unloaded"] = []


def on_script_unloaded(callback, *, name=None):
    add_callback(callback_map["callbacks_script_unloaded"], callback, name=name, category="script_unloaded")


def script_unloaded_callback() -> None:
    for c in callback_map["callbacks_script_unloaded"]:
        c.callback()
