"""Turns parameters that may be bound to audio features into per-frame numbers.

Each binding's whole-track series is computed once (smoothing is sequential over frames), so
evaluating a parameter at a frame is an array lookup. Frame indices are the track's own: frame
``i`` is time ``i / fps`` whatever part of the track is being rendered.
"""

from __future__ import annotations

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

    def value(self, param, frame: int) -> float:
        if isinstance(param, Binding):
            s = self.series(param)
            if len(s) == 0:
                return float(param.offset)
            return float(s[min(max(frame, 0), len(s) - 1)])
        return float(param)
