"""Opens point-cloud sequences on disk lazily, and writes sequences to disk.

A sequence on disk is opened as a re-iterable sequence: listing it costs nothing, and each frame
is read only when it is reached, so long sequences stay out of memory. Accepted inputs:

* an ``.npz`` with ``points_0000``, ``colors_0000``, ... (colours optional, matched by number), or
  one stacked array ``[frames, N, 3]`` (``points``, or the archive's only array) with an optional
  stacked ``colors``;
* a folder of per-frame ``.ply``, ``.npy``, ``.csv`` (or single-frame ``.npz``) files, read in
  natural name order (``f2`` before ``f10``);
* a glob such as ``"scans/*.ply"``, or a list of files;
* a single ``.npy`` (``[N, 3]`` one frame, or ``[frames, N, 3|6|7]`` stacked, memory-mapped),
  ``.ply`` or ``.csv`` file.

Single files are read by :mod:`gpurender.scene.pointfile` (PLY colour properties, CSV/NPY colour
columns after x, y, z). Writing (:func:`write_sequence`) gives an .npz or a folder of per-frame files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import EnvironmentFailure, GpurenderError, SceneError, os_reason
from .frames import PointFrame

WRITE_FORMATS = ("npz", "ply", "npy", "csv")


# -- writers (the readers are gpurender.scene.pointfile's) ----------------------------------------

_COLOR_COLUMNS = ("red", "green", "blue", "alpha")


def _bytes(colors: np.ndarray) -> np.ndarray:
    colors = np.asarray(colors)
    if colors.dtype == np.uint8:
        return colors
    return np.clip(np.rint(colors * 255.0), 0, 255).astype(np.uint8)


def _write(target, write) -> None:
    """``write(handle)`` into ``target``: an open binary file, or a path written atomically."""
    if hasattr(target, "write"):
        write(target)
        return
    from ..encode.files import atomic_file

    with atomic_file(target, what="point file") as handle:
        write(handle)


def write_ply(path, points: np.ndarray, colors: np.ndarray | None = None) -> None:
    """A binary little-endian PLY: float x, y, z and uchar colours (floats are scaled to 0..255).

    ``path`` is a file name (written atomically) or an open binary file; so for the others.
    """
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if colors is not None:
        colors = _bytes(colors)
        fields += [(n, "u1") for n in _COLOR_COLUMNS[: colors.shape[1]]]
    data = np.empty(len(points), dtype=fields)
    for i, axis in enumerate("xyz"):
        data[axis] = points[:, i]
    if colors is not None:
        for i, name in enumerate(_COLOR_COLUMNS[: colors.shape[1]]):
            data[name] = colors[:, i]
    props = "".join(f"property {'float' if t == '<f4' else 'uchar'} {n}\n" for n, t in fields)
    header = f"ply\nformat binary_little_endian 1.0\nelement vertex {len(points)}\n{props}end_header\n"
    _write(path, lambda fh: (fh.write(header.encode("ascii")), fh.write(data.tobytes())))


def write_csv(path, points: np.ndarray, colors: np.ndarray | None = None) -> None:
    """Columns x, y, z (and red, green, blue(, alpha) as 0..255 whole numbers) with a header row."""
    names = ["x", "y", "z"]
    table = np.asarray(points, np.float64)
    fmt = ["%.7g"] * 3
    if colors is not None:
        colors = _bytes(colors)
        names += list(_COLOR_COLUMNS[: colors.shape[1]])
        table = np.concatenate([table, colors.astype(np.float64)], axis=1)
        fmt += ["%d"] * colors.shape[1]
    _write(path, lambda fh: np.savetxt(fh, table, delimiter=",", header=",".join(names), comments="", fmt=fmt))


def write_npy(path, points: np.ndarray, colors: np.ndarray | None = None) -> None:
    """An ``N x 3`` float32 array, or ``N x 6|7`` with colours as floats in 0..1."""
    table = np.asarray(points, np.float32)
    if colors is not None:
        colors = np.asarray(colors)
        scale = 1.0 / 255.0 if colors.dtype == np.uint8 else 1.0
        table = np.concatenate([table, colors.astype(np.float32) * np.float32(scale)], axis=1)
    _write(path, lambda fh: np.save(fh, table))


_WRITERS = {"ply": write_ply, "csv": write_csv, "npy": write_npy}


def read_point_file(path, index: int | None = None) -> PointFrame:
    """One frame from a .ply, .npy, .csv (or single-frame .npz) file."""
    from ..scene.pointfile import load_point_file

    points, colors = load_point_file(path, frame=index)
    return PointFrame(points, colors, Path(path).name)


# -- sequences ----------------------------------------------------------------------------------


class _LazySequence(Sequence):
    """A sequence whose iteration ends only after its last frame.

    ``Sequence``'s own ``__iter__`` stops at the first IndexError, so a reader's IndexError on a
    damaged file would end the sequence early and silently drop the rest. Here iteration counts
    to ``len`` and every frame is read by ``_frame``, whose errors propagate.
    """

    def __iter__(self):
        for index in range(len(self)):
            yield self._frame(index)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._frame(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._frame(index)

    def _frame(self, index: int) -> PointFrame:
        raise NotImplementedError

    def input_files(self) -> list[tuple[str, str]]:
        """``(what, path)`` for the files the frames are read from (an output never replaces them)."""
        return [("point file", str(self.path))]


class FileSequence(_LazySequence):
    """Frames read lazily from per-frame files, in the order given."""

    def __init__(self, paths):
        self.paths = [Path(p) for p in paths]

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return FileSequence(self.paths[index])
        return super().__getitem__(index)

    def _frame(self, index):
        return read_point_file(self.paths[index], index if len(self.paths) > 1 else None)

    def input_files(self):
        return [("point file", str(p)) for p in self.paths]


class NpzSequence(_LazySequence):
    """Frames of an .npz archive: numbered ``points_*``/``colors_*`` arrays, read one frame at a time,
    or one stacked ``[frames, N, 3]`` array (with optional stacked ``colors``).

    An .npz member cannot be memory-mapped, so a stacked array is read whole, once; for long
    sequences prefer numbered arrays or a stacked .npy, which is memory-mapped.
    """

    def __init__(self, path):
        from ..scene.pointfile import read_npz_array

        self.path = Path(path)
        self.stacked = None
        try:
            with np.load(self.path, allow_pickle=False) as archive:
                keys = list(archive.files)
                numbered = {}
                for key in keys:
                    match = re.fullmatch(r"points_?(\d+)", key)
                    if match:
                        numbered[int(match.group(1))] = key
                if numbered:
                    self.keys = [(numbered[i], self._color_key(keys, numbered[i])) for i in sorted(numbered)]
                    return
                name = "points" if "points" in keys else (keys[0] if len(keys) == 1 else None)
                if name is None:
                    raise SceneError(f"{self.path}: no point arrays found (keys: {', '.join(keys) or 'none'}); "
                                     f"use points_0000, points_0001, ... or one stacked 'points' array")
                where = str(self.path)
                points = read_npz_array(archive, name, where, points_axis=1)
                colors = read_npz_array(archive, "colors", where, points_axis=1) \
                    if name == "points" and "colors" in keys else None
        except SceneError:
            raise
        except Exception as exc:
            raise SceneError(f"{self.path}: cannot be read as .npz ({exc})") from None
        if points.ndim == 2:
            points, colors = points[None], None if colors is None else colors[None]
        if points.ndim != 3 or (colors is not None and colors.shape[:2] != points.shape[:2]):
            raise SceneError(f"{self.path}: array {name!r} has shape {points.shape}"
                             + ("" if colors is None else f" and colors {colors.shape}")
                             + "; give [frames, N, 3] (and colors [frames, N, 3|4]) or [N, 3]")
        self.stacked = (name, points, colors)
        self.keys = [None] * len(points)

    @staticmethod
    def _color_key(keys, points_key):
        candidate = "colors" + points_key[len("points"):]
        return candidate if candidate in keys else None

    def __len__(self):
        return len(self.keys)

    def _frame(self, index):
        if self.stacked is not None:
            name, points, colors = self.stacked
            return PointFrame(points[index], None if colors is None else colors[index],
                              f"{self.path.name}[{name}][{index}]")
        from ..scene.pointfile import read_npz_array

        pkey, ckey = self.keys[index]
        where = f"{self.path} (frame {index})"
        try:
            with np.load(self.path, allow_pickle=False) as archive:
                points = read_npz_array(archive, pkey, where)
                colors = read_npz_array(archive, ckey, where) if ckey else None
        except SceneError:
            raise
        except Exception as exc:  # the archive changed or broke since it was listed
            raise SceneError(f"{where}: cannot be read as .npz ({exc})") from None
        return PointFrame(points, colors, f"{self.path.name}:{pkey}")


class StackedNpySequence(_LazySequence):
    """Frames of one memory-mapped ``[frames, N, 3|6|7]`` .npy array (colour columns in 0..1)."""

    def __init__(self, path, array):
        self.path, self.array = Path(path), array

    def __len__(self):
        return len(self.array)

    def _frame(self, index):
        where = f"{self.path.name}[{index}]"
        table = np.asarray(self.array[index])
        if table.ndim != 2 or table.shape[1] not in (3, 6, 7):
            raise SceneError(f"{where}: rows have {table.shape[-1]} columns; give x, y, z (+ r, g, b(, a) in 0..1)")
        return PointFrame(table[:, :3], table[:, 3:] if table.shape[1] > 3 else None, where)


def open_sequence(inputs) -> Sequence:
    """A lazy, re-iterable sequence from a path, a folder, a glob or a list of files (see module doc)."""
    from ..scene.pointfile import _natural_key, is_sequence, resolve_point_files

    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    inputs = [os.fspath(p) for p in inputs]
    if not inputs:
        raise SceneError("no input given; pass an .npz, a folder of .ply/.npy/.csv files or a glob")
    if len(inputs) > 1:  # a glob the shell has already expanded
        return FileSequence(sorted(map(Path, inputs), key=_natural_key))
    text = inputs[0]
    if is_sequence(text):
        return FileSequence(resolve_point_files(text))
    path = Path(text)
    if not path.is_file():
        raise SceneError(f"input {text!r} does not exist; give an .npz, a folder of per-frame files or a glob")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return NpzSequence(path)
    if suffix == ".npy":
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except Exception as exc:
            raise SceneError(f"{path}: cannot be read as .npy ({exc})") from None
        if array.ndim == 3:
            return StackedNpySequence(path, array)
    return FileSequence([path])


def _write_npz(frames, path: Path) -> None:
    """Each frame's arrays go into the archive as they come (memory holds one frame), under a
    temporary name that is renamed onto ``path`` once every frame is in."""
    import zipfile

    from ..encode.files import atomic_file
    from .frames import check_frame, iter_frames

    with atomic_file(path, what="point sequence") as handle:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for i, item in enumerate(iter_frames(frames)):
                frame = check_frame(item, i)
                for name, array in (("points", frame.points), ("colors", frame.colors)):
                    if array is not None:
                        with archive.open(f"{name}_{i:04d}.npy", "w", force_zip64=True) as member:
                            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)


def _write_files(frames, folder: Path, fmt: str) -> list[str]:
    """One file per frame in ``folder``, each written under a temporary name and renamed onto its
    own as soon as it is complete (one temporary file at a time, however long the sequence). A
    failure removes the temporary file and the files this call wrote, and the folder if it made
    it, so no truncated file and no partial sequence of this call is left."""
    from ..encode.files import atomic_file, remove_quietly
    from .frames import check_frame, iter_frames

    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    try:
        for i, item in enumerate(iter_frames(frames)):
            frame = check_frame(item, i)
            target = folder / f"frame_{i:04d}.{fmt}"
            with atomic_file(target, what="point file") as handle:
                _WRITERS[fmt](handle, frame.points, frame.colors)
            written.append(str(target))
    except BaseException:
        for name in written:
            remove_quietly(name)
        if created:
            try:
                folder.rmdir()  # only when this call made it and nothing else is in it
            except OSError:
                pass
        raise
    return written


def write_sequence(frames, path, format: str | None = None) -> list[str]:
    """Write frames to an .npz (``points_0000``, ``colors_0000``, ...) or a folder of per-frame files.

    ``format`` is ``npz`` (default when ``path`` ends in .npz) or ``ply``/``npy``/``csv`` (one
    file per frame in the folder ``path``). Frames are written as they come, so a lazy sequence
    of any length needs one frame of memory. Nothing is published until every frame is written;
    a failure (a bad frame, a full disk, a folder without write permission) leaves no file behind
    and a disk or permission failure is one :class:`GpurenderError` line. Returns the paths written.
    """
    path = Path(path)
    fmt = format or ("npz" if path.suffix.lower() == ".npz" else "ply")
    if fmt not in WRITE_FORMATS:
        raise SceneError(f"sequence format {fmt!r} is not valid; use one of {', '.join(WRITE_FORMATS)}")
    try:
        if fmt == "npz":
            _write_npz(frames, path)
            return [str(path)]
        return _write_files(frames, path, fmt)
    except (OSError, EnvironmentFailure) as exc:
        raise GpurenderError(f"cannot write the sequence to {str(path)!r}: {os_reason(exc)}; "
                             "free some space or choose a writable folder") from None
