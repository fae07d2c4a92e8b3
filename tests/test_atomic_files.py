"""Atomic writes: the one helper every writer uses (temporary name, lock, fsync, rename, cleanup)."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pytest

import gpurender
from gpurender.encode import files
from gpurender.errors import EnvironmentFailure, GpurenderError


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name)


def test_a_finished_block_is_synced_then_renamed(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    target = tmp_path / "out.bin"
    with files.atomic_file(target) as handle:
        handle.write(b"data")
        assert not target.exists()
        [temp] = _leftovers(tmp_path)
        assert temp.startswith(".out.bin.partial-")
    assert target.read_bytes() == b"data" and _leftovers(tmp_path) == []
    if os.path.exists("/proc/self/fd"):
        # the file's data before the rename (under its temporary name), the folder's entry after
        assert [Path(p).name for p in synced] == [temp, tmp_path.name]


def test_text_mode_writes_utf8(tmp_path):
    with files.atomic_file(tmp_path / "s.toml", "w") as handle:
        handle.write("title = \"Café\"\n")
    assert (tmp_path / "s.toml").read_bytes() == "title = \"Café\"\n".encode("utf-8")


def test_a_failed_block_leaves_the_old_target_and_no_temporary_file(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(ZeroDivisionError):
        with files.atomic_file(target, "w") as handle:
            handle.write("half")
            1 / 0
    assert target.read_text() == "old" and _leftovers(tmp_path) == []
    with pytest.raises(KeyboardInterrupt):
        with files.atomic_file(tmp_path / "new.txt", "w") as handle:
            raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "no space left on the device"),
                                         (errno.EACCES, "permission denied"),
                                         (errno.ENAMETOOLONG, "cannot write features file")])
def test_an_os_failure_is_one_line_naming_the_target(tmp_path, code, words):
    target = tmp_path / "f.npz"
    with pytest.raises(EnvironmentFailure) as info:
        with files.atomic_file(target, what="features file"):
            raise OSError(code, os.strerror(code))
    text = str(info.value)
    assert words in text and repr(str(target)) in text and "\n" not in text
    assert isinstance(info.value.__cause__, OSError)  # os_reason() reads the system's words from it
    assert list(tmp_path.iterdir()) == []


def test_a_failed_fsync_publishes_nothing(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(EnvironmentFailure, match="no space left"):
        with files.atomic_file(tmp_path / "a.bin") as handle:
            handle.write(b"x")
    assert list(tmp_path.iterdir()) == []


def test_unsynced_writes_skip_fsync(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "fsync", lambda fd: pytest.fail("fsync called"))
    with files.atomic_file(tmp_path / "progress", "w", sync=False) as handle:
        handle.write("3")
    assert (tmp_path / "progress").read_text() == "3"


def test_the_temporary_file_is_live_while_written_and_stale_once_its_run_dies(tmp_path):
    target = tmp_path / "seq.npz"
    with files.atomic_file(target) as handle:
        handle.write(b"x")
        files._scans.clear()
        assert files.remove_stale_partials(target) == []  # ours: locked, so left alone
        [temp] = _leftovers(tmp_path)
    dead = tmp_path / temp  # as a killed run leaves it: there, but no lock held
    dead.write_bytes(b"half")
    files._scans.clear()
    with files.atomic_file(target) as handle:
        handle.write(b"y")
    assert not dead.exists() and target.read_bytes() == b"y"


def test_a_missing_folder_is_one_line():
    with pytest.raises(GpurenderError, match="does not exist"):
        with files.atomic_file("/nonexistent-folder/x.txt", "w"):
            pass


def test_only_the_files_module_renames_files_into_place():
    """One helper for atomic writes: nothing else in the package renames a temporary file onto
    its target (the PNG sequence's per-frame moves use the same module's sync helpers)."""
    package = Path(gpurender.__file__).parent
    renames = {}
    for path in package.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        found = re.findall(r"\bos\.(?:replace|rename)\(|\.tmp\b", text)
        if found:
            renames[str(path.relative_to(package))] = len(found)
    assert set(renames) <= {"encode/files.py", "encode/writer.py"}, renames
