"""Turns parameters that may be bound to audio features into per-frame numbers.

Each binding's whole-track series is computed once (smoothing is sequential over frames), so
evaluating a parameter at a frame is an array lookup. Frame indices are the track's own: frame
``i`` is time ``i / fps`` whatever part of the track is being rendered. Between frames (motion-blur
sub-frames) a bound parameter is interpolated linearly.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import SceneError
from .model import Binding


class ParamEvaluator:
    """Looks up the value of any layer or camera parameter at a frame."""

    def __init__(self, features, fps: float):
        self.features = features
        self.fps = float(fps)
        self._series: dict[Binding, np.ndarray] = {}

    @property
    def n_frames(self) -> int:
        return int(self.features.n_frames) if self.features is not None else 0

    def series(self, binding: Binding) -> np.ndarray:
        cached = self._series.get(binding)
        if cached is None and self.features is None:
            raise SceneError(
                f"a parameter follows the audio feature {binding.feature!r} but this render has no audio; "
                "give an audio track or use a fixed number"
            )
        if cached is None:
            cached = binding.series(self.features.scalar(binding.feature), self.fps)
            self._series[binding] = cached
        return cached

    def value(self, param, frame) -> float:
        """``param`` at ``frame``: a frame index, or a fractional frame position (a motion-blur
        sub-frame), where a bound parameter is interpolated linearly between the frames around it."""
        if isinstance(param, Binding):
            s = self.series(param)
            if len(s) == 0:
                return float(param.offset)
            last = len(s) - 1
            if isinstance(frame, (int, np.integer)) or float(frame).is_integer():
                return float(s[min(max(int(frame), 0), last)])
            below = math.floor(frame)
            t = frame - below
            lo, hi = min(max(below, 0), last), min(max(below + 1, 0), last)
            return float(s[lo] + (s[hi] - s[lo]) * t)
        return float(param)
