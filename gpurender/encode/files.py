"""Temporary names beside an output and the rename that publishes it: every atomic write.

Every file gpurender writes (videos, stills, point files, features, manifests, scenes) goes first
to a hidden temporary name in the target's own folder (so the final rename stays on one file
system and is atomic), is flushed to the disk, and is renamed only when it is complete; anything
that fails removes its temporary file. This module holds those few steps: :func:`atomic_file` for
a file written through a handle, :func:`temp_beside` and :func:`publish` for a file a library
opens by name (PyAV's containers).

A run killed outright (SIGKILL, a power cut) cannot remove its temporary file, so each one is
created here and holds an advisory lock (``flock``) for as long as its run lives; the kernel drops
the lock when the process dies. Making a temporary name for a target first removes that target's
earlier temporary files whose lock is free: those of dead runs, never those of a live one.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import threading
import uuid
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; stale temporary files are then left for the user
    fcntl = None

from ..errors import EncodeError, EnvironmentFailure, environment_failure


def check_output_dir(target: Path) -> Path:
    """The folder ``target`` will live in, or :class:`EncodeError` if it cannot be written."""
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise EncodeError(f"output folder {str(folder)!r} does not exist; create it or choose another output path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise EncodeError(f"output folder {str(folder)!r} is not writable; choose another output path")
    return folder


def _same_path(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)  # hard links and bind mounts too
    except OSError:
        pass
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def _png_pattern_regex(pattern: str) -> re.Pattern:
    """A regex matching the names a printf-style PNG pattern (``frame_%06d.png``) produces."""
    parts = re.split(r"(%0?\d*d)", pattern.replace("%%", "\0"))
    body = "".join(r"\d+" if re.fullmatch(r"%0?\d*d", part) else re.escape(part.replace("\0", "%"))
                   for part in parts)
    return re.compile(body + r"\Z")


def refuse_input_as_output(output, inputs, png: bool = False) -> None:
    """EncodeError if writing ``output`` would replace one of the job's ``inputs``.

    ``inputs`` are ``(what, path)`` pairs (``("audio", "song.mp4")``); None paths are skipped.
    A path is the output when it names the same file, through links or relative parts too. For
    a PNG sequence (``png=True``) every frame name the sequence writes counts as the output.
    Checked before any work starts, so a mistyped ``-o`` never costs the song or the scene.
    """
    out = Path(output)
    folder, name_re = None, None
    if png:
        from .writer import png_target

        folder, pattern, _ = png_target(out)
        name_re = _png_pattern_regex(pattern)
    for what, path in inputs:
        if path is None:
            continue
        path = Path(path)
        clash = _same_path(out, path)
        if not clash and folder is not None and name_re.match(path.name):
            clash = _same_path(folder, path.parent)
        if clash:
            raise EncodeError(f"the output {str(out)!r} is the {what} {str(path)!r}; writing it would destroy "
                              "an input - choose another output path")


_held_lock = threading.Lock()
_held: dict[str, int] = {}  # temporary path -> the descriptor whose flock marks it live


def _partial_prefix(target: Path) -> str:
    return f".{target.name.replace('%', '_') or 'output'}.partial-"


def _lock(path: Path) -> None:
    """Hold an exclusive flock on ``path`` until :func:`_unlock` (or this process ends)."""
    if fcntl is None:
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise
    with _held_lock:
        _held[str(path)] = fd


def _unlock(path) -> None:
    with _held_lock:
        fd = _held.pop(str(path), None)
    if fd is not None:
        os.close(fd)


def _is_stale(path: Path) -> bool:
    """True when no live process holds ``path``'s lock (its run died); never blocks."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # closing drops the probe's lock again


def remove_stale_partials(target) -> list[str]:
    """Remove the temporary files of ``target`` that killed runs left behind; returns their names.

    A temporary file counts as stale when no process holds its lock; files of a run that is
    still writing the same target are left alone.
    """
    if fcntl is None:
        return []
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    # Temporary files of temporary files (the video-only intermediate's own) start with more dots.
    prefix = _partial_prefix(target).lstrip(".")
    removed = []
    for name in _partials_in(folder):
        if not name.lstrip(".").startswith(prefix):
            continue
        path = folder / name
        if _is_stale(path):
            remove_quietly(path)
            if not os.path.lexists(path):
                removed.append(name)
    return removed


#: Seconds a folder's list of temporary files is reused: writing many files into one folder
#: (a point sequence, frame by frame) must not list the whole folder for every file.
_SCAN_TTL_S = 5.0
_scans: dict[str, tuple[float, list[str]]] = {}


def _partials_in(folder: Path) -> list[str]:
    """Names of the temporary files in ``folder`` (listed at most every few seconds)."""
    import time

    key = os.path.abspath(folder)
    now = time.monotonic()
    cached = _scans.get(key)
    if cached is not None and now - cached[0] < _SCAN_TTL_S:
        return cached[1]
    try:
        names = [e.name for e in os.scandir(folder) if e.name.startswith(".") and ".partial-" in e.name]
    except OSError:
        names = []
    _scans[key] = (now, names)
    return names


def temp_beside(target: Path, suffix: str | None = None, folder: bool = False) -> Path:
    """A fresh hidden file (or, with ``folder``, directory) in ``target``'s folder, created and
    locked as live; keeps the extension so muxers see the type. Removes the stale temporary
    files of ``target`` left by killed runs first."""
    target = Path(target)
    check_output_dir(target)
    remove_stale_partials(target)
    suffix = target.suffix if suffix is None else suffix
    temp = target.with_name(f"{_partial_prefix(target)}{uuid.uuid4().hex[:8]}{suffix}")
    try:
        if folder:
            temp.mkdir()
        else:
            # 0o666 honours the umask, as a plain open() of the target would
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        _lock(temp)
    except OSError as exc:
        remove_quietly(temp)
        failure = environment_failure(exc)
        reason = str(failure) if failure else f"{exc.strerror or exc}; choose another output folder"
        raise EncodeError(f"cannot write beside {str(target)!r}: {reason}") from exc
    return temp


def publish(temp: Path, target: Path, sync: bool = True) -> None:
    """Rename a finished temporary file (or folder) onto its target (atomic on one file system).

    With ``sync`` its data go to the disk first and the folder's new entry after, so a power cut
    leaves the old target or the whole new one, never a renamed but empty file.
    """
    target = Path(target)
    try:
        if sync:
            flush_to_disk(temp)
        os.replace(temp, target)
    except OSError as exc:
        remove_quietly(temp)
        failure = environment_failure(exc, target)
        if failure is not None:
            raise failure from exc
        raise EncodeError(f"could not move the finished output to {str(target)!r}: {exc.strerror or exc}") from exc
    if sync:
        sync_folder(target.parent if str(target.parent) else Path("."))
    with _held_lock:
        fd = _held.pop(str(temp), None)
        replaced = _held.pop(str(target), None)
        if fd is not None and replaced is not None:
            # The target is itself a live temporary file (a video-only intermediate): the lock
            # moved with the renamed inode, so it stays marked live without a gap.
            _held[str(target)] = fd
            fd = None
    for stale_fd in (fd, replaced):
        if stale_fd is not None:
            os.close(stale_fd)


def flush_to_disk(path) -> None:
    """fsync a finished file, or each file of a finished folder and the folder; OSError if the
    data could not be written (a full disk can first show here, on network file systems)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        for entry in os.scandir(path):
            if entry.is_file(follow_symlinks=False):
                flush_to_disk(entry.path)
        sync_folder(path)
        return
    with _held_lock:
        held = _held.get(str(path))
    if held is not None:
        os.fsync(held)  # the lock's descriptor reaches the same inode: no open() needed
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_folder(folder) -> None:
    """Write a folder's entries (a rename into it) to the disk; best effort, never raises: some
    file systems cannot fsync a folder, and the files themselves are already safe."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(target, mode: str = "wb", what: str = "file", sync: bool = True, encoding: str | None = None):
    """Write ``target`` all at once: ``with atomic_file("f.npz") as handle: np.savez(handle, ...)``.

    The block writes to a hidden temporary file beside ``target`` (made and locked as live by
    :func:`temp_beside`); when it completes, the file is flushed to the disk (``sync``), renamed
    onto ``target`` and the folder flushed too. When it raises (Ctrl-C too), the temporary file
    is removed and ``target`` is left as it was. An OSError (disk full, permissions) becomes one
    :class:`~gpurender.errors.EnvironmentFailure` line naming ``target`` (``what`` it is, for
    errors without a known fix), raised from the OSError. ``mode`` is ``"wb"`` or ``"w"`` (text
    in ``encoding``, UTF-8 by default).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_file writes a new file ('wb' or 'w'), not mode {mode!r}")
    target = Path(os.fspath(target))
    temp = temp_beside(target)
    try:
        # the same inode temp_beside made and locked: truncating keeps the lock
        with open(temp, mode, encoding=(encoding or "utf-8") if mode == "w" else None) as handle:
            yield handle
        publish(temp, target, sync=sync)
    except OSError as exc:
        remove_quietly(temp)
        failure = environment_failure(exc, target) or EnvironmentFailure(
            f"cannot write {what} {str(target)!r}: {exc.strerror or exc}; choose another path or folder")
        raise failure from exc
    except BaseException:
        remove_quietly(temp)
        raise


def remove_quietly(path) -> None:
    """Delete a temporary file or folder if it is there (and drop its live lock); never raises."""
    if path is None:
        return
    _unlock(path)
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:
        pass
