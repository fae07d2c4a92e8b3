"""The ``spectrum`` layer: the frame's log-spaced bands as bars, mirrored bars or a radial ring,
one instanced quad per bar."""

from __future__ import annotations

from ..shaderlib import load_wgsl, params_buffer
from ..structs import SPECTRUM
from .base import FrameInfo, LayerRenderer, clear_pass

_STYLES = {"bars": 0, "mirrored": 1, "radial": 2}


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
        self.uniforms = params_buffer(device, SPECTRUM.size, "spectrum params")
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
        bars = max(int(p["bars"]), 1)
        data = SPECTRUM.pack(
            color=p["color"],
            color_top=p["color_top"],
            viewport=(self.ctx.width, self.ctx.height),
            frame=self.ctx.clamp_frame(frame.index) if self.ctx.features is not None else 0,
            n_bands=self.n_bands,
            bars=bars,
            style=_STYLES[p["style"]],
            height=self.value("height", frame),
            base_y=self.value("y", frame),
            gap=min(max(self.value("gap", frame), 0.0), 0.95),
            gain=self.value("gain", frame),
            radius=self.value("radius", frame),
        )
        self.ctx.device.queue.write_buffer(self.uniforms, 0, data)
        rpass = clear_pass(command_encoder, target_view)
        rpass.set_pipeline(self.pipeline)
        rpass.set_bind_group(0, self.bind_group)
        rpass.draw(6, bars)
        rpass.end()
