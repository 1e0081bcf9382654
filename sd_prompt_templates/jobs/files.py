"""The jobs' image files: a path only from a checked job id, and writes that are whole or absent, even after a
power cut."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from sd_prompt_templates.jobs.model import JobNotFound

JOB_ID = re.compile(r"[0-9a-f]{32}")


def checked_id(job_id: str) -> str:
    """A job id, checked before it becomes part of a path (ours are uuid4 hex)."""
    if not JOB_ID.fullmatch(job_id):
        raise JobNotFound(job_id)
    return job_id


def write_atomically(path: Path, data: bytes, *, durable: bool = True, make_folder: bool = True) -> None:
    """The file is there whole or not at all, even if the process is killed. `durable`: it also survives a power
    cut once this returns (two fsyncs: milliseconds each, which a job's images cannot afford one by one).
    `make_folder`: False when the caller made it already (a batch of images: once for all)."""
    if make_folder:
        path.parent.mkdir(parents=True, exist_ok=True)
    # one writer per file name and thread at a time (a job's image is written by its worker), so the temporary
    # name needs no random part: cheaper than mkstemp, which a batch of images pays for each
    temp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o644)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            if durable:
                file.flush()
                os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    if os.name != "posix":  # Windows cannot open a folder; NTFS journals the rename itself
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
