"""Wildcard collections on disk, laid out as sd-dynamic-prompts lays them out, so existing collections work as is.

- `colors.txt` is `__colors__`, `people/artists.txt` is `__people/artists__`: one entry a line, blank lines and lines
  starting with `#` skipped.
- In `.yaml`/`.yml`/`.json` files nested keys become path segments below the file's folder (the file's own name is
  not part of it): `clothes: {tops: [...]}` in `sets/wear.yaml` is `__sets/clothes/tops__`. Items may carry a
  weight, `"2::red"` or `{text: red, weight: 2}`.

Names are looked up in an index built by walking the roots; user text is never joined into a path. Files that
resolve (through symlinks) to somewhere outside their root are not indexed. The index is built on first use and
checked again for changes at most once per `rescan_interval` seconds; file contents are cached by (mtime, size).
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sd_prompt_templates.engine import WildcardEntry, WildcardLookupError

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt",)
STRUCTURED_SUFFIXES = (".yaml", ".yml", ".json")
MAX_DIRECTORIES = 10_000  # per root: links that fan out must not make a scan endless
_SEGMENT = re.compile(r"[\w\-.+'&*?]+")
_WEIGHTED = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*::(.*)", re.DOTALL)


def check_name(pattern: str) -> None:
    """Refuse names that could only be attempts to leave the collection, with a message saying why."""
    shown = f"'__{pattern}__'"
    if not pattern:
        raise WildcardLookupError("a wildcard name cannot be empty")
    if "\x00" in pattern:
        raise WildcardLookupError(f"wildcard name {shown} contains a NUL character")
    if "\\" in pattern:
        raise WildcardLookupError(f"wildcard name {shown} contains a backslash: use '/' between folders")
    if "%" in pattern:
        raise WildcardLookupError(f"wildcard name {shown} contains '%': names are not URL-encoded")
    if pattern.startswith("/") or re.match(r"[A-Za-z]:", pattern):
        raise WildcardLookupError(f"wildcard name {shown} is an absolute path: names are relative to a collection")
    if "(" in pattern:
        raise WildcardLookupError(f"wildcard name {shown}: wildcard parameters '(...)' are not supported")
    for segment in pattern.split("/"):
        if segment in ("", ".", ".."):
            raise WildcardLookupError(f"wildcard name {shown} has an empty, '.' or '..' folder")
        if not _SEGMENT.fullmatch(segment):
            raise WildcardLookupError(
                f"wildcard name {shown} has a character a name cannot have "
                "(letters, digits and _ - . + ' & are allowed, * and ? as globs)"
            )


@dataclass(frozen=True)
class _Collection:
    name: str
    path: Path
    root: Path
    keys: tuple[str, ...]  # inside a structured file; empty for .txt

    @property
    def display_path(self) -> str:
        return self.path.relative_to(self.root).as_posix()


@dataclass(frozen=True)
class WildcardInfo:
    name: str
    file: str  # relative to its root
    root: str


class WildcardLibrary:
    """Wildcards from one or more directories; the first root that has a name wins."""

    def __init__(self, roots: Iterable[str | os.PathLike[str]], *, rescan_interval: float = 1.0) -> None:
        self.roots = [Path(r) for r in roots]
        self.rescan_interval = rescan_interval
        self._lock = threading.Lock()
        self._index: dict[str, _Collection] = {}
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._checked_at = float("-inf")
        self._file_cache: dict[Path, tuple[tuple[int, int], Any]] = {}

    # -- public -----------------------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(self._current())

    def collections(self) -> list[WildcardInfo]:
        index = self._current()
        return [WildcardInfo(n, index[n].display_path, str(index[n].root)) for n in sorted(index)]

    def resolve(self, pattern: str) -> tuple[WildcardEntry, ...]:
        """Entries for a name or glob (`*`, `?`), in file order; raises WildcardLookupError with a reason."""
        check_name(pattern)
        index = self._current()
        if "*" in pattern or "?" in pattern:
            matches = [n for n in sorted(index) if fnmatch.fnmatchcase(n, pattern)]
            if not matches:
                raise WildcardLookupError(f"no wildcard matches '__{pattern}__'")
            return tuple(e for n in matches for e in self._entries(index[n]))
        collection = index.get(pattern)
        if collection is None:
            close = difflib.get_close_matches(pattern, index, n=3)
            hint = f"; did you mean {', '.join(f'__{c}__' for c in close)}?" if close else ""
            where = "no wildcard directories are set up" if not self.roots else f"{len(index)} wildcards are known"
            raise WildcardLookupError(f"wildcard '__{pattern}__' is unknown ({where}){hint}")
        return self._entries(collection)

    # -- index ------------------------------------------------------------------------------------------------
    def _current(self) -> dict[str, _Collection]:
        now = time.monotonic()
        if now - self._checked_at < self.rescan_interval:
            return self._index
        with self._lock:
            files = list(self._walk())
            signature = tuple((str(p), *self._stat(p)) for p, _ in files)
            if signature != self._signature:
                self._index = self._build(files)
                self._signature = signature
                live = {p for p, _ in files}
                self._file_cache = {p: v for p, v in self._file_cache.items() if p in live}
            self._checked_at = time.monotonic()
            return self._index

    @staticmethod
    def _stat(path: Path) -> tuple[int, int]:
        try:
            st = path.stat()
        except OSError:
            return (0, -1)
        return (st.st_mtime_ns, st.st_size)

    def _walk(self) -> Iterator[tuple[Path, Path]]:
        """(path as walked below its root, real root) of each candidate file, roots in order."""
        for root in self.roots:
            try:
                real_root = root.resolve(strict=True)
            except OSError:
                log.warning("wildcard directory %s does not exist", root)
                continue
            if not real_root.is_dir():
                continue
            visited = 0
            for dirpath, dirnames, filenames in os.walk(real_root, followlinks=True):
                here = Path(dirpath)
                real_dir = here.resolve()
                looped = here != real_root and _inside(here.parent.resolve(), real_dir)
                visited += 1
                if looped or not _inside(real_dir, real_root) or visited > MAX_DIRECTORIES:
                    dirnames[:] = []
                    continue
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for filename in sorted(filenames):
                    if not filename.lower().endswith(TEXT_SUFFIXES + STRUCTURED_SUFFIXES) or filename.startswith("."):
                        continue
                    real = (Path(dirpath) / filename).resolve()
                    if _inside(real, real_root) and real.is_file():
                        yield Path(dirpath, filename), real_root

    def _build(self, files: list[tuple[Path, Path]]) -> dict[str, _Collection]:
        index: dict[str, _Collection] = {}
        for path, root in files:
            rel = path.relative_to(root).with_suffix("").as_posix()
            if path.suffix.lower() in TEXT_SUFFIXES:
                index.setdefault(rel, _Collection(rel, path, root, ()))
                continue
            folder = path.parent.relative_to(root).as_posix()
            prefix = "" if folder == "." else folder + "/"
            try:
                data = self._load(path)
            except Exception as exc:  # a broken file must not hide the rest of the collection
                log.warning("wildcard file %s cannot be read: %s", path, exc)
                continue
            for keys in _structured_names(data):
                name = prefix + "/".join(keys)
                index.setdefault(name, _Collection(name, path, root, keys))
        return index

    # -- contents ---------------------------------------------------------------------------------------------
    def _load(self, path: Path) -> Any:
        stamp = self._stat(path)
        cached = self._file_cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        text = path.read_text(encoding="utf-8-sig", errors="replace")
        suffix = path.suffix.lower()
        if suffix in TEXT_SUFFIXES:
            data: Any = text
        elif suffix == ".json":
            data = json.loads(text)
        else:
            import yaml  # PyYAML ships with the WebUI; imported here so plain .txt collections never need it

            data = yaml.safe_load(text)
        self._file_cache[path] = (stamp, data)
        return data

    def _entries(self, collection: _Collection) -> tuple[WildcardEntry, ...]:
        try:
            data = self._load(collection.path)
        except Exception as exc:
            raise WildcardLookupError(
                f"wildcard '__{collection.name}__' cannot be read from {collection.display_path}: {exc}"
            ) from None
        shown = collection.display_path
        if not collection.keys:
            return tuple(
                WildcardEntry(line.strip(), 1.0, f"{shown} line {n}")
                for n, line in enumerate(str(data).splitlines(), 1)
                if line.strip() and not line.strip().startswith("#")
            )
        for key in collection.keys:
            data = data.get(key) if isinstance(data, dict) else None
        where = f"{shown}, key {'/'.join(collection.keys)}"
        return tuple(_structured_entries([data] if isinstance(data, str) else data or [], where))


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _structured_names(data: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        if not isinstance(key, str) or not value:
            continue
        if isinstance(value, dict):
            yield from _structured_names(value, (*prefix, key))
        elif isinstance(value, (list, str)):
            yield (*prefix, key)


def _structured_entries(items: Sequence[Any], where: str) -> Iterator[WildcardEntry]:
    for n, item in enumerate(items, 1):
        origin = f"{where} item {n}"
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            item = str(item)
        if isinstance(item, str):
            m = _WEIGHTED.fullmatch(item)
            if m and float(m.group(1)) > 0 and m.group(2).strip():
                yield WildcardEntry(m.group(2).strip(), float(m.group(1)), origin)
            elif item.strip():
                yield WildcardEntry(item.strip(), 1.0, origin)
        elif isinstance(item, dict):
            text = item.get("text") or item.get("content")
            weight = item.get("weight", 1)
            if isinstance(text, str) and text.strip() and isinstance(weight, (int, float)) and weight > 0:
                yield WildcardEntry(text.strip(), float(weight), origin)
