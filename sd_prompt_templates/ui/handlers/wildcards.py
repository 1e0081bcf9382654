"""The wildcard browser, and the names the editor's autocomplete offers."""

from __future__ import annotations

import html
import json
from collections.abc import Callable

from sd_prompt_templates.service import PromptService
from sd_prompt_templates.ui import element_ids
from sd_prompt_templates.ui.handlers.messages import safe_call


def safe_wildcards(service: Callable[[], PromptService]) -> list[str]:
    return safe_call(lambda: service().wildcards().names(), [])


def completion_names(service: Callable[[], PromptService]) -> str:
    """What the editor's autocomplete offers: JSON in a hidden element, for the page's script."""
    data = html.escape(json.dumps({"wildcards": safe_wildcards(service)}), quote=True)
    return f"<div hidden class='{element_ids.NAMES_CLASS}' data-names=\"{data}\"></div>"


def wildcard_entries(service: PromptService, name: str) -> str:
    if not name:
        return ""
    try:
        return "\n".join(e.text for e in service.wildcards().resolve(name))
    except LookupError as exc:
        return str(exc)
