"""The `name = value` lines (or a JSON object) in which the Script's and the tab's text boxes take variables."""

from __future__ import annotations

import json
from typing import Any

from sd_prompt_templates.problems import PlanError, Problem


def parse_variables(text: str) -> dict[str, str]:
    """`name = value` lines, or a JSON object."""
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PlanError([Problem("variables", f"not valid JSON: {exc}", exc.lineno, exc.colno)]) from None
        if not isinstance(data, dict):
            raise PlanError([Problem("variables", "must be a JSON object")])
        return data
    values = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise PlanError([Problem("variables", f"expected 'name = value', got {line.strip()!r}", number, 1)])
        values[name.strip()] = value.strip()
    return values


def variables_text(value: Any) -> str:
    if not value:
        return ""
    try:
        data = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        return str(value)
    return "\n".join(f"{k} = {v}" for k, v in data.items()) if isinstance(data, dict) else str(value)
