"""The template library in the tab: the editor's fields to and from a stored template, save, delete, duplicate,
export and import."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sd_prompt_templates.library import FieldProblem, InvalidTemplate, StoreError, TemplateRecord
from sd_prompt_templates.service import PromptService
from sd_prompt_templates.ui.handlers.messages import message, problems_html, safe_call

VARIABLE_COLUMNS = ["name", "type", "default", "choices", "description"]


def blank_variable_rows() -> list[list[str]]:
    """The variables table with no variable: one empty row to type in."""
    return [["", "text", "", "", ""]]


@dataclass(frozen=True)
class EditorInputs:
    """The editor's fields; their order is the order of the editor's components."""

    name: str = ""
    title: str = ""
    description: str = ""
    prompt: str = ""
    negative_prompt: str = ""
    variables: Any = None  # rows of VARIABLE_COLUMNS
    parameters: str = "{}"
    tags: str = ""

    def as_data(self) -> dict[str, Any]:
        try:
            parameters = json.loads(self.parameters or "{}")
        except json.JSONDecodeError as exc:
            problem = FieldProblem("parameters", f"not valid JSON: {exc.msg}", exc.lineno, exc.colno)
            raise InvalidTemplate([problem]) from None
        except ValueError as exc:  # e.g. a number of more than 4,300 digits
            raise InvalidTemplate([FieldProblem("parameters", f"not valid: {exc}")]) from None
        return {
            "name": self.name.strip(),
            "title": self.title,
            "description": self.description,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "variables": variables_from_rows(self.variables),
            "parameters": parameters,
            "tags": [t.strip() for t in self.tags.split(",") if t.strip()],
        }


@dataclass(frozen=True)
class SaveInputs:
    original: str = ""  # the name the editor's template had when loaded; "" for a new one
    version: int | None = None  # its version then
    query: str = ""  # the list's search, to list what it finds after the save
    editor: EditorInputs = field(default_factory=EditorInputs)


@dataclass(frozen=True)
class DeleteInputs:
    original: str = ""
    version: int | None = None
    confirmed: bool = False
    query: str = ""


@dataclass(frozen=True)
class ImportInputs:
    data: bytes | None = None  # the export file's content
    replace: bool = False  # replace templates of the same name, else skip them
    query: str = ""


def variables_from_rows(rows: Any) -> list[dict[str, Any]]:
    if rows is None:
        return []
    if hasattr(rows, "values") and hasattr(rows, "columns"):  # a pandas DataFrame (gradio 3 and 4 may give one)
        rows = rows.values.tolist()
    specs = []
    for row in rows:
        cells = [("" if c is None else str(c)).strip() for c in list(row) + [""] * 5][:5]
        name, kind, default, choices, description = cells
        if not name:
            continue
        spec: dict[str, Any] = {"name": name, "type": kind or "text", "description": description}
        if choices:
            spec["choices"] = [c.strip() for c in choices.split("|") if c.strip()]
        if default:
            spec["default"] = default
        specs.append(spec)
    return specs


def rows_from_record(record: TemplateRecord) -> list[list[str]]:
    rows = [
        [v.name, v.type, "" if v.default is None else str(v.default), "|".join(v.choices), v.description]
        for v in record.variables
    ]
    return rows or blank_variable_rows()


def editor_from_record(record: TemplateRecord) -> EditorInputs:
    return EditorInputs(
        record.name,
        record.title,
        record.description,
        record.prompt,
        record.negative_prompt,
        rows_from_record(record),
        json.dumps(dict(record.parameters), indent=1),
        ", ".join(record.tags),
    )


def safe_names(service: Callable[[], PromptService], query: str = "") -> list[str]:
    return safe_call(lambda: [r.name for r in service().store().list(query or None)], [])


def save(service: PromptService, inputs: SaveInputs) -> tuple[str, int | None, str]:
    """Create (no original) or update a template. Returns (name, version, message html)."""
    original, version = inputs.original, inputs.version
    try:
        data = inputs.editor.as_data()
        store = service.store()
        record = store.update(original, data, expected_version=int(version or 0)) if original else store.create(data)
    except InvalidTemplate as exc:
        return original, version, problems_html(exc.problems)
    except StoreError as exc:
        return original, version, message(str(exc), "error")
    return record.name, record.version, message(f"Saved '{record.name}' (version {record.version}).")


def delete(service: PromptService, inputs: DeleteInputs) -> str:
    name, version = inputs.original, inputs.version
    if not name:
        return message("Pick a template first.", "error")
    if not inputs.confirmed:
        return message(f"Tick 'Yes, delete' to delete '{name}'.", "error")
    try:
        service.store().delete(name, expected_version=int(version) if version else None)
    except StoreError as exc:
        return message(str(exc), "error")
    return message(f"Deleted '{name}'.")


def duplicate_name(service: PromptService, name: str) -> str:
    taken = {r.name for r in service.store().list()}
    base = (name or "template")[:56]
    for i in range(2, 1000):
        candidate = f"{base}-{i}"
        if candidate not in taken:
            return candidate
    return f"{base}-copy"


def export_file(service: PromptService) -> str:
    document = service.store().export()
    with tempfile.NamedTemporaryFile(
        "w", suffix=".json", prefix="prompt-templates-", delete=False, encoding="utf-8"
    ) as f:
        json.dump(document, f, indent=1, ensure_ascii=False)
        return f.name


def import_file(service: PromptService, inputs: ImportInputs) -> str:
    if not inputs.data:
        return message("Choose an export file first.", "error")
    try:
        document = json.loads(inputs.data.decode("utf-8"))
        report = service.store().import_(document, on_conflict="replace" if inputs.replace else "skip")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return message(f"Not a JSON export: {exc}", "error")
    except InvalidTemplate as exc:
        return problems_html(exc.problems)
    except StoreError as exc:
        return message(str(exc), "error")
    return message(
        f"Imported: {len(report.created)} new, {len(report.replaced)} replaced, {len(report.skipped)} skipped."
    )
