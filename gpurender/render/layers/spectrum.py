"""The ``spectrum`` layer: the frame's log-spaced bands as bars, mirrored bars or a radial ring,
one instanced quad per bar."""

from __future__ import annotations

from ...scene.model import Binding
from ..shaderlib import load_wgsl, params_buffer
from ..structs import SPECTRUM
from .base import FrameInfo, LayerRenderer, TargetPipelines, as_target, clear_pass, color_target

_STYLES = {"bars": 0, "mirrored": 1, "radial": 2}


def separate_bars(params: dict, width: int) -> bool:
    """Whether anti-aliased bars (or mirrored bars) have gaps of two pixels or more at every frame,
    so that each can be drawn alone (spectrum.wgsl SEPARATE): a fixed gap, wide enough."""
    gap, bars = params["gap"], max(int(params["bars"]), 1)
    if params["style"] == "radial" or isinstance(gap, Binding):
        return False
    return min(max(float(gap), 0.0), 0.95) * width / bars >= 2.0


class SpectrumRenderer(LayerRenderer):
    content = "single"  # bars (and wedges) never overlap: one fragment per pixel
    scales_opacity = True

    def __init__(self, ctx, layer):
        super().__init__(ctx, layer)
        device = ctx.device
        module = device.create_shader_module(code=load_wgsl("spectrum.wgsl"))
        self.uniforms = params_buffer(device, SPECTRUM.size, "spectrum params")
        self.n_bands = ctx.feature_width("bands")
        entries = [
            {"binding": 0, "resource": {"buffer": self.uniforms}},
            {"binding": 1, "resource": {"buffer": ctx.feature_buffer("bands")}},
        ]
        # the style and anti-aliasing are the shader's constants (see spectrum.wgsl)
        style = layer.params["style"]
        constants = {"STYLE": _STYLES[style], "ANTIALIAS": bool(getattr(ctx, "antialias", True)),
                     "SEPARATE": separate_bars(layer.params, ctx.width)}
        self.pipelines = TargetPipelines(device, lambda format, blend: dict(
            vertex={"module": module, "entry_point": "vs_main", "constants": constants},
            primitive={"topology": "triangle-list", "cull_mode": "none"},
            fragment={"module": module, "entry_point": "fs_main", "constants": constants,
                      "targets": [color_target(format, blend)]},
        ))
        self.entries = entries

    def bounds(self, frame: FrameInfo):
        """Bars stay within the baseline -+ the full height (levels are clamped to 0..1) across the
        frame; a radial ring within radius + height of the centre. Two pixels more for the edges."""
        w, h = self.ctx.width, self.ctx.height
        height = abs(self.value("height", frame))
        margin = 2.0
        if self.layer.params["style"] == "radial":
            reach = (abs(self.value("radius", frame)) + height) * h + margin
            return (w / 2 - reach, h / 2 - reach, w / 2 + reach, h / 2 + reach)
        base = self.value("y", frame)
        return (0.0, (1.0 - base - height) * h - margin, float(w), (1.0 - base + height) * h + margin)

    def draw(self, command_encoder, frame: FrameInfo, target) -> None:
        p = self.layer.params
        bars = max(int(p["bars"]), 1)
        data = SPECTRUM.pack(
            color=p["color"],
            color_top=p["color_top"],
            viewport=(self.ctx.width, self.ctx.height),
            frame=self.ctx.table_row("bands", frame),
            n_bands=self.n_bands,
            bars=bars,
            style=_STYLES[p["style"]],
            height=self.value("height", frame),
            base_y=self.value("y", frame),
            gap=min(max(self.value("gap", frame), 0.0), 0.95),
            gain=self.value("gain", frame),
            radius=self.value("radius", frame),
            antialias=1 if getattr(self.ctx, "antialias", True) else 0,
            opacity=as_target(target).opacity,
        )
        self.ctx.device.queue.write_buffer(self.uniforms, 0, data)
        rpass = clear_pass(command_encoder, target)
        rpass.set_pipeline(self.pipelines.get(target))
        rpass.set_bind_group(0, self.pipelines.group(target, self.entries))
        rpass.draw(6, bars)
        rpass.end()
