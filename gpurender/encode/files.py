"""Temporary names beside an output and the rename that publishes it.

Every file the encode stage writes goes first to a hidden temporary name in the target's own
folder (so the final rename stays on one file system and is atomic) and is renamed only when it
is complete; anything that fails removes its temporary file. This module holds those few steps.
"""

from __future__ import annotations

import os
import re
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
