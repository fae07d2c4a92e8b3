"""Checks point-cloud frames and prepares them for drawing, one frame at a time.

A frame arrives as a dict with ``points`` (``N x 3``) and optional ``colors`` (``N x 3`` or
``N x 4``: an integer array holds bytes 0..255, a float array 0..1), as a bare ``N x 3`` array, or
as a :class:`PointFrame` read from a file. :func:`check_frame` turns any of these into clean
arrays or raises one :class:`SceneError` naming the frame and what is wrong with it; the arrays
are checked by :func:`gpurender.scene.pointfile.check_points`, the same check a points layer's
file gets. :func:`scan` is the pre-pass over a re-iterable sequence (validity, frame count, bounds
of the whole sequence); :class:`FrameFeed` walks the sequence once more while rendering, keeping
only the current frame. Imports no GPU library.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import PointFrameError, SceneError, choices
from ..scene.pointfile import check_points

FRAME_KEYS = ("points", "colors")
UP_AXES = ("y", "z")


@dataclass(frozen=True)
class PointFrame:
    """One frame's points and optional colours, with a name saying where it came from."""

    points: np.ndarray
    colors: np.ndarray | None = None
    name: str = ""


def frame_label(index: int, name: str = "") -> str:
    return f"frame {index}" + (f" ({name})" if name else "")


@contextlib.contextmanager
def frame_errors(index: int):
    """Scene errors raised while frame ``index`` is read or checked become :class:`PointFrameError`
    carrying the index (the message, which already names the frame, is kept)."""
    try:
        yield
    except PointFrameError:
        raise
    except SceneError as exc:
        raise PointFrameError(str(exc), index) from None


def check_frame(item, index: int) -> PointFrame:
    """Validate one frame (dict, ``N x 3`` array or :class:`PointFrame`); PointFrameError naming it if bad."""
    with frame_errors(index):
        return _check_frame(item, index)


def _check_frame(item, index: int) -> PointFrame:
    name = ""
    if isinstance(item, PointFrame):
        name = item.name
        points, colors = item.points, item.colors
    elif isinstance(item, Mapping):
        unknown = [k for k in item if k not in FRAME_KEYS]
        if unknown:
            raise SceneError(f"{frame_label(index)}: unknown key {str(unknown[0])!r}; valid: {choices(FRAME_KEYS)}")
        if "points" not in item:
            raise SceneError(f"{frame_label(index)}: no 'points'; each frame is a dict with points (N x 3) "
                             f"and optional colors")
        points, colors = item["points"], item.get("colors")
    elif isinstance(item, (str, bytes)) or item is None:
        raise SceneError(f"{frame_label(index)}: is {type(item).__name__}, not a dict with points (N x 3) "
                         f"or an N x 3 array")
    else:
        points, colors = item, None
    pts, cols = check_points(points, colors, frame_label(index, name))
    return PointFrame(pts, cols, name)


def iter_frames(frames):
    """Iterate a frame source so that a broken frame is an error, never the end of the sequence.

    A ``Sequence`` that relies on the ABC's own ``__iter__`` ends at the first IndexError, so a
    reader's IndexError on a damaged frame would look like the last frame; such a sequence is
    walked by index up to its ``len`` instead, and an IndexError inside it names the frame.
    """
    if not (isinstance(frames, Sequence) and type(frames).__iter__ is Sequence.__iter__):
        source, index = iter(frames), 0
        while True:
            with frame_errors(index):
                try:
                    item = next(source)
                except StopIteration:
                    return
            yield item
            index += 1
    for index in range(len(frames)):
        yield read_frame(frames, index)


def read_frame(frames, index: int):
    """``frames[index]``; a reader's error (IndexError included) is a PointFrameError naming it."""
    with frame_errors(index):
        try:
            return frames[index]
        except IndexError as exc:
            raise SceneError(f"{frame_label(index)} of {len(frames)} cannot be read (IndexError: {exc}); "
                             f"the frame source is broken") from None


@dataclass(frozen=True)
class SequenceInfo:
    """What the pre-pass learned about a whole sequence."""

    frames: int
    lo: np.ndarray  # per-axis minimum over every point of every frame
    hi: np.ndarray
    min_points: int
    max_points: int


def column_bounds(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-axis minimum and maximum of ``N x 3`` points (one column at a time: NumPy reduces an
    ``N x 3`` array along its long axis some 20x slower)."""
    return (np.array([points[:, k].min() for k in range(3)], np.float64),
            np.array([points[:, k].max() for k in range(3)], np.float64))


def scan(frames, progress=None, limit=None) -> SequenceInfo:
    """Validate every frame of a re-iterable sequence and measure it, holding one frame at a time.

    ``limit`` (a :class:`gpurender.scene.pointfile.PointLimit`) refuses the first frame with more
    points than the adapter can draw, before any drawing starts.
    """
    lo = np.full(3, np.inf)
    hi = np.full(3, -np.inf)
    count, n_min, n_max = 0, None, 0
    total = len(frames) if hasattr(frames, "__len__") else 0
    if progress is not None:
        progress.phase("checking", total=total, detail=f"validating {total or 'all'} frames before writing")
    for index, item in enumerate(iter_frames(frames)):
        frame = check_frame(item, index)
        if limit is not None:
            with frame_errors(index):
                limit.check(len(frame.points), frame_label(index, frame.name))
        frame_lo, frame_hi = column_bounds(frame.points)
        lo = np.minimum(lo, frame_lo)
        hi = np.maximum(hi, frame_hi)
        n = len(frame.points)
        n_min = n if n_min is None else min(n_min, n)
        n_max = max(n_max, n)
        count += 1
        if progress is not None and total:
            progress.update(count)
    if count == 0:
        raise SceneError("the point-cloud sequence has no frames; give at least one frame")
    return SequenceInfo(count, lo, hi, n_min, n_max)


def check_bounds(bounds) -> tuple[np.ndarray, np.ndarray]:
    """``((xmin, ymin, zmin), (xmax, ymax, zmax))`` as two float64 arrays."""
    try:
        lo, hi = (np.asarray(b, dtype=np.float64).reshape(3) for b in bounds)
    except (TypeError, ValueError):
        raise SceneError(f"bounds {bounds!r} are not understood; give ((xmin, ymin, zmin), (xmax, ymax, zmax))") from None
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()) or (hi < lo).any():
        raise SceneError(f"bounds {bounds!r} are not valid; each minimum must be finite and <= its maximum")
    return lo, hi


@dataclass(frozen=True)
class Normalizer:
    """Maps data coordinates into the drawing space: centred, scaled, with the chosen axis up.

    Drawing happens around the origin at unit scale (the camera's near and far planes are fixed),
    so data far from the origin or at any scale keeps its float32 precision and stays in view.
    """

    center: tuple
    scale: float  # data units per drawing unit
    up: str = "y"

    def apply(self, points: np.ndarray) -> np.ndarray:
        out = (points - np.asarray(self.center, points.dtype)) * points.dtype.type(1.0 / self.scale)
        out = out.astype(np.float32, copy=False)
        if self.up == "z":
            # z-up data (lidar, robotics) drawn with the camera's y-up: (x, y, z) -> (x, z, -y)
            out = np.stack([out[:, 0], out[:, 2], -out[:, 1]], axis=1)
        return np.ascontiguousarray(out)

    def height(self, points: np.ndarray) -> np.ndarray:
        return points[:, 2 if self.up == "z" else 1]


class ColorMapper:
    """Packs each frame's colours for the GPU: given colours as they are, else a colormap by height.

    The height range is the whole sequence's when known, so a colour means the same height in
    every frame; otherwise each frame spans the colormap on its own.
    """

    def __init__(self, colormap: str, height_range: tuple[float, float] | None):
        from ..render.layers.points import pack_colors
        from ..scene.colors import check_colormap, colormap_table

        self._pack = pack_colors
        self.table = pack_colors(colormap_table(check_colormap(colormap)))
        self.height_range = height_range

    def pack(self, frame: PointFrame, heights: np.ndarray) -> np.ndarray:
        if frame.colors is not None:
            return self._pack(frame.colors)
        lo, hi = self.height_range if self.height_range is not None else (heights.min(), heights.max())
        if hi > lo:
            t = (heights - lo) * (255.0 / (hi - lo))
            idx = np.clip(np.rint(t), 0, 255).astype(np.intp)
        else:
            idx = np.zeros(len(heights), np.intp)
        return self.table[idx]


@dataclass
class PreparedFrame:
    """A validated frame in drawing space: float32 points and one packed RGBA8 colour per point."""

    index: int
    points: np.ndarray
    colors: np.ndarray


def _random_access(frames) -> bool:
    """True for a sequence whose frames can be read by index (lists, arrays, file sequences)."""
    return (hasattr(frames, "__getitem__") and hasattr(frames, "__len__")
            and not isinstance(frames, (str, bytes, Mapping)) and iter(frames) is not frames)


class FrameFeed:
    """Hands out frames from ``frames``, keeping only the current one.

    ``at(index)`` validates and prepares frames as the render loop reaches them and returns None
    once the sequence has ended (``end`` is then the number of frames it had). A sequence that
    can be read by index (a list, an array, a file sequence) is read at any index, so a chunk of
    a render can start in the middle; any other iterable streams forward from its first frame.
    ``total`` is the frame count when known beforehand, for titles (``{n}``) and progress.
    ``limit`` (a :class:`gpurender.scene.pointfile.PointLimit`) refuses a frame with more points
    than the adapter can draw as it is read, before it reaches the GPU.
    """

    def __init__(self, frames, normalizer: Normalizer, colors: ColorMapper, total: int | None = None,
                 limit=None):
        self._seq = frames if _random_access(frames) else None
        self._iter = iter_frames(frames) if self._seq is None else None
        self.limit = limit
        self.normalizer = normalizer
        self.colors = colors
        self.total = total
        self.end: int | None = None
        self.max_points = 0
        self.min_points: int | None = None
        self._current: PreparedFrame | None = None
        self._index = -1

    def at(self, index: int) -> PreparedFrame | None:
        if self.end is not None and index >= self.end:
            return None
        if self._seq is not None:
            if index == self._index:
                return self._current
            if index >= len(self._seq):
                self.end = len(self._seq)
                return None
            item = read_frame(self._seq, index)
            self._index = index
            self._current = self._prepare(check_frame(item, index))
            return self._current
        if index < self._index:
            raise RuntimeError(f"frame {index} was asked for after frame {self._index}; frames stream forward only")
        while self._index < index:
            try:
                item = next(self._iter)
            except StopIteration:
                self.end = self._index + 1
                self._current = None
                return None
            self._index += 1
            self._current = self._prepare(check_frame(item, self._index))
        return self._current

    def _prepare(self, frame: PointFrame) -> PreparedFrame:
        if self.total is not None and self._index >= self.total:
            raise SceneError(f"the frame source gave more than the {self.total} frames it announced; "
                             f"pass the right frame count")
        n = len(frame.points)
        if self.limit is not None:
            with frame_errors(self._index):
                self.limit.check(n, frame_label(self._index, frame.name))
        self.max_points = max(self.max_points, n)
        self.min_points = n if self.min_points is None else min(self.min_points, n)
        packed = self.colors.pack(frame, self.normalizer.height(frame.points))
        return PreparedFrame(self._index, self.normalizer.apply(frame.points), packed)

    def finish(self) -> int:
        """The number of frames the source gave; SceneError if it differs from ``total``."""
        if self._seq is not None and self.end is None:
            self.end = len(self._seq)
        if self.end is None:
            self.at(self._index + 1)
        if self.total is not None and self.end != self.total:
            raise SceneError(f"the frame source gave {self.end} frames but {self.total} were announced; "
                             f"pass the right frame count")
        return self.end

    def describe(self, index: int) -> dict:
        """Title placeholders: ``{i}`` (1-based), ``{n}``, ``{points}``."""
        frame = self.at(index)
        n = self.total if self.total is not None else "?"
        return {"i": index + 1, "n": n, "frames": n, "points": len(frame.points) if frame is not None else 0}
