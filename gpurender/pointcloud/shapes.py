"""Built-in animated point-cloud sequences (sphere, torus, helix) for trying the exporter without data.

Each sequence is lazy and re-iterable: frame ``i`` is computed when asked for, deterministically
from the shape, the frame count, the point count and the seed, so sequences of any length cost
one frame of memory. The base shapes are :mod:`gpurender.scene.shapes`'; this module animates them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import SceneError, choices
from ..scene import shapes

SEQUENCE_SHAPES = ("sphere", "torus", "helix")
COLOR_MODES = ("none", "float", "uint8")


def _rotate_y(points: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    return np.stack([c * x + s * z, y, -s * x + c * z], axis=1)


def _rotate_x(points: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    return np.stack([x, c * y - s * z, s * y + c * z], axis=1)


def _sphere(base: np.ndarray, t: float) -> np.ndarray:
    # ripples travelling from pole to pole over a slowly turning ball
    lat = np.arcsin(np.clip(base[:, 1], -1.0, 1.0))
    radius = 1.0 + 0.12 * np.sin(6.0 * lat - 2.0 * np.pi * t)
    return _rotate_y(base * radius[:, None], 0.5 * np.pi * t)


def _torus(base: np.ndarray, t: float) -> np.ndarray:
    # a ring that tumbles about x while twisting its tube
    angle = np.arctan2(base[:, 2], base[:, 0])
    wobble = 0.08 * np.sin(3.0 * angle + 2.0 * np.pi * t)
    moved = base.copy()
    moved[:, 1] += wobble
    return _rotate_y(_rotate_x(moved, 0.6 * np.sin(2.0 * np.pi * t)), np.pi * t)


def _helix(base: np.ndarray, t: float) -> np.ndarray:
    return _rotate_y(base, 2.0 * np.pi * t)


class ExampleSequence(Sequence):
    """Frames of an animated built-in shape, each a dict with ``points`` (and ``colors``).

    The helix grows: its frames go from half of ``points`` to all of them, so the point count
    changes from frame to frame. ``colors``: ``"none"`` (colormap by height when rendered),
    ``"float"`` (RGB floats in 0..1) or ``"uint8"`` (RGBA bytes).
    """

    def __init__(self, shape: str = "sphere", frames: int = 24, points: int = 10000, seed: int = 0,
                 colors: str = "none"):
        if shape not in SEQUENCE_SHAPES:
            raise SceneError(f"unknown example shape {shape!r}; valid: {choices(SEQUENCE_SHAPES)}")
        if colors not in COLOR_MODES:
            raise SceneError(f"example colours {colors!r} are not valid; use one of {choices(COLOR_MODES)}")
        if int(frames) < 1 or int(points) < 1:
            raise SceneError(f"an example sequence needs at least 1 frame and 1 point, got {frames} and {points}")
        self.shape, self.n_frames, self.n_points = shape, int(frames), int(points)
        self.seed, self.colors = int(seed), colors
        self._base = None

    def __len__(self) -> int:
        return self.n_frames

    def point_count(self, index: int) -> int:
        if self.shape == "helix":
            return max(1, round(self.n_points * (0.5 + 0.5 * (index + 1) / self.n_frames)))
        return self.n_points

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.n_frames))]
        if index < 0:
            index += self.n_frames
        if not 0 <= index < self.n_frames:
            raise IndexError(index)
        if self._base is None:
            self._base = shapes.make_shape(self.shape, self.n_points, seed=self.seed).astype(np.float64)
        t = index / self.n_frames
        base = self._base[: self.point_count(index)]
        move = {"sphere": _sphere, "torus": _torus, "helix": _helix}[self.shape]
        pts = move(base, t).astype(np.float32)
        frame = {"points": pts}
        if self.colors != "none":
            rgb = np.clip(0.5 + 0.5 * base / np.abs(base).max(), 0.0, 1.0)  # colour follows the point
            if self.colors == "float":
                frame["colors"] = rgb.astype(np.float32)
            else:
                rgba = np.concatenate([rgb, np.ones((len(rgb), 1))], axis=1)
                frame["colors"] = np.rint(rgba * 255).astype(np.uint8)
        return frame


def example_sequence(shape: str = "sphere", frames: int = 24, points: int = 10000, seed: int = 0,
                     colors: str = "none") -> ExampleSequence:
    """A lazy, re-iterable animated sequence of a built-in shape (sphere, torus or helix)."""
    return ExampleSequence(shape, frames, points, seed, colors)
