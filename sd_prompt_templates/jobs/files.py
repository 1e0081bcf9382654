"""The jobs' image files: a path only from a checked job id, and writes that are whole or absent, even after a
power cut."""

from __future__ import annotations

import contextlib
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
    final = os.fspath(path)
    temp = os.path.join(os.path.dirname(final), f".{os.path.basename(final)}.{os.getpid()}-{threading.get_ident()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o644)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
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
