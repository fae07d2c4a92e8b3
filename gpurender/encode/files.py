"""Temporary names beside an output and the rename that publishes it.

Every file the encode stage writes goes first to a hidden temporary name in the target's own
folder (so the final rename stays on one file system and is atomic) and is renamed only when it
is complete; anything that fails removes its temporary file. This module holds those few steps.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from ..errors import EncodeError


def check_output_dir(target: Path) -> Path:
    """The folder ``target`` will live in, or :class:`EncodeError` if it cannot be written."""
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise EncodeError(f"output folder {str(folder)!r} does not exist; create it or choose another output path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise EncodeError(f"output folder {str(folder)!r} is not writable; choose another output path")
    return folder


def temp_beside(target: Path, suffix: str | None = None) -> Path:
    """A fresh hidden name in ``target``'s folder; keeps the extension so muxers see the type."""
    target = Path(target)
    check_output_dir(target)
    stem = target.name.replace("%", "_") or "output"
    suffix = target.suffix if suffix is None else suffix
    return target.with_name(f".{stem}.partial-{uuid.uuid4().hex[:8]}{suffix}")


def publish(temp: Path, target: Path) -> None:
    """Rename a finished temporary file onto its target (atomic on one file system)."""
    try:
        os.replace(temp, target)
    except OSError as exc:
        remove_quietly(temp)
        raise EncodeError(f"could not move the finished output to {str(target)!r}: {exc.strerror or exc}") from exc


def remove_quietly(path) -> None:
    """Delete a temporary file or folder if it is there; never raises."""
    if path is None:
        return
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:
        pass
