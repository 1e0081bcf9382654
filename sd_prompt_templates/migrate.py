"""Moving a local template library (its SQLite file) into the database several WebUIs share: one transaction on the
target, so every template lands, or none does. The source is only read."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sd_prompt_templates import db
from sd_prompt_templates.library import ImportReport, OnConflict, TemplateStore


class MigrationError(Exception):
    """Nothing was moved; the message says why."""


@dataclass(frozen=True)
class Moved:
    source: Path
    target: str  # the target's URL, without its password
    report: ImportReport


def migrate_library(source: str | os.PathLike[str], target: str, *, on_conflict: OnConflict = "error") -> Moved:
    """Copy every template of the library file `source`, as it is (times and versions kept), into the library at
    `target` (a database URL). With
    `on_conflict="error"`, a name the target has already stops it all; "skip" keeps the target's, "replace" takes
    the source's. The bundled examples are not installed again where the source had them."""
    path = Path(source).expanduser()
    if not path.is_file():
        raise MigrationError(f"there is no library file at {path}: pass --from with the path of templates.sqlite3")
    url = db.database_url(target)
    if url.get_backend_name() == "sqlite" and Path(url.database or "").resolve() == path.resolve():
        raise MigrationError("the source and the target are the same library")
    local = TemplateStore(path)
    shared = TemplateStore(url)
    try:
        report = shared.adopt(local.list(), on_conflict=on_conflict, examples_seen=local.examples_installed())
    finally:
        local.database.dispose()
        shared.database.dispose()
    return Moved(path, db.describe(url), report)
