"""What the Prompt Templates tab does, as plain functions over the service: the tab (webui/tab.py) only wires
them to components. Every failure comes back as a message to show, never as an exception in the browser."""

from __future__ import annotations

import html
import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sd_prompt_templates.engine.errors import excerpt
from sd_prompt_templates.library import FieldProblem, InvalidTemplate, StoreError, TemplateRecord
from sd_prompt_templates.plan import GenerationPlan
from sd_prompt_templates.planning import PlanError, parse_variables
from sd_prompt_templates.service import PromptService
from sd_prompt_templates.webui import element_ids

VARIABLE_COLUMNS = ["name", "type", "default", "choices", "description"]
PREVIEW_ROWS = 50


@dataclass
class Editor:
    """The editor's fields, in the order the tab's components are wired."""

    name: str = ""
    title: str = ""
    description: str = ""
    prompt: str = ""
    negative_prompt: str = ""
    variables: Any = None  # rows of VARIABLE_COLUMNS
    parameters: str = "{}"
    tags: str = ""

    def fields(self) -> list[Any]:
        """The values, in the order of the tab's editor components."""
        return [
            self.name,
            self.title,
            self.description,
            self.prompt,
            self.negative_prompt,
            self.variables,
            self.parameters,
            self.tags,
        ]

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
    return rows or [["", "text", "", "", ""]]


def editor_from_record(record: TemplateRecord) -> Editor:
    return Editor(
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


def safe_wildcards(service: Callable[[], PromptService]) -> list[str]:
    return safe_call(lambda: service().wildcards().names(), [])


def completion_names(service: Callable[[], PromptService]) -> str:
    """What the editor's autocomplete offers: JSON in a hidden element, for the page's script."""
    data = html.escape(json.dumps({"wildcards": safe_wildcards(service)}), quote=True)
    return f"<div hidden class='{element_ids.NAMES_CLASS}' data-names=\"{data}\"></div>"


def safe_call(fn: Callable[[], Any], fallback: Any) -> Any:
    """Building the page must not fail because the library or a folder cannot be read; say so in the log."""
    try:
        return fn()
    except Exception as exc:
        print(f"Prompt Templates: {exc}")
        return fallback


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


def plan_problems_html(error: PlanError, prompt: str, negative: str, values: str) -> str:
    sources = {"prompt": prompt or "", "negative_prompt": negative or "", "variables": values or ""}
    return problems_html(error.problems, sources)


def save(service: PromptService, original: str, version: int | None, editor: Editor) -> tuple[str, int | None, str]:
    """Create (no original) or update a template. Returns (name, version, message html)."""
    try:
        data = editor.as_data()
        store = service.store()
        record = store.update(original, data, expected_version=int(version or 0)) if original else store.create(data)
    except InvalidTemplate as exc:
        return original, version, problems_html(exc.problems)
    except StoreError as exc:
        return original, version, message(str(exc), "error")
    return record.name, record.version, message(f"Saved '{record.name}' (version {record.version}).")


def delete(service: PromptService, name: str, version: int | None, confirmed: bool) -> str:
    if not name:
        return message("Pick a template first.", "error")
    if not confirmed:
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


def import_file(service: PromptService, data: bytes | None, replace: bool) -> str:
    if not data:
        return message("Choose an export file first.", "error")
    try:
        document = json.loads(data.decode("utf-8"))
        report = service.store().import_(document, on_conflict="replace" if replace else "skip")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return message(f"Not a JSON export: {exc}", "error")
    except InvalidTemplate as exc:
        return problems_html(exc.problems)
    except StoreError as exc:
        return message(str(exc), "error")
    return message(
        f"Imported: {len(report.created)} new, {len(report.replaced)} replaced, {len(report.skipped)} skipped."
    )


def wildcard_entries(service: PromptService, name: str) -> str:
    if not name:
        return ""
    try:
        return "\n".join(e.text for e in service.wildcards().resolve(name))
    except LookupError as exc:
        return str(exc)


Generate = Callable[[GenerationPlan, str], tuple[list[Any], list[str]]]  # (plan, task id) -> images, infotexts


def request(
    prompt: str, negative: str, values: str, mode: str, count: int, seed: int | None, variables: Any
) -> dict[str, Any]:
    """The tab's editor as a generation request: the same body the REST API's /txt2img takes."""
    declared = variables_from_rows(variables)
    defaults = {v["name"]: v["default"] for v in declared if "default" in v}
    return {
        "prompt": prompt or "",
        "negative_prompt": negative or "",
        "variables": {**defaults, **parse_variables(values or "")},
        "mode": mode,
        "count": int(count or 0) or None,
        "seed": None if seed is None else int(seed),
    }


def previewed_seed(body: dict[str, Any], memo: Any) -> dict[str, Any]:
    """With a random seed (-1), Generate right after Preview makes the previewed prompts: it takes the seed the
    preview drew, as long as nothing else in the request changed."""
    if (body.get("seed") is None or body["seed"] < 0) and isinstance(memo, dict) and memo.get("key") == _key(body):
        return {**body, "seed": memo["seed"]}
    return body


def _key(body: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in body.items() if k != "seed"}, sort_keys=True, default=str)


def preview(
    service: PromptService,
    prompt: str,
    negative: str,
    values: str,
    mode: str,
    count: int,
    seed: int,
    variables: Any = None,
) -> tuple[str, list[list[Any]], dict[str, Any] | None]:
    """The count and a page of prompts, or the errors with their positions; and the seed it drew, for Generate.
    Returns (html, rows, memo)."""
    try:
        body = request(prompt, negative, values, mode, count, seed, variables)
        plan = service.plan(body, set(body), limit=PREVIEW_ROWS)
    except PlanError as exc:
        return plan_problems_html(exc, prompt, negative, values), [], None
    shown = "all shown" if plan.count is not None and len(plan.prompts) >= plan.count else f"showing {plan.images}"
    total = f"{plan.count:,}" if plan.count is not None else plan.count_text
    summary = message(f"{total} combinations ({shown}).")
    rows = [[s, p, n] for s, p, n in zip(plan.seeds, plan.prompts, plan.negative_prompts, strict=False)]
    return summary, rows, {"key": _key(body), "seed": plan.seeds[0]} if plan.seeds else None


def generate(
    service: PromptService,
    port: Generate,
    task_id: str,
    prompt: str,
    negative: str,
    values: str,
    mode: str,
    count: int,
    seed: int,
    variables: Any,
    sampler: str,
    steps: int,
    cfg: float,
    width: int,
    height: int,
    template: str,
    memo: Any = None,
) -> tuple[list[Any], list[str], str]:
    """Images captioned with their prompts, their infotexts, and a message; nothing is generated from a template
    with an error or over the limits. One plan, as the REST API makes it, run through the same port."""
    try:
        body = previewed_seed(request(prompt, negative, values, mode, count, seed, variables), memo)
        body.update(
            sampler_name=sampler or None,
            steps=int(steps or 20),
            cfg_scale=float(cfg or 7),
            width=int(width or 512),
            height=int(height or 512),
            save_images=True,  # the tab saves its images as txt2img does
        )
        plan = service.plan(body, set(body) - {"seed"} if body["seed"] is None else set(body))
    except PlanError as exc:
        return [], [], plan_problems_html(exc, prompt, negative, values)
    images, infotexts = port(plan, task_id)
    captioned = [(image, text) for image, text in zip(images, plan.prompts, strict=False)]
    return captioned, infotexts, message(f"{len(captioned)} images from '{template or 'the editor'}'.")
