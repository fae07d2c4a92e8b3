"""The ``spectrum`` layer: the frame's log-spaced bands as bars, mirrored bars or a radial ring,
one instanced quad per bar."""

from __future__ import annotations

import numpy as np

from ..shaderlib import load_wgsl, params_buffer
from .base import FrameInfo, LayerRenderer, clear_pass, register_renderer

_STYLES = {"bars": 0, "mirrored": 1, "radial": 2}


@register_renderer("spectrum")
class SpectrumRenderer(LayerRenderer):
    def __init__(self, ctx, layer):
        super().__init__(ctx, layer)
        device = ctx.device
        module = device.create_shader_module(code=load_wgsl("spectrum.wgsl"))
        self.pipeline = device.create_render_pipeline(
            layout="auto",
            vertex={"module": module, "entry_point": "vs_main"},
            primitive={"topology": "triangle-list", "cull_mode": "none"},
            fragment={"module": module, "entry_point": "fs_main", "targets": [{"format": self.target_format}]},
        )
        self.uniforms = params_buffer(device, 80, "spectrum params")
        self.n_bands = ctx.feature_width("bands")
        self.bind_group = device.create_bind_group(
            layout=self.pipeline.get_bind_group_layout(0),
            entries=[
                {"binding": 0, "resource": {"buffer": self.uniforms}},
                {"binding": 1, "resource": {"buffer": ctx.feature_buffer("bands")}},
            ],
        )

    def draw(self, command_encoder, frame: FrameInfo, target_view) -> None:
        p = self.layer.params
        data = np.zeros(20, dtype=np.float32)
        data[0:4] = p["color"]
        data[4:8] = p["color_top"]
        data[8:10] = (self.ctx.width, self.ctx.height)
        ints = data.view(np.uint32)
        ints[10] = self.ctx.clamp_frame(frame.index) if self.ctx.features is not None else 0
        ints[11] = self.n_bands
        ints[12] = max(int(p["bars"]), 1)
        ints[13] = _STYLES[p["style"]]
        data[14] = self.value("height", frame)
        data[15] = self.value("y", frame)
        data[16] = min(max(self.value("gap", frame), 0.0), 0.95)
        data[17] = self.value("gain", frame)
        data[18] = self.value("radius", frame)
        self.ctx.device.queue.write_buffer(self.uniforms, 0, data)
        rpass = clear_pass(command_encoder, target_view)
        rpass.set_pipeline(self.pipeline)
        rpass.set_bind_group(0, self.bind_group)
        bars = max(int(p["bars"]), 1)
        rpass.draw(6, bars)
        rpass.end()
