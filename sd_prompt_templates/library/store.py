"""The template library: one SQLite file, written one transaction per change.

The SQLite plumbing (WAL, synchronous=FULL, `BEGIN IMMEDIATE` transactions, the schema version and its migrations)
is sd_prompt_templates/db.py's; this module holds the library's own schema steps and queries.
"""

from __future__ import annotations

import builtins
import json
import os
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from sd_prompt_templates import db
from sd_prompt_templates.engine import DEFAULT_LIMITS, Limits
from sd_prompt_templates.library.records import (
    FieldProblem,
    InvalidTemplate,
    ParameterSchema,
    TemplateDraft,
    TemplateRecord,
    VariableSpec,
    validate_draft,
)

EXPORT_FORMAT = "sd-prompt-templates"
EXPORT_FORMAT_VERSION = 1
LIBRARY_ENV = "SD_PROMPT_TEMPLATES_LIBRARY"
EXAMPLES = Path(__file__).with_name("examples.json")

# The library's schema, step by step: a step, once released, never changes; a new one gets the next version.
MIGRATIONS: tuple[db.Migration, ...] = (
    (
        1,
        """
        CREATE TABLE templates (
            name TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            description TEXT NOT NULL,
            prompt TEXT NOT NULL,
            negative_prompt TEXT NOT NULL,
            variables TEXT NOT NULL,
            parameters TEXT NOT NULL,
            tags TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            version INTEGER NOT NULL
        );
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        """,
    ),
)

OnConflict = Literal["error", "skip", "replace"]


class StoreError(Exception):
    """Base of the library's refusals."""


class TemplateNotFound(StoreError, LookupError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"no template named '{name}'")


class TemplateExists(StoreError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"a template named '{name}' already exists")


class StaleVersion(StoreError):
    def __init__(self, name: str, expected: int, actual: int) -> None:
        self.name, self.expected, self.actual = name, expected, actual
        super().__init__(
            f"template '{name}' is at version {actual}, not {expected}: it changed since you read it; "
            "read it again and reapply your change"
        )


class NewerSchema(StoreError):
    pass


@dataclass(frozen=True)
class ImportReport:
    created: list[str]
    replaced: list[str]
    skipped: list[str]


def default_library_path(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """$SD_PROMPT_TEMPLATES_LIBRARY, else <data dir>/prompt-templates/templates.sqlite3 (the WebUI's data dir,
    or the current directory), so reinstalling or updating the extension never touches it."""
    override = os.environ.get(LIBRARY_ENV)
    if override:
        return Path(override).expanduser()
    return Path(data_dir or ".") / "prompt-templates" / "templates.sqlite3"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TemplateStore:
    def __init__(
        self,
        path: str | os.PathLike[str],
        limits: Limits = DEFAULT_LIMITS,
        *,
        parameter_schema: ParameterSchema | None = None,
    ) -> None:
        self.path = Path(path)
        self.limits = limits
        # What the WebUI's txt2img request takes, when known: a template's stored parameters must fit it.
        self.parameter_schema = parameter_schema
        try:
            self._db = db.Database(self.path, MIGRATIONS)
        except db.SchemaTooNew as exc:
            raise NewerSchema(
                f"{self.path} was written by a newer version of sd-prompt-templates "
                f"(schema {exc.found}, this one knows {exc.known}): update the extension"
            ) from None

    def schema_version(self) -> int:
        return self._db.schema_version()

    # -- reads ------------------------------------------------------------------------------------------------
    def list(self, query: str | None = None, tag: str | None = None) -> list[TemplateRecord]:
        """All templates by name; `query` matches name, title, description or a tag, case-insensitively."""
        with self._db.read() as conn:
            records = [_record(row) for row in conn.execute("SELECT * FROM templates ORDER BY name")]
        if tag:
            records = [r for r in records if tag.strip().lower() in r.tags]
        if query:
            q = query.strip().lower()
            records = [
                r
                for r in records
                if q in r.name or q in r.title.lower() or q in r.description.lower() or any(q in t for t in r.tags)
            ]
        return records

    def get(self, name: str) -> TemplateRecord:
        with self._db.read() as conn:
            row = conn.execute("SELECT * FROM templates WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise TemplateNotFound(name)
        return _record(row)

    # -- writes -----------------------------------------------------------------------------------------------
    def create(self, data: Mapping[str, Any] | TemplateDraft) -> TemplateRecord:
        draft = self._valid(data)
        with self._db.write() as conn:
            if _exists(conn, draft.name):
                raise TemplateExists(draft.name)
            return _insert(conn, draft, None, 1)

    def update(self, name: str, data: Mapping[str, Any] | TemplateDraft, *, expected_version: int) -> TemplateRecord:
        """Replace a template's fields (a different `name` renames it). Refused if it changed since
        `expected_version` was read: a stale write is never merged."""
        draft = self._valid(data)
        with self._db.write() as conn:
            current = _locked_version(conn, name)
            if current != expected_version:
                raise StaleVersion(name, expected_version, current)
            created = conn.execute("SELECT created_at FROM templates WHERE name = ?", (name,)).fetchone()[0]
            if draft.name != name and _exists(conn, draft.name):
                raise TemplateExists(draft.name)
            conn.execute("DELETE FROM templates WHERE name = ?", (name,))
            record = _insert(conn, draft, created, current + 1)
        return record

    def delete(self, name: str, *, expected_version: int | None = None) -> None:
        with self._db.write() as conn:
            current = _locked_version(conn, name)
            if expected_version is not None and current != expected_version:
                raise StaleVersion(name, expected_version, current)
            conn.execute("DELETE FROM templates WHERE name = ?", (name,))

    # -- import / export --------------------------------------------------------------------------------------
    def export(self, names: Iterable[str] | None = None) -> dict[str, Any]:
        records = self.list() if names is None else [self.get(n) for n in dict.fromkeys(names)]  # each once
        return {
            "format": EXPORT_FORMAT,
            "format_version": EXPORT_FORMAT_VERSION,
            "exported_at": _now(),
            "templates": [r.as_dict() for r in records],
        }

    def import_(self, document: Mapping[str, Any], *, on_conflict: OnConflict = "error") -> ImportReport:
        """Import an export document in one transaction: every template is checked first, and either all of
        it lands or none of it does."""
        drafts = self._parse_document(document)
        if on_conflict not in ("error", "skip", "replace"):
            raise ValueError("on_conflict must be 'error', 'skip' or 'replace'")
        report = ImportReport([], [], [])
        with self._db.write() as conn:
            for draft in drafts:
                row = conn.execute("SELECT version, created_at FROM templates WHERE name = ?", (draft.name,)).fetchone()
                if row is None:
                    _insert(conn, draft, None, 1)
                    report.created.append(draft.name)
                elif on_conflict == "skip":
                    report.skipped.append(draft.name)
                elif on_conflict == "replace":
                    conn.execute("DELETE FROM templates WHERE name = ?", (draft.name,))
                    _insert(conn, draft, row["created_at"], row["version"] + 1)
                    report.replaced.append(draft.name)
                else:
                    raise TemplateExists(draft.name)
        return report

    def install_examples(self, path: Path = EXAMPLES) -> ImportReport | None:
        """Import the bundled examples the first time only; a user who deletes one does not see it come back."""
        document = json.loads(path.read_text(encoding="utf-8"))
        drafts = self._parse_document(document)
        with self._db.write() as conn:
            if conn.execute("SELECT 1 FROM meta WHERE key = 'examples_installed'").fetchone():
                return None
            report = ImportReport([], [], [])
            for draft in drafts:
                if _exists(conn, draft.name):
                    report.skipped.append(draft.name)
                else:
                    _insert(conn, draft, None, 1)
                    report.created.append(draft.name)
            conn.execute("INSERT INTO meta (key, value) VALUES ('examples_installed', ?)", (_now(),))
        return report

    # -- helpers ----------------------------------------------------------------------------------------------
    def _valid(self, data: Mapping[str, Any] | TemplateDraft) -> TemplateDraft:
        data = data.as_dict() if isinstance(data, TemplateDraft) else data
        return validate_draft(data, self.limits, schema=self.parameter_schema)

    def _parse_document(self, document: Mapping[str, Any]) -> builtins.list[TemplateDraft]:
        if not isinstance(document, Mapping) or document.get("format") != EXPORT_FORMAT:
            raise InvalidTemplate([FieldProblem("format", f"is not an export of this extension ('{EXPORT_FORMAT}')")])
        version = document.get("format_version")
        if not isinstance(version, int) or version > EXPORT_FORMAT_VERSION:
            raise InvalidTemplate([FieldProblem("format_version", f"must be at most {EXPORT_FORMAT_VERSION}")])
        items = document.get("templates")
        if not isinstance(items, list):
            raise InvalidTemplate([FieldProblem("templates", "must be a list")])
        problems: builtins.list[FieldProblem] = []
        drafts: builtins.list[TemplateDraft] = []
        for i, item in enumerate(items):
            try:
                draft = validate_draft(item, self.limits, prefix=f"templates.{i}.", schema=self.parameter_schema)
            except InvalidTemplate as exc:
                problems.extend(exc.problems)
                continue
            if any(d.name == draft.name for d in drafts):
                problems.append(FieldProblem(f"templates.{i}.name", f"'{draft.name}' appears twice in the file"))
            drafts.append(draft)
        if problems:
            raise InvalidTemplate(problems)
        return drafts


def _exists(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM templates WHERE name = ?", (name,)).fetchone() is not None


def _locked_version(conn: sqlite3.Connection, name: str) -> int:
    row = conn.execute("SELECT version FROM templates WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise TemplateNotFound(name)
    return int(row[0])


def _insert(conn: sqlite3.Connection, draft: TemplateDraft, created_at: str | None, version: int) -> TemplateRecord:
    """Write a template; a new one (created_at None) gets one timestamp for both created and updated."""
    now = _now()
    record = TemplateRecord(**vars(draft), created_at=created_at or now, updated_at=now, version=version)
    conn.execute(
        "INSERT INTO templates (name, title, description, prompt, negative_prompt, variables, parameters, tags, "
        "created_at, updated_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            record.name,
            record.title,
            record.description,
            record.prompt,
            record.negative_prompt,
            json.dumps([v.as_dict() for v in record.variables]),
            json.dumps(dict(record.parameters)),
            json.dumps(list(record.tags)),
            record.created_at,
            record.updated_at,
            record.version,
        ),
    )
    return record


def _record(row: sqlite3.Row) -> TemplateRecord:
    variables = tuple(
        VariableSpec(v["name"], v["type"], v.get("default"), tuple(v.get("choices", ())), v.get("description", ""))
        for v in json.loads(row["variables"])
    )
    return TemplateRecord(
        name=row["name"],
        title=row["title"],
        description=row["description"],
        prompt=row["prompt"],
        negative_prompt=row["negative_prompt"],
        variables=variables,
        parameters=json.loads(row["parameters"]),
        tags=tuple(json.loads(row["tags"])),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=int(row["version"]),
    )
