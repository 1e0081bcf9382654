"""Messages and problems as the tab shows them: HTML with the extension's classes, which the page's script reads."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sd_prompt_templates.engine.errors import excerpt
from sd_prompt_templates.ui import element_ids

T = TypeVar("T")


def message(text: str, kind: str = "info") -> str:
    css = element_ids.ERROR_CLASS if kind == "error" else element_ids.INFO_CLASS
    return f"<div class='{css}'>{html.escape(text)}</div>"


def problems_html(problems: Sequence[Any], sources: dict[str, str] | None = None) -> str:
    """Each problem on a line. One with a position shows its source line with a caret under the column, and carries
    the position in data attributes, for the page's script to select it in the editor."""
    items = []
    for p in problems:
        data = f" data-field='{html.escape(p.field)}' data-line='{p.line}' data-column='{p.column}'" if p.line else ""
        text = html.escape(str(p))
        source = (sources or {}).get(p.field)
        if source is not None and p.line:
            text += f"<pre>{html.escape(excerpt(source, p.line, p.column))}</pre>"
        items.append(f"<div class='{element_ids.ERROR_CLASS}'{data}>{text}</div>")
    return "".join(items)


def safe_call(fn: Callable[[], T], fallback: T) -> T:
    """Building the page must not fail because the library or a folder cannot be read; say so in the log."""
    try:
        return fn()
    except Exception as exc:
        print(f"Prompt Templates: {exc}")
        return fallback
