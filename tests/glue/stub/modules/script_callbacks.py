# Mirrors modules/script_callbacks.py at v1.10.1: add_callback(..., *, name=None), on_app_started(callback, *,
# name=None), app_started_callback(demo, app), clear_callbacks().
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass
class ScriptCallback:
    script: str
    callback: Callable[..., Any]
    name: str | None = None


callback_map: dict[str, list[ScriptCallback]] = {"callbacks_app_started": [], "callbacks_ui_settings": []}


def clear_callbacks() -> None:
    for callback_list in callback_map.values():
        callback_list.clear()


def add_callback(
    callbacks: list[ScriptCallback],
    fun: Callable[..., Any],
    *,
    name: str | None = None,
    category: str = "unknown",
    filename: str | None = None,
) -> None:
    callbacks.append(ScriptCallback(filename or "unknown file", fun, name))


def on_app_started(callback: Callable[..., Any], *, name: str | None = None) -> None:
    add_callback(callback_map["callbacks_app_started"], callback, name=name, category="app_started")


def app_started_callback(demo: Any, app: Any) -> None:
    for c in callback_map["callbacks_app_started"]:
        c.callback(demo, app)
