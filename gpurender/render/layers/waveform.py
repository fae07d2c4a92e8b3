"""The ``waveform`` layer: the frame's audio samples as a line or a filled shape about a centre line.

The whole track's waveform table (``features.waveform``, ``[n_frames, width]`` in -1..1) is
uploaded once through the render context; per frame only a small parameter block changes.
"""

from __future__ import annotations

import numpy as np

from ..shaderlib import load_wgsl, params_buffer
from ..structs import WAVEFORM
from .base import FrameInfo, LayerRenderer, TargetPipelines, as_target, clear_pass, color_target


class WaveformRenderer(LayerRenderer):
    content = "single"  # at most one fragment per pixel (columns that share their edges; waveform.wgsl)
    scales_opacity = True
    #: Draw only the columns of pixels near the wave (waveform.wgsl COLUMNS); False: a fullscreen
    #: triangle, the reference the tests compare with.
    columns = True

    def __init__(self, ctx, layer):
        super().__init__(ctx, layer)
        device = ctx.device
        module = device.create_shader_module(label="waveform.wgsl", code=load_wgsl("waveform.wgsl"))
        constants = {"COLUMNS": bool(self.columns)}
        self.pipelines = TargetPipelines(device, lambda format, blend: dict(
            vertex={"module": module, "entry_point": "vs_main", "constants": constants},
            primitive={"topology": "triangle-list"},
            fragment={"module": module, "entry_point": "fs_main", "targets": [color_target(format, blend)]},
        ))
        self.uniforms = params_buffer(device, WAVEFORM.size, "waveform params")
        self.n_samples = ctx.feature_width("waveform") if ctx.features is not None else 1
        self.entries = [
            {"binding": 0, "resource": {"buffer": self.uniforms}},
            {"binding": 1, "resource": {"buffer": ctx.feature_buffer("waveform")}},
        ]

    def uniform_data(self, frame: FrameInfo, opacity: float = 1.0) -> np.ndarray:
        """The parameter block for ``frame`` (:data:`~gpurender.render.structs.WAVEFORM`; pixel units, y up)."""
        p = self.layer.params
        w, h = self.ctx.width, self.ctx.height
        color = np.asarray(p["color"], np.float32)
        fill = p["fill_color"]
        fill = np.asarray(fill, np.float32) if fill is not None else color * np.float32((1, 1, 1, 0.5))
        return WAVEFORM.pack(
            color=color,
            fill_color=fill,
            viewport=(w, h),
            frame=self.ctx.table_row("waveform", frame),
            n_samples=max(self.n_samples, 1),
            left=self.value("x", frame) * w,
            span=max(self.value("width", frame), 1e-6) * w,
            centre=self.value("y", frame) * h,
            amplitude=0.5 * self.value("height", frame) * h,
            gain=self.value("gain", frame),
            thickness=max(self.value("thickness", frame), 0.0),
            filled=1 if p["style"] == "filled" else 0,
            antialias=1 if getattr(self.ctx, "antialias", True) else 0,
            opacity=opacity,
        )

    def bounds(self, frame: FrameInfo):
        """The samples are clipped to -1..1: the wave stays within the centre line -+ the amplitude,
        between its ends, plus the line's width and a soft edge."""
        w, h = self.ctx.width, self.ctx.height
        left = self.value("x", frame) * w
        span = max(self.value("width", frame), 1e-6) * w
        centre = h - self.value("y", frame) * h  # y down
        reach = abs(0.5 * self.value("height", frame) * h) + max(self.value("thickness", frame), 0.0) + 3.0
        pad = max(self.value("thickness", frame), 0.0) + 3.0
        return (left - pad, centre - reach, left + span + pad, centre + reach)

    def draw(self, command_encoder, frame: FrameInfo, target) -> None:
        self.ctx.device.queue.write_buffer(self.uniforms, 0, self.uniform_data(frame, as_target(target).opacity))
        rpass = clear_pass(command_encoder, target)
        rpass.set_pipeline(self.pipelines.get(target))
        rpass.set_bind_group(0, self.pipelines.group(target, self.entries))
        rpass.draw(6 if self.columns else 3, max(self.n_samples - 1, 1) if self.columns else 1)
        rpass.end()
