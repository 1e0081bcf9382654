"""The template library: a SQLite file in the WebUI's data folder, or the PostgreSQL database several WebUIs share,
written one transaction per change.

The database plumbing (engines, serialized write transactions, the schema version and its upgrades) is
sd_prompt_templates/db.py's; this module holds the library's own tables and queries. Nothing is cached: every read
sees what any WebUI committed last, and a write is checked against the version its caller read.
"""

from __future__ import annotations

import builtins
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

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
EXAMPLES_KEY = "examples_installed"

METADATA = sa.MetaData()
TEMPLATES = sa.Table(
    "templates",
    METADATA,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("prompt", sa.Text, nullable=False),
    sa.Column("negative_prompt", sa.Text, nullable=False),
    sa.Column("variables", sa.Text, nullable=False),  # JSON
    sa.Column("parameters", sa.Text, nullable=False),  # JSON
    sa.Column("tags", sa.Text, nullable=False),  # JSON
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)
META = sa.Table(
    "meta",
    METADATA,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
SCHEMA = db.Schema("library", METADATA)
T = TEMPLATES.c

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


class LibraryUnavailable(StoreError, db.DatabaseUnavailable):
    """The library's database cannot be reached (a server down or away): the API answers 503, the tab says so."""


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
        path: str | os.PathLike[str] | URL,
        limits: Limits = DEFAULT_LIMITS,
        *,
        parameter_schema: ParameterSchema | None = None,
    ) -> None:
        """`path`: the library's SQLite file, or a database URL (`postgresql://…`: shared by several WebUIs)."""
        self.limits = limits
        # What the WebUI's txt2img request takes, when known: a template's stored parameters must fit it.
        self.parameter_schema = parameter_schema
        try:
            self._db = db.Database(path, SCHEMA)
        except db.DatabaseUnavailable as exc:
            raise LibraryUnavailable(str(exc)) from None
        except db.SchemaTooNew as exc:
            raise NewerSchema(
                f"{db.describe(db.database_url(path))} was written by a newer version of sd-prompt-templates "
                f"(schema {exc.found}, this one knows {exc.known}): update the extension"
            ) from None

    @property
    def path(self) -> Path | None:
        """The library's SQLite file; None in a database server."""
        return self._db.path

    @property
    def database(self) -> db.Database:
        return self._db

    def schema_version(self) -> int:
        return self._db.schema_version()

    # -- reads ------------------------------------------------------------------------------------------------
    def list(self, query: str | None = None, tag: str | None = None) -> list[TemplateRecord]:
        """All templates by name; `query` matches name, title, description or a tag, case-insensitively."""
        with self._reading() as conn:
            records = [_record(row) for row in conn.execute(sa.select(TEMPLATES).order_by(T.name)).mappings()]
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
        with self._reading() as conn:
            row = conn.execute(sa.select(TEMPLATES).where(T.name == name)).mappings().first()
        if row is None:
            raise TemplateNotFound(name)
        return _record(row)

    # -- writes -----------------------------------------------------------------------------------------------
    def create(self, data: Mapping[str, Any] | TemplateDraft) -> TemplateRecord:
        draft = self._valid(data)
        with self._writing() as conn:
            if _exists(conn, draft.name):
                raise TemplateExists(draft.name)
            return _insert(conn, draft, None, 1)

    def update(self, name: str, data: Mapping[str, Any] | TemplateDraft, *, expected_version: int) -> TemplateRecord:
        """Replace a template's fields (a different `name` renames it). Refused if it changed since
        `expected_version` was read: a stale write is never merged."""
        draft = self._valid(data)
        with self._writing() as conn:
            current = _locked_version(conn, name)
            if current != expected_version:
                raise StaleVersion(name, expected_version, current)
            created = conn.scalar(sa.select(T.created_at).where(T.name == name))
            if draft.name != name and _exists(conn, draft.name):
                raise TemplateExists(draft.name)
            conn.execute(TEMPLATES.delete().where(T.name == name))
            record = _insert(conn, draft, created, current + 1)
        return record

    def delete(self, name: str, *, expected_version: int | None = None) -> None:
        with self._writing() as conn:
            current = _locked_version(conn, name)
            if expected_version is not None and current != expected_version:
                raise StaleVersion(name, expected_version, current)
            conn.execute(TEMPLATES.delete().where(T.name == name))

    # -- import / export --------------------------------------------------------------------------------------
    def export(self, names: Iterable[str] | None = None) -> dict[str, Any]:
        records = self.list() if names is None else [self.get(n) for n in dict.fromkeys(names)]  # each once
        return {
            "format": EXPORT_FORMAT,
            "format_version": EXPORT_FORMAT_VERSION,
            "exported_at": _now(),
            "templates": [r.as_dict() for r in records],
        }

    def import_(
        self, document: Mapping[str, Any], *, on_conflict: OnConflict = "error", examples_seen: bool = False
    ) -> ImportReport:
        """Import an export document in one transaction: every template is checked first, and either all of
        it lands or none of it does. `examples_seen`: the library it comes from had its examples installed, so
        this one must not install them again (a library moved whole)."""
        drafts = self._parse_document(document)
        if on_conflict not in ("error", "skip", "replace"):
            raise ValueError("on_conflict must be 'error', 'skip' or 'replace'")
        report = ImportReport([], [], [])
        with self._writing() as conn:
            for draft in drafts:
                row = conn.execute(sa.select(T.version, T.created_at).where(T.name == draft.name)).mappings().first()
                if row is None:
                    _insert(conn, draft, None, 1)
                    report.created.append(draft.name)
                elif on_conflict == "skip":
                    report.skipped.append(draft.name)
                elif on_conflict == "replace":
                    conn.execute(TEMPLATES.delete().where(T.name == draft.name))
                    _insert(conn, draft, row["created_at"], row["version"] + 1)
                    report.replaced.append(draft.name)
                else:
                    raise TemplateExists(draft.name)
            if examples_seen and not _examples_installed(conn):
                conn.execute(META.insert().values(key=EXAMPLES_KEY, value=_now()))
        return report

    def adopt(
        self, records: Iterable[TemplateRecord], *, on_conflict: OnConflict = "error", examples_seen: bool = False
    ) -> ImportReport:
        """Take another library's templates as they are — times and versions kept — in one transaction: all of
        them, or none (a library moved into a shared database). A replaced template's version goes past the one it
        replaces, so a stale edit of it is refused. `examples_seen`: as `import_`."""
        report = ImportReport([], [], [])
        with self._writing() as conn:
            for record in records:
                current = conn.scalar(sa.select(T.version).where(T.name == record.name))
                if current is None:
                    _write_record(conn, record)
                    report.created.append(record.name)
                elif on_conflict == "skip":
                    report.skipped.append(record.name)
                elif on_conflict == "replace":
                    conn.execute(TEMPLATES.delete().where(T.name == record.name))
                    _write_record(conn, replace(record, version=max(record.version, current + 1)))
                    report.replaced.append(record.name)
                else:
                    raise TemplateExists(record.name)
            if examples_seen and not _examples_installed(conn):
                conn.execute(META.insert().values(key=EXAMPLES_KEY, value=_now()))
        return report

    def examples_installed(self) -> bool:
        with self._reading() as conn:
            return _examples_installed(conn)

    def install_examples(self, path: Path = EXAMPLES) -> ImportReport | None:
        """Import the bundled examples the first time only; a user who deletes one does not see it come back."""
        document = json.loads(path.read_text(encoding="utf-8"))
        drafts = self._parse_document(document)
        with self._writing() as conn:
            if _examples_installed(conn):
                return None
            report = ImportReport([], [], [])
            for draft in drafts:
                if _exists(conn, draft.name):
                    report.skipped.append(draft.name)
                else:
                    _insert(conn, draft, None, 1)
                    report.created.append(draft.name)
            conn.execute(META.insert().values(key=EXAMPLES_KEY, value=_now()))
        return report

    # -- helpers ----------------------------------------------------------------------------------------------
    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        with _reachable(self._db), self._db.read() as conn:
            yield conn

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        with _reachable(self._db), self._db.write() as conn:
            yield conn

    # -- checks ----------------------------------------------------------------------------------------------
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


@contextmanager
def _reachable(database: db.Database) -> Iterator[None]:
    """A database that went away mid-operation is a LibraryUnavailable with the reason, never a bare error."""
    try:
        yield
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        detail = reason[0] if reason else type(exc).__name__
        raise LibraryUnavailable(
            f"the template library ({db.describe(database.url)}) is not available: {detail}"
        ) from None


def _examples_installed(conn: Connection) -> bool:
    return conn.scalar(sa.select(META.c.value).where(META.c.key == EXAMPLES_KEY)) is not None


def _exists(conn: Connection, name: str) -> bool:
    return conn.scalar(sa.select(T.version).where(T.name == name)) is not None


def _locked_version(conn: Connection, name: str) -> int:
    """The version, read inside the write transaction: no other writer can change it before this one commits."""
    version = conn.scalar(sa.select(T.version).where(T.name == name))
    if version is None:
        raise TemplateNotFound(name)
    return int(version)


def _insert(conn: Connection, draft: TemplateDraft, created_at: str | None, version: int) -> TemplateRecord:
    """Write a template; a new one (created_at None) gets one timestamp for both created and updated."""
    now = _now()
    record = TemplateRecord(**vars(draft), created_at=created_at or now, updated_at=now, version=version)
    _write_record(conn, record)
    return record


def _record(row: sa.RowMapping) -> TemplateRecord:
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


def _write_record(conn: Connection, record: TemplateRecord) -> None:
    conn.execute(
        TEMPLATES.insert().values(
            name=record.name,
            title=record.title,
            description=record.description,
            prompt=record.prompt,
            negative_prompt=record.negative_prompt,
            variables=json.dumps([v.as_dict() for v in record.variables]),
            parameters=json.dumps(dict(record.parameters)),
            tags=json.dumps(list(record.tags)),
            created_at=record.created_at,
            updated_at=record.updated_at,
            version=record.version,
        )
    )
