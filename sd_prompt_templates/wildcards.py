"""Wildcard collections on disk, loaded as sd-dynamic-prompts (its `dynamicprompts` library) loads them, so existing
collections work as they are.

- `colors.txt` is `__colors__`, `people/artists.txt` is `__people/artists__`, `my colors.txt` is `__my colors__`: one
  entry a line, blank lines and lines starting with `#` skipped.
- In `.yaml`/`.yml`/`.json` files nested keys become path segments below the file's folder (the file's own name is
  not part of it): `clothes: {tops: [...]}` in `sets/wear.yaml` is `__sets/clothes/tops__`. A key holding text is a
  collection of that one entry. A file that is a plain list is a collection named after the file:
  `animals/reptiles/lizards.yaml` holding `- iguana` is `__animals/reptiles/lizards__`. Items may carry a weight,
  `"2::red"`, `{text: red, weight: 2}` or `{content: red, weight: 2}`. As in dynamicprompts, keys that are not
  text, values that are neither text, list nor mapping, and list items that are neither text nor `{text: ...}` (a
  number, `true`, a date) are left out; each is reported by `problems()`, with what to write instead.
- Globs: `*` and `?` match any characters, `/` included, so `__animals/*__` and `__animals/**__` both take every
  collection below `animals/`, as in dynamicprompts.
- A name is looked up as written; then, for a reference inside an entry, next to the collection holding the entry
  and in that collection's parent folders (`__mammals/canine__` in `animals/all-references.txt` is
  `animals/mammals/canine`); then, as dynamicprompts does, as `**/name` anywhere below the root.
- Entries with the same text collapse into one, the first keeping its place and the weights adding up, within a
  collection and across the collections a glob matches (dynamicprompts deduplicates as well).

Names are looked up in an index built by walking the roots; user text is never joined into a path. Files that
resolve (through symlinks) to somewhere outside their root are not indexed. The index is built on first use and
checked again for changes at most once per `rescan_interval` seconds; file contents are cached by (mtime, size), and
what a name resolves to is kept until the index changes. A file that cannot be read or parsed is left out, logged
once per change, and listed by `problems()` with its line when the parser gives one.
"""

from __future__ import annotations

import codecs
import difflib
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sd_prompt_templates.engine import WildcardEntry, WildcardLookupError

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt",)
STRUCTURED_SUFFIXES = (".yaml", ".yml", ".json")
NO_PYYAML = "reading YAML needs PyYAML: python -m pip install PyYAML"
MAX_DIRECTORIES = 10_000  # per root: links that fan out must not make a scan endless
MAX_KEY_DEPTH = 64  # nesting of keys in one structured file
MAX_COLLECTIONS_PER_FILE = 100_000  # YAML aliases can make a small file name a huge number of collections
MAX_MEMO = 20_000  # resolved (name, folder) pairs kept per generation of the index
_WEIGHTED = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*::(.*)", re.DOTALL)
_DRIVE = re.compile(r"[A-Za-z]:(?:/|$)")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # what Python's universal newlines split on, as dynamicprompts reads


def check_name(pattern: str) -> None:
    """Refuse names that could only be attempts to leave the collection, with a message saying why.

    Any other character a file name may hold is fine (spaces, `&`, `'`, `+`, `(`, `%`...): names are only ever
    looked up in the index, never joined into a path.
    """
    shown = f"'__{pattern}__'"
    if not pattern:
        raise WildcardLookupError("a wildcard name cannot be empty")
    if "\x00" in pattern:
        raise WildcardLookupError(f"wildcard name {shown} contains a NUL character")
    if "\\" in pattern:
        raise WildcardLookupError(f"wildcard name {shown} contains a backslash: use '/' between folders")
    if pattern.startswith("/") or _DRIVE.match(pattern):
        raise WildcardLookupError(f"wildcard name {shown} is an absolute path: names are relative to a collection")
    for segment in pattern.split("/"):
        if segment in ("", ".", ".."):
            raise WildcardLookupError(f"wildcard name {shown} has an empty, '.' or '..' folder")


def _is_glob(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern


def _glob(pattern: str) -> re.Pattern[str]:
    """`*` (and `**`) any characters, `/` included, `?` any one: what fnmatch does in dynamicprompts. `[` is itself."""
    parts = []
    for piece in re.split(r"(\*+|\?)", pattern):
        parts.append(".*" if piece.startswith("*") else "." if piece == "?" else re.escape(piece))
    return re.compile("".join(parts), re.DOTALL)


@dataclass(frozen=True)
class WildcardProblem:
    """Something in a wildcard file that could not be loaded: the file (as found on disk), the line when known."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.file}{f' line {self.line}' if self.line else ''}: {self.message}"


@dataclass(frozen=True)
class WildcardInfo:
    name: str
    file: str  # relative to its root
    root: str


@dataclass(frozen=True)
class _Collection:
    name: str
    file: str  # relative to its root
    root: Path
    text: str | None = None  # a .txt file's contents, split into entries when first resolved
    entries: tuple[WildcardEntry, ...] = ()  # a structured file's, ready


@dataclass(frozen=True)
class _Loaded:
    collections: tuple[_Collection, ...]
    problems: tuple[WildcardProblem, ...]
    failed: bool = False  # nothing could be loaded from the file


@dataclass
class _Index:
    """One generation of the index; everything memoised here lives until the files change."""

    collections: dict[str, _Collection]
    problems: tuple[WildcardProblem, ...]
    failed: dict[str, WildcardProblem] = field(default_factory=dict)  # a file that loaded nothing, by name: `a/b`
    names: list[str] = field(init=False)
    resolved: dict[tuple[str, str], tuple[WildcardEntry, ...] | WildcardLookupError] = field(default_factory=dict)
    entries: dict[str, tuple[WildcardEntry, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.names = sorted(self.collections)


@dataclass(frozen=True)
class _Found:
    path: Path  # as walked
    rel: str  # relative to the root, '/'-separated
    root: Path  # the real root
    stamp: tuple[int, int]  # (mtime_ns, size)


class WildcardLibrary:
    """Wildcards from one or more directories; the first root that has a name wins."""

    def __init__(self, roots: Iterable[str | os.PathLike[str]], *, rescan_interval: float = 1.0) -> None:
        self.roots = [Path(r) for r in roots]
        self.rescan_interval = rescan_interval
        self._lock = threading.Lock()
        self._index = _Index({}, ())
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._checked_at = float("-inf")
        self._file_cache: dict[tuple[Path, str], tuple[tuple[int, int], _Loaded]] = {}
        self._missing_roots: set[Path] = set()

    # -- public -----------------------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return list(self._current().names)

    def collections(self) -> list[WildcardInfo]:
        index = self._current()
        found = index.collections
        return [WildcardInfo(n, found[n].file, str(found[n].root)) for n in index.names]

    def problems(self) -> list[WildcardProblem]:
        """What could not be loaded from the wildcard files, in file order (each also logged once per change)."""
        return list(self._current().problems)

    def resolve(self, pattern: str, near: str = "") -> tuple[WildcardEntry, ...]:
        """Entries for a name or glob (`*`, `?`), deduplicated, in file order; raises WildcardLookupError.

        `near` is the collection whose entry holds the reference ("" for a template): a name that matches nothing
        as written is looked up in that collection's folder and then in each parent folder.
        """
        index = self._current()
        key = (pattern, near.rpartition("/")[0])
        found = index.resolved.get(key)
        if found is None:
            found = self._resolve(index, pattern, key[1])
            if len(index.resolved) >= MAX_MEMO:  # names made up by callers must not grow it without end
                index.resolved.clear()
            index.resolved[key] = found
        if isinstance(found, WildcardLookupError):
            raise WildcardLookupError(*found.args)
        return found

    # -- lookup -----------------------------------------------------------------------------------------------
    def _resolve(self, index: _Index, pattern: str, folder: str) -> tuple[WildcardEntry, ...] | WildcardLookupError:
        try:
            check_name(pattern)
        except WildcardLookupError as exc:
            return exc
        names = self._match(index, pattern, folder)
        if not names:
            return self._unknown(index, pattern, folder)
        if len(names) == 1:
            return self._entries(index, names[0])
        return _dedupe(e for n in names for e in self._entries(index, n))

    @staticmethod
    def _match(index: _Index, pattern: str, folder: str) -> list[str]:
        glob = _is_glob(pattern)
        for candidate in _candidates(pattern, folder):
            if candidate in index.collections:
                return [candidate]
            if glob:
                regex = _glob(candidate)
                matches = [n for n in index.names if regex.fullmatch(n)]
                if matches:
                    return matches
        if pattern.startswith("**"):
            return []
        regex = _glob(f"**/{pattern}")  # dynamicprompts' fallback for a name that matches nothing
        return [n for n in index.names if regex.fullmatch(n)]

    def _unknown(self, index: _Index, pattern: str, folder: str) -> WildcardLookupError:
        if _is_glob(pattern):
            return WildcardLookupError(f"no wildcard matches '__{pattern}__'")
        close = difflib.get_close_matches(pattern, index.names, n=3)
        hint = f"; did you mean {', '.join(f'__{c}__' for c in close)}?" if close else ""
        where = "no wildcard directories are set up" if not self.roots else f"{len(index.names)} wildcards are known"
        if folder:
            where += f", looked in '{folder}/' and its parents too"
        if "(" in pattern:
            hint += " (wildcard parameters '(...)' are not supported)"
        broken = [index.failed[c] for c in _candidates(pattern, folder) if c in index.failed]
        if not broken:  # without PyYAML, any .yaml file could have held the name
            broken = [p for p in index.problems if p.message == NO_PYYAML][:1]
        if broken:
            where_line = f" (line {broken[0].line})" if broken[0].line else ""
            others = len(index.problems) - 1 if broken[0] in index.problems else 0
            more = f" (and {others} more files)" if others > 0 else ""
            hint += f"; {broken[0].file} could not be loaded{where_line}: {broken[0].message}{more}"
        return WildcardLookupError(f"wildcard '__{pattern}__' is unknown ({where}){hint}")

    @staticmethod
    def _entries(index: _Index, name: str) -> tuple[WildcardEntry, ...]:
        entries = index.entries.get(name)
        if entries is None:
            collection = index.collections[name]
            entries = collection.entries if collection.text is None else _text_entries(collection)
            index.entries[name] = entries
        return entries

    # -- index ------------------------------------------------------------------------------------------------
    def _current(self) -> _Index:
        now = time.monotonic()
        if now - self._checked_at < self.rescan_interval:
            return self._index
        with self._lock:
            if time.monotonic() - self._checked_at < self.rescan_interval:
                return self._index  # another thread just checked
            files = list(self._walk())
            signature = tuple((str(f.path), *f.stamp) for f in files)
            if signature != self._signature:
                self._index = self._build(files)
                self._signature = signature
            self._checked_at = time.monotonic()
            return self._index

    def _walk(self) -> Iterator[_Found]:
        """Each candidate file below each root, roots in order, folders depth first, names sorted."""
        missing: set[Path] = set()
        for root in self.roots:
            try:
                real_root = root.resolve(strict=True)
            except OSError:
                missing.add(root)
                if root not in self._missing_roots:
                    log.warning("wildcard directory %s does not exist", root)
                continue
            if real_root.is_dir():
                yield from _walk_root(real_root)
        self._missing_roots = missing

    def _build(self, files: list[_Found]) -> _Index:
        collections: dict[str, _Collection] = {}
        problems: list[WildcardProblem] = []
        failed: dict[str, WildcardProblem] = {}
        cache: dict[tuple[Path, str], tuple[tuple[int, int], _Loaded]] = {}
        for found in files:
            key = (found.root, found.rel)
            cached = self._file_cache.get(key)
            if cached is not None and cached[0] == found.stamp:
                loaded = cached[1]
            else:
                loaded = _load(found)
                for problem in loaded.problems:  # logged when the file is read, so once per change
                    log.warning("wildcard file %s", problem)
            cache[key] = (found.stamp, loaded)
            problems.extend(loaded.problems)
            if loaded.failed and loaded.problems:
                failed.setdefault(os.path.splitext(found.rel)[0], loaded.problems[0])
            for collection in loaded.collections:
                collections.setdefault(collection.name, collection)
        self._file_cache = cache
        return _Index(collections, tuple(problems), failed)


def _candidates(pattern: str, folder: str) -> Iterator[str]:
    """The name as written, then in `folder` and in each of its parents."""
    yield pattern
    while folder:
        yield f"{folder}/{pattern}"
        folder = folder.rpartition("/")[0]


_SUFFIXES = TEXT_SUFFIXES + STRUCTURED_SUFFIXES


def _walk_root(real_root: Path) -> Iterator[_Found]:
    visited = 0
    stack: list[tuple[Path, Path, str]] = [(real_root, real_root, "")]  # (as walked, real path, relative name)
    while stack:
        here, real_here, rel_here = stack.pop()
        visited += 1
        if visited > MAX_DIRECTORIES:
            log.warning("wildcard directory %s has more than %d folders; the rest are skipped", real_root, visited - 1)
            return
        try:
            with os.scandir(here) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            log.warning("wildcard folder %s cannot be listed: %s", here, exc)
            continue
        folders = []
        for entry in entries:
            name = entry.name
            try:
                if entry.is_dir():
                    if name.startswith("."):
                        continue  # as dynamicprompts: hidden folders (.git...) are not collections
                    real = Path(os.path.realpath(entry.path)) if entry.is_symlink() else real_here / name
                    if _inside(real, real_root) and not _inside(real_here, real):  # inside, and not a loop
                        folders.append((Path(entry.path), real, f"{rel_here}{name}/"))
                    continue
                if not name.lower().endswith(_SUFFIXES) or name.startswith("._") or not entry.is_file():
                    continue  # `._name.txt`: macOS metadata next to the real file on shared drives
                if entry.is_symlink() and not _inside(Path(os.path.realpath(entry.path)), real_root):
                    continue
                st = entry.stat()
            except OSError:
                continue
            yield _Found(Path(entry.path), rel_here + name, real_root, (st.st_mtime_ns, st.st_size))
        stack.extend(reversed(folders))


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


# -- reading files ----------------------------------------------------------------------------------------------
def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _decode(raw: bytes) -> tuple[str, tuple[int, str] | None]:
    """The text, and (line, what is wrong) when the bytes are not UTF-8; undecodable bytes are then left out."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Windows Notepad's "Unicode"
        try:
            return raw.decode("utf-16"), None
        except UnicodeDecodeError:
            pass
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        return raw.decode("utf-8-sig", errors="ignore"), (line, f"byte 0x{raw[exc.start]:02x} is not UTF-8 text")


def _load(found: _Found) -> _Loaded:
    shown = str(found.path)
    problems: list[WildcardProblem] = []
    try:
        raw = _read_bytes(found.path)
    except OSError as exc:
        return _Loaded((), (WildcardProblem(shown, None, f"cannot be read: {exc.strerror or exc}"),), failed=True)
    text, bad = _decode(raw)
    suffix = os.path.splitext(found.rel)[1].lower()
    stem = found.rel[: -len(suffix)]
    if suffix in TEXT_SUFFIXES:
        if bad:
            message = f"{bad[1]}: such bytes were left out (save the file as UTF-8)"
            problems.append(WildcardProblem(shown, bad[0], message))
        if not _valid(stem, shown, problems):
            return _Loaded((), tuple(problems))
        return _Loaded((_Collection(stem, found.rel, found.root, text=text),), tuple(problems))
    if bad:
        problem = WildcardProblem(shown, bad[0], f"{bad[1]}: nothing loaded (save the file as UTF-8)")
        return _Loaded((), (problem,), failed=True)
    try:
        data = _parse_structured(text, suffix)
    except _ParseError as exc:
        return _Loaded((), (WildcardProblem(shown, exc.line, exc.message),), failed=True)
    folder = stem.rpartition("/")[0]
    prefix = f"{folder}/" if folder else ""
    collections: list[_Collection] = []
    if isinstance(data, dict):
        for keys, value in _keyed_lists(data, (), shown, problems, [data]):
            name = prefix + "/".join(keys)
            if len(collections) >= MAX_COLLECTIONS_PER_FILE:
                problems.append(WildcardProblem(shown, None, f"more than {MAX_COLLECTIONS_PER_FILE} collections"))
                break
            if _valid(name, shown, problems):
                where = f"{found.rel}, key {'/'.join(keys)}"
                entries = _list_entries(value, where, name, shown, problems)
                collections.append(_Collection(name, found.rel, found.root, entries=entries))
    elif isinstance(data, list):
        name = stem  # dynamicprompts: the file's own name, in its folder
        entries = _list_entries(data, found.rel, name, shown, problems)
        if not entries:
            problems.append(WildcardProblem(shown, None, "the list has no entries"))
        elif _valid(name, shown, problems):
            collections.append(_Collection(name, found.rel, found.root, entries=entries))
    elif data is not None:
        line = _scalar_line(text) if suffix != ".json" else text.count("\n", 0, len(text) - len(text.lstrip())) + 1
        found_what = "text" if isinstance(data, str) else type(data).__name__
        message = f"the top level must be a mapping of names or a list of entries, not {found_what}: nothing loaded"
        problems.append(WildcardProblem(shown, line, message))
    return _Loaded(tuple(collections), tuple(problems), failed=not collections and bool(problems))


def _valid(name: str, shown: str, problems: list[WildcardProblem]) -> bool:
    try:
        check_name(name)
    except WildcardLookupError as exc:
        problems.append(WildcardProblem(shown, None, f"{exc}: left out"))
        return False
    return True


class _ParseError(Exception):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _parse_structured(text: str, suffix: str) -> Any:
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise _ParseError(exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
        except RecursionError:
            raise _ParseError(None, "invalid JSON: nested too deeply") from None
    try:
        import yaml  # PyYAML ships with the WebUI; imported here so plain .txt collections never need it
    except ImportError:
        raise _ParseError(None, NO_PYYAML) from None

    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = ": ".join(str(x) for x in (exc.context, exc.problem) if x) or str(exc)
        raise _ParseError(mark.line + 1 if mark else None, f"invalid YAML: {what}") from None
    except yaml.YAMLError as exc:
        position = getattr(exc, "position", None)
        line = text.count("\n", 0, position) + 1 if isinstance(position, int) else None
        character = getattr(exc, "character", None)  # a ReaderError: a character YAML does not allow
        code = ord(character) if isinstance(character, str) and len(character) == 1 else character
        reason = getattr(exc, "reason", None)  # set with `character`, on a ReaderError only
        what = f"character U+{code:04X}: {reason}" if isinstance(code, int) else str(exc)
        raise _ParseError(line, f"invalid YAML: {what}") from None
    except RecursionError:
        raise _ParseError(None, "invalid YAML: nested too deeply") from None


def _scalar_line(text: str) -> int | None:
    import yaml

    try:
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None
    return node.start_mark.line + 1 if node is not None else None


def _keyed_lists(
    data: dict[Any, Any],
    keys: tuple[str, ...],
    shown: str,
    problems: list[WildcardProblem],
    parents: list[Any],
) -> Iterator[tuple[tuple[str, ...], list[Any]]]:
    """(keys, list of items) for every key holding a list or text, as dynamicprompts reads a mapping."""
    for key, value in data.items():
        here = "/".join((*keys, str(key)))
        if not isinstance(key, str):
            problems.append(WildcardProblem(shown, None, f"key {here}: a key must be text, not {_kind(key)}: left out"))
            continue
        if not value:
            continue  # an empty list, text or mapping: nothing to load (as dynamicprompts)
        if isinstance(value, str):
            yield (*keys, key), [value]
        elif isinstance(value, list):
            yield (*keys, key), value
        elif isinstance(value, dict):
            if any(value is p for p in parents) or len(parents) > MAX_KEY_DEPTH:
                problems.append(WildcardProblem(shown, None, f"key {here} refers to itself or nests too deep"))
                continue
            parents.append(value)
            yield from _keyed_lists(value, (*keys, key), shown, problems, parents)
            parents.pop()
        else:
            message = f"key {here} holds {_kind(value)}, not a list or text: left out (quote it to make it text)"
            problems.append(WildcardProblem(shown, None, message))


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"{str(value).lower()} (a yes/no value)"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    return f"{type(value).__name__} {value!r}"[:80]


def _list_entries(
    items: list[Any], where: str, name: str, shown: str, problems: list[WildcardProblem]
) -> tuple[WildcardEntry, ...]:
    entries = []
    for n, item in enumerate(items, 1):
        origin = f"{where} item {n}"
        if item is None or (not item and not isinstance(item, (bool, int, float))):
            continue  # an empty item
        text: Any = item
        weight: Any = 1.0
        if isinstance(item, str):
            m = _WEIGHTED.fullmatch(item)
            if m:
                text, weight = m.group(2), float(m.group(1))
        elif isinstance(item, dict):
            text = item.get("text") or item.get("content")
            weight = item.get("weight", 1)
            if not isinstance(text, str):
                message = f"{origin}: a mapping needs 'text' (or 'content') holding text: left out"
                problems.append(WildcardProblem(shown, None, message))
                continue
            try:
                weight = float(weight) if not isinstance(weight, bool) else math.nan
            except (TypeError, ValueError):
                weight = math.nan
        else:
            message = f"{origin}: {_kind(item)} is not text: left out (quote it to make it text)"
            problems.append(WildcardProblem(shown, None, message))
            continue
        if not math.isfinite(weight) or weight < 0:
            problems.append(WildcardProblem(shown, None, f"{origin}: the weight must be a number of 0 or more"))
            continue
        text = text.strip()
        if text and weight > 0:  # weight 0: never picked, as in dynamicprompts
            entries.append(WildcardEntry(text, weight, origin, collection=name))
    return _dedupe(entries)


def _text_entries(collection: _Collection) -> tuple[WildcardEntry, ...]:
    shown, name = collection.file, collection.name
    lines = _LINE_BREAK.split(collection.text or "")
    return _dedupe(
        WildcardEntry(text, 1.0, f"{shown} line {n}", collection=name)
        for n, line in enumerate(lines, 1)
        if (text := line.strip()) and not text.startswith("#")
    )


def _dedupe(entries: Iterable[WildcardEntry]) -> tuple[WildcardEntry, ...]:
    """One entry per text, where the first was, weights added up (so random picks keep the odds duplicates gave).

    An entry that refers to wildcards may mean something else in another folder (names are looked up next to the
    collection), so such entries are the same only when their collections share a folder.
    """
    merged: dict[Any, WildcardEntry] = {}
    for entry in entries:
        text = entry.text
        key = text if "__" not in text else (text, entry.collection.rpartition("/")[0])
        first = merged.get(key)
        merged[key] = entry if first is None else replace(first, weight=first.weight + entry.weight)
    return tuple(merged.values())
