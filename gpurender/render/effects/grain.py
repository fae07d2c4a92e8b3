"""The ``grain`` effect layer: film grain over everything beneath, seeded and new every frame.

The grain at a pixel is a pure function of the layer's seed, the frame's index and the pixel (PCG
hashes: :func:`frame_key` of the seed and frame here, then of the grain cell in
``shaders/effect_grain.wgsl``): the same on every run, machine and chunk, and different
in every frame. ``size`` is in pixels of a 1080-line frame, so the grain looks alike at every
resolution (a grain is never smaller than one output pixel). The noise is near-Gaussian, added to
the colour and strongest in mid-tones; transparent pixels get none.
"""

from __future__ import annotations

from ..shaderlib import load_wgsl, params_buffer
from ..structs import GRAIN
from . import EffectRenderer
from .kernels import PerView, bind_group, bind_layout, draw_fullscreen, fullscreen_pipeline

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


class GrainRenderer(EffectRenderer):
    def __init__(self, ctx, layer):
        super().__init__(ctx, layer)
        device = ctx.device
        module = device.create_shader_module(label="effect_grain.wgsl", code=load_wgsl("effect_grain.wgsl"))
        layout = bind_layout(device, textures=1, sampler=False)
        self.pipeline = fullscreen_pipeline(device, module, "fs_main", layout, label="grain")
        self.params = params_buffer(device, GRAIN.size, "grain params")
        self.groups = PerView(lambda src: bind_group(device, layout, self.params, (src,)))

    def params_data(self, frame):
        size = max(self.value("size", frame), 0.0) * self.ctx.height / REFERENCE_HEIGHT
        return GRAIN.pack(
            amount=max(self.value("amount", frame), 0.0),
            cell=max(size, 1.0),
            chroma=min(max(self.value("color", frame), 0.0), 1.0),
            key=frame_key(int(self.layer.params["seed"]), frame.index),
        )

    def apply(self, command_encoder, frame, source_view, target_view) -> None:
        self.ctx.device.queue.write_buffer(self.params, 0, self.params_data(frame))
        draw_fullscreen(command_encoder, [target_view], self.pipeline, self.groups(source_view), "grain")
