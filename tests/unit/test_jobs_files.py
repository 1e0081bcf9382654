"""The jobs' image files: written whole or not at all, never leaving a temporary file behind."""

from __future__ import annotations

import os

import pytest

from sd_prompt_templates.jobs import files
from sd_prompt_templates.jobs.files import write_atomically


@pytest.mark.parametrize("durable", [True, False])
def test_a_file_is_written_whole_and_replaces_the_one_before(tmp_path, durable):
    path = tmp_path / "job" / "00000.png"
    write_atomically(path, b"first", durable=durable)
    write_atomically(path, b"second", durable=durable)
    assert path.read_bytes() == b"second"
    assert sorted(p.name for p in path.parent.iterdir()) == ["00000.png"]
    if os.name == "posix":
        assert path.stat().st_mode & 0o777 == 0o644 & ~_umask()


def test_a_write_that_fails_leaves_the_file_before_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "00000.png"
    write_atomically(path, b"kept")

    def no_space(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", no_space)
    with pytest.raises(OSError, match="No space"):
        write_atomically(path, b"lost")
    assert path.read_bytes() == b"kept" and [p.name for p in tmp_path.iterdir()] == ["00000.png"]


def test_without_its_folder_a_write_says_so_unless_it_may_make_it(tmp_path):
    path = tmp_path / "new" / "00000.png"
    with pytest.raises(FileNotFoundError):
        write_atomically(path, b"x", make_folder=False)
    write_atomically(path, b"x")
    assert path.read_bytes() == b"x"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
