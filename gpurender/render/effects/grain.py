"""The ``grain`` effect layer: film grain over everything beneath, seeded and new every frame.

The grain at a pixel is a pure function of the layer's seed, the frame's index and the pixel (PCG
hashes: :func:`frame_key` of the seed and frame here, then of the grain cell in
``shaders/effect_grain.wgsl``): the same on every run, machine and chunk, and different
in every frame. ``size`` is in pixels of a 1080-line frame, so the grain looks alike at every
resolution (a grain is never smaller than one output pixel). The noise is near-Gaussian, added to
the colour and strongest in mid-tones; transparent pixels get none.
"""

from __future__ import annotations

from ..structs import GRAIN
from . import EffectRenderer
from .kernels import OnePassEffect

#: Frame height at which ``size`` is in pixels.
REFERENCE_HEIGHT = 1080
_MASK = 0xFFFFFFFF


def pcg(v: int) -> int:
    """The PCG hash of ``shaders/effect_grain.wgsl`` (Jarzynski and Olano 2020), on 32-bit integers."""
    state = (v * 747796405 + 2891336453) & _MASK
    word = (((state >> ((state >> 28) + 4)) ^ state) * 277803737) & _MASK
    return ((word >> 22) ^ word) & _MASK


def frame_key(seed: int, index: int) -> int:
    """What the shader hashes with each grain cell: the same for the same seed and frame only."""
    return pcg((seed & _MASK) ^ pcg(index & _MASK))


class GrainRenderer(OnePassEffect, EffectRenderer):
    shader, struct, label = "effect_grain.wgsl", GRAIN, "grain"

    def params_data(self, frame):
        size = max(self.value("size", frame), 0.0) * self.ctx.height / REFERENCE_HEIGHT
        return GRAIN.pack(
            amount=max(self.value("amount", frame), 0.0),
            cell=max(size, 1.0),
            chroma=min(max(self.value("color", frame), 0.0), 1.0),
            key=frame_key(int(self.layer.params["seed"]), frame.index),
        )
