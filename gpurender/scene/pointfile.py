"""Reads point clouds from files (.ply, .npy, .npz, .csv) and checks them, one file or a sequence.

This module turns a user's point file into plain arrays: ``[n, 3]`` float32 positions and
optional ``[n, 3|4]`` float32 colours in 0..1, or refuses it with one line that names the file
(and the frame, for a per-frame sequence). It imports no GPU library. A sequence is a folder or a
glob pattern of files, one per video frame, taken in natural name order (``f2`` before ``f10``).

:func:`check_points` is the one check of point arrays, for files here and for the frames handed
to the point-sequence export (:mod:`gpurender.pointcloud.frames`), so both accept and refuse the
same arrays. The rule for colours, by the array's type, not its values (so every frame of a
sequence reads the same way):

- an integer array (``uint8``, ``int32``, ``int64``, ...) holds bytes, 0..255;
- a float array holds 0..1;
- booleans, text and complex numbers are refused.

File formats whose columns carry no such type add their own: PLY ``ushort`` properties are
0..65535; CSV colour columns that are all whole numbers with at least one above 1 are bytes.

Declared sizes (a PLY element count, an .npy or .npz array's shape) are checked against the bytes
the file holds, and against :data:`MAX_POINTS`, before anything is allocated: a damaged or hostile
header is an error naming the file, not a memory error or a read without end.
"""

from __future__ import annotations

import glob
import io
import math
import os
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import RenderError, SceneError

SUFFIXES = (".ply", ".npy", ".npz", ".csv")
#: The most points one frame can hold: the depth splat keeps a point's index in 26 bits. Counts
#: above it are refused when a file or a scene declares them, before anything is allocated.
MAX_POINTS = (1 << 26) - 1


@dataclass(frozen=True)
class PointLimit:
    """The most points one frame may hold on the adapter in use, and why, for error messages."""

    most: int
    why: str

    def check(self, n: int, where: str, fix: str = "thin the cloud or split it into smaller frames") -> None:
        """:class:`RenderError` naming ``where`` when ``n`` points are more than a frame holds."""
        if n > self.most:
            raise RenderError(f"{where}: {n} points in one frame, more than the {self.most} that fit ({self.why}); "
                              f"{fix}")

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
_PLY_COLOR_NAMES = (("red", "green", "blue", "alpha"), ("r", "g", "b", "a"),
                    ("diffuse_red", "diffuse_green", "diffuse_blue", "diffuse_alpha"))


def _where(path, frame: int | None) -> str:
    where = f"point file {str(path)!r}"
    return where if frame is None else f"{where} (frame {frame})"


def load_point_file(path, frame: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Points ``[n, 3]`` float32 and colours ``[n, 3|4]`` float32 in 0..1 (or None) from a file.

    ``frame`` only adds the frame number to error messages (for per-frame sequences). Every
    problem raises :class:`SceneError` naming the file: missing, unreadable, unknown suffix,
    wrong shape, NaN or infinite values, colours that do not match the points, no points.
    """
    path = Path(os.fspath(path))
    where = _where(path, frame)
    if not path.is_file():
        raise SceneError(f"{where} does not exist; check the path (relative paths are relative to the scene file)")
    suffix = path.suffix.lower()
    readers = {".ply": _read_ply, ".npy": _read_npy, ".npz": _read_npz, ".csv": _read_csv}
    if suffix not in readers:
        raise SceneError(f"{where}: unsupported suffix {suffix or '(none)'!r}; use one of {', '.join(SUFFIXES)}")
    try:
        points, colors = readers[suffix](path, where)
    except SceneError:
        raise
    except (OSError, ValueError, EOFError, KeyError, IndexError, UnicodeDecodeError, zipfile.BadZipFile,
            zlib.error) as exc:
        # a reader's slip on a damaged file is still the file's fault: name it, never end a sequence
        raise SceneError(f"{where} cannot be read as {suffix[1:].upper()}: {exc}") from None
    except MemoryError:
        raise SceneError(f"{where}: not enough memory to read it ({path.stat().st_size} bytes); "
                         "thin the cloud or free memory") from None
    points, colors = check_points(points, colors, where)
    return np.ascontiguousarray(points, dtype=np.float32), unit_colors(colors)


#: The largest float32: coordinates are drawn as float32, so larger ones would become infinite.
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _as_array(value, what: str, where: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except Exception as exc:  # ragged lists, objects that refuse conversion
        raise SceneError(f"{where}: {what} cannot be read as an array ({exc})") from None
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise SceneError(f"{where}: {what} must be numbers, not {array.dtype}"
                         + ("; colours are bytes 0..255 (an integer type) or floats 0..1" if what == "colors" else ""))
    return array


def _first_bad_row(bad: np.ndarray) -> int:
    return int(np.flatnonzero(bad.reshape(len(bad), -1).any(axis=1))[0])


def check_point_array(value, where: str) -> np.ndarray:
    """``N x 3`` finite real coordinates with N >= 1, each within float32's range.

    float32 and float64 arrays are returned as they are (so large coordinates keep their
    precision until they are normalised); other numbers become float64.
    """
    pts = _as_array(value, "points", where)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise SceneError(f"{where}: points have shape {pts.shape}; give an N x 3 array of x, y, z")
    if len(pts) == 0:
        raise SceneError(f"{where}: no points; give at least one point")
    if pts.dtype not in (np.float32, np.float64):
        pts = pts.astype(np.float64)
    finite = np.isfinite(pts)
    if not finite.all():
        row = _first_bad_row(~finite)
        raise SceneError(f"{where}: points contain NaN or infinite values (first at point {row}: "
                         f"{pts[row].tolist()}); remove or fix those points")
    if pts.dtype == np.float64 and max(float(pts.max()), -float(pts.min())) > _FLOAT32_MAX:
        row = _first_bad_row(np.abs(pts) > _FLOAT32_MAX)
        raise SceneError(f"{where}: point {row} has a coordinate beyond float32's range ({pts[row].tolist()}); "
                         "scale the cloud down")
    return pts


def check_color_array(value, n_points: int, where: str) -> np.ndarray:
    """``N x 3|4`` colours, one per point, by the module's rule: an integer array is bytes
    (0..255, returned as ``uint8``), a float array is 0..1 (returned as float32 or float64)."""
    col = _as_array(value, "colors", where)
    if col.ndim != 2 or col.shape[1] not in (3, 4):
        raise SceneError(f"{where}: colors have shape {col.shape}; give N x 3 (RGB) or N x 4 (RGBA)")
    if len(col) != n_points:
        raise SceneError(f"{where}: {len(col)} colours for {n_points} points; give one colour per point")
    if col.dtype == np.uint8:
        return col
    if np.issubdtype(col.dtype, np.integer):
        lo, hi = (int(col.min()), int(col.max())) if col.size else (0, 0)
        if lo < 0 or hi > 255:
            raise SceneError(f"{where}: integer colours are bytes and must be in 0..255 (found {lo}..{hi}); "
                             "scale them, or give floats in 0..1")
        return col.astype(np.uint8)
    if col.dtype not in (np.float32, np.float64):
        col = col.astype(np.float32)
    finite = np.isfinite(col)
    if not finite.all():
        raise SceneError(f"{where}: colors contain NaN or infinite values (first at point {_first_bad_row(~finite)}); "
                         "fix them")
    lo, hi = float(col.min()), float(col.max())
    if lo < 0.0 or hi > 1.0:
        hint = "; for 0..255 values use an integer type such as uint8" if hi > 1.0 else ""
        raise SceneError(f"{where}: float colours must be in 0..1 (found {lo:g}..{hi:g}){hint}")
    return col


def check_points(points, colors=None, where: str = "points") -> tuple[np.ndarray, np.ndarray | None]:
    """Check points and their optional colours (see :func:`check_point_array` and
    :func:`check_color_array`); :class:`SceneError` naming ``where`` and the problem if bad."""
    points = check_point_array(points, where)
    return points, None if colors is None else check_color_array(colors, len(points), where)


def unit_colors(colors: np.ndarray | None) -> np.ndarray | None:
    """Checked colours as float32 0..1 (bytes divided by 255)."""
    if colors is None:
        return None
    if colors.dtype == np.uint8:
        return colors.astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(colors, dtype=np.float32)


def _split_columns(data: np.ndarray, where: str):
    if data.ndim != 2 or data.shape[1] not in (3, 6, 7):
        raise SceneError(
            f"{where}: expected columns x, y, z[, r, g, b[, a]] (shape [n, 3], [n, 6] or [n, 7]), "
            f"got shape {list(data.shape)}"
        )
    if data.shape[1] == 3:
        return data, None
    return data[:, :3], data[:, 3:]


def check_npy_header(stream, size: int, where: str, points_axis: int = 0) -> None:
    """Refuse an .npy (a file or an archive member, ``size`` bytes in all, read from its start)
    whose header declares more bytes than it holds or more than :data:`MAX_POINTS` points along
    ``points_axis``, before NumPy allocates the array; leaves ``stream`` past the header."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(stream)
    except ValueError:
        return  # not an .npy at all: the reader says so in its own words
    readers = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}
    if version not in readers:
        return
    shape, _, dtype = readers[version](stream)
    declared = math.prod(shape) * dtype.itemsize
    left = size - stream.tell()
    if declared > left:
        raise SceneError(f"{where}: the header declares an array of shape {list(shape)} ({declared} bytes) but "
                         f"only {left} bytes follow it; the file is truncated or damaged")
    if len(shape) > points_axis and shape[points_axis] > MAX_POINTS:
        raise SceneError(f"{where}: {shape[points_axis]} points in one frame; at most {MAX_POINTS} can be drawn")


def read_npz_array(archive, key: str, where: str, points_axis: int = 0) -> np.ndarray:
    """Array ``key`` of an open .npz, its declared size checked first (see :func:`check_npy_header`).

    A damaged archive (bad CRC, broken compression, short member) is a :class:`SceneError`.
    """
    member = key if key in archive.zip.namelist() else f"{key}.npy"
    try:
        with archive.zip.open(member) as stream:
            check_npy_header(stream, archive.zip.getinfo(member).file_size, f"{where}: array {key!r}", points_axis)
        return archive[key]
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError) as exc:
        raise SceneError(f"{where}: array {key!r} cannot be read ({exc}); the archive is damaged, "
                         "write it again") from None


def _read_npy(path: Path, where: str):
    with open(path, "rb") as stream:
        check_npy_header(stream, os.fstat(stream.fileno()).st_size, where)
    data = np.load(path, allow_pickle=False)
    if data.dtype == np.uint8:  # colours only make sense as uint8 next to coordinates in .npz
        raise SceneError(f"{where}: coordinates are uint8; store them as floats")
    return _split_columns(data, where)


def _read_npz(path: Path, where: str):
    with np.load(path, allow_pickle=False) as archive:
        names = archive.files
        if "points" not in names:
            raise SceneError(f"{where}: no array named 'points' (found: {', '.join(names) or 'none'}); "
                             "save it with np.savez(path, points=..., colors=...)")
        points = read_npz_array(archive, "points", where)
        colors = read_npz_array(archive, "colors", where) if "colors" in names else None
    return points, colors


def _read_csv(path: Path, where: str):
    with open(path, encoding="utf-8-sig") as handle:
        text = handle.read()
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise SceneError(f"{where}: the file holds no points")
    delimiter = "," if "," in lines[0] else None

    def numeric(line: str) -> bool:
        try:
            [float(x) for x in (line.split(delimiter))]
            return True
        except ValueError:
            return False

    if not numeric(lines[0]):
        lines = lines[1:]  # a header row
    if not lines:
        raise SceneError(f"{where}: the file holds no points")
    try:
        data = np.loadtxt(io.StringIO("\n".join(lines)), delimiter=delimiter, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise SceneError(f"{where}: not a table of numbers ({exc})") from None
    points, colors = _split_columns(data, where)
    if colors is not None and colors.size and colors.max() > 1.0 and np.all(colors == np.round(colors)):
        if colors.max() > 255 or colors.min() < 0:
            raise SceneError(f"{where}: colour values must be in 0..1 or whole numbers in 0..255")
        colors = colors.astype(np.uint8)
    return points, colors


def _ply_count(text: str, line: str, where: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = -1
    if count < 0:
        raise SceneError(f"{where}: PLY header line {line!r} declares {text!r} entries; a count is a whole number >= 0")
    return count


def _read_ply(path: Path, where: str):
    with open(path, "rb") as handle:
        if handle.readline().strip() != b"ply":
            raise SceneError(f"{where}: not a PLY file (it must start with the line 'ply')")
        fmt = None
        elements: list[tuple[str, int, list]] = []
        while True:
            raw = handle.readline()
            if not raw:
                raise SceneError(f"{where}: PLY header has no 'end_header' line")
            line = raw.decode("ascii", errors="replace").strip()
            words = line.split()
            if not words or words[0] in ("comment", "obj_info"):
                continue
            if words[0] == "end_header":
                break
            if words[0] == "format" and len(words) >= 2:
                fmt = words[1]
            elif words[0] == "element" and len(words) == 3:
                elements.append((words[1], _ply_count(words[2], line, where), []))
            elif words[0] == "property" and elements and len(words) == 5 and words[1] == "list":
                elements[-1][2].append((words[4], None))
            elif words[0] == "property" and elements and len(words) == 3 and words[1] != "list":
                if words[1] not in _PLY_TYPES:
                    raise SceneError(f"{where}: unknown PLY property type {words[1]!r}")
                elements[-1][2].append((words[2], _PLY_TYPES[words[1]]))
            elif words[0] in ("element", "property", "format"):
                shapes = {"element": "element NAME COUNT", "format": "format ascii|binary_little_endian 1.0",
                          "property": "property TYPE NAME or property list COUNT_TYPE TYPE NAME, after an element"}
                raise SceneError(f"{where}: malformed PLY header line {line!r}; write '{shapes[words[0]]}'")
            else:
                raise SceneError(f"{where}: unexpected PLY header line {line!r}")
        body_start = handle.tell()
        body = os.fstat(handle.fileno()).st_size - body_start
        order = {"ascii": None, "binary_little_endian": "<", "binary_big_endian": ">"}
        if fmt not in order:
            raise SceneError(f"{where}: unsupported PLY format {fmt!r}; use ascii or binary_little_endian")
        names = [e[0] for e in elements]
        if "vertex" not in names:
            raise SceneError(f"{where}: PLY file has no 'vertex' element")
        vi = names.index("vertex")
        _, count, props = elements[vi]
        if any(t is None for _, t in props):
            raise SceneError(f"{where}: list properties on PLY vertices are not supported")
        if count > MAX_POINTS:
            raise SceneError(f"{where}: the PLY header declares {count} vertices; at most {MAX_POINTS} points "
                             "can be drawn in one frame")
        if fmt == "ascii":
            # every value takes at least one character and a separator (the last line may end without one)
            least = sum(n * 2 * max(len(eprops), 1) for _, n, eprops in elements[: vi + 1]) - 1
            if count and least > body:
                raise SceneError(f"{where}: PLY file ends before its {count} vertices (they need at least {least} "
                                 f"bytes, {body} follow the header); the file is truncated or its header is wrong")
            skip = sum(e[1] for e in elements[:vi])  # one line per element instance
            for _ in range(skip):
                handle.readline()
            lines = [handle.readline() for _ in range(count)]
            if count and not lines[-1]:
                raise SceneError(f"{where}: PLY file ends before its {count} vertices")
            table = np.loadtxt(io.BytesIO(b"".join(lines)), dtype=np.float64, ndmin=2) if count else \
                np.zeros((0, len(props)))
            if table.shape[1] != len(props):
                raise SceneError(f"{where}: PLY vertex lines have {table.shape[1]} values, the header declares {len(props)}")
            columns = {name: table[:, i].astype(t) for i, (name, t) in enumerate(props)}
        else:
            offset = body_start
            for name, n, eprops in elements[:vi]:
                if any(t is None for _, t in eprops):
                    raise SceneError(
                        f"{where}: binary PLY with a list element ({name!r}) before the vertices is not supported"
                    )
                offset += n * sum(np.dtype(t).itemsize for _, t in eprops)
            dtype = np.dtype([(name, order[fmt] + t) for name, t in props])
            needed = offset - body_start + dtype.itemsize * count
            if needed > body:
                raise SceneError(f"{where}: PLY file ends before its {count} vertices (they need {needed} bytes, "
                                 f"{body} follow the header); the file is truncated or its header is wrong")
            handle.seek(offset)
            raw = handle.read(dtype.itemsize * count)
            records = np.frombuffer(raw, dtype=dtype, count=count)
            columns = {name: records[name] for name, _ in props}
    for axis in ("x", "y", "z"):
        if axis not in columns:
            raise SceneError(f"{where}: PLY vertices have no {axis!r} property")
    points = np.stack([columns["x"], columns["y"], columns["z"]], axis=1).astype(np.float32)
    colors = None
    for rgba in _PLY_COLOR_NAMES:
        if all(c in columns for c in rgba[:3]):
            chans = [c for c in rgba if c in columns]
            kinds = {columns[c].dtype.kind + str(columns[c].dtype.itemsize) for c in chans}
            stacked = np.stack([columns[c] for c in chans], axis=1)
            if kinds == {"u2"}:
                colors = stacked.astype(np.float32) / np.float32(65535.0)
            else:
                colors = stacked  # uchar and other integers: bytes; floats: 0..1 (check_points)
            break
    return points, colors


# -- per-frame sequences -------------------------------------------------------------------------

def _natural_key(path: Path):
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def is_sequence(spec) -> bool:
    """True when ``spec`` names a folder or a glob pattern rather than one file."""
    text = os.fspath(spec)
    return Path(text).is_dir() or glob.has_magic(text)


def resolve_point_files(spec) -> list[Path]:
    """The files a ``file`` parameter names: one file, a folder's point files, or a glob's matches.

    Folders and patterns are sorted in natural name order; a pattern or folder matching no
    point file raises :class:`SceneError`.
    """
    text = os.fspath(spec)
    path = Path(text)
    if path.is_dir():
        # hidden files are not frames: a writer's temporary files, macOS's "._name" companions
        found = [p for p in path.iterdir()
                 if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith(".")]
        if not found:
            raise SceneError(f"point folder {text!r} holds no {'/'.join(SUFFIXES)} files")
    elif glob.has_magic(text):
        found = [Path(p) for p in glob.glob(text) if Path(p).is_file()]
        if not found:
            raise SceneError(f"point file pattern {text!r} matches no files; check the pattern")
    else:
        return [path]
    return sorted(found, key=_natural_key)


def check_point_source(spec, where: str) -> None:
    """Refuse, when a scene loads, a ``file`` parameter that names no point file: a missing file,
    an unsupported suffix, a folder or pattern without point files. Their contents are read (and
    checked) when they are drawn."""
    try:
        files = resolve_point_files(spec)
    except SceneError as exc:
        raise SceneError(f"{where}: {exc}") from None
    if len(files) == 1 and not is_sequence(spec):
        path = files[0]
        if not path.is_file():
            raise SceneError(f"{where}: point file {str(path)!r} does not exist; check the path "
                             "(relative paths are relative to the scene file)")
        if path.suffix.lower() not in SUFFIXES:
            raise SceneError(f"{where}: point file {str(path)!r} has the unsupported suffix "
                             f"{path.suffix or '(none)'!r}; use one of {', '.join(SUFFIXES)}")


class PointSequence:
    """Per-frame point files: track frame ``k`` uses file ``k``.

    Past the last file the sequence holds on the last file, or with ``loop=True`` starts again
    from the first. One file is read at a time (the last one read is kept), so memory does not
    grow with the number of files.
    """

    def __init__(self, spec, loop: bool = False):
        self.files = resolve_point_files(spec)
        self.loop = bool(loop)
        self._cached: tuple[int, tuple] | None = None

    def __len__(self) -> int:
        return len(self.files)

    def file_index(self, frame: int) -> int:
        n = len(self.files)
        frame = max(int(frame), 0)
        return frame % n if self.loop else min(frame, n - 1)

    def load(self, frame: int) -> tuple[int, np.ndarray, np.ndarray | None]:
        """``(file index, points, colours)`` for track frame ``frame``."""
        k = self.file_index(frame)
        if self._cached is None or self._cached[0] != k:
            points, colors = load_point_file(self.files[k], frame=frame if len(self.files) > 1 else None)
            self._cached = (k, (points, colors))
        return (k, *self._cached[1])
