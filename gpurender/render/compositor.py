"""Stacks the layers' textures over the background with per-layer blend modes and opacity.

The formulas are those of W3C "Compositing and Blending Level 1": for each layer the blend step
``Cs' = (1 - ab) * Cs + ab * B(Cb, Cs)`` followed by source-over compositing, with the layer's
opacity folded into its alpha, plus ``add`` (plus-lighter). They are applied to the non-linear
sRGB values as they are, as browsers do. Layers arrive as premultiplied ``LAYER_FORMAT``
textures; the compositor ping-pongs between two premultiplied accumulators, one fullscreen pass
per layer (``shaders/composite.wgsl``), and resolves the result into a straight-alpha
``OUTPUT_FORMAT`` texture that is read back for PNGs or converted to YUV.

Two choices keep 8-bit images blending to within 1/255 of the specification in every mode. Half
floats hold an 8-bit value to within about an eighth of a step, but several formulas magnify such
errors: color-dodge computes ``Cb / (1 - Cs)``, color-burn ``(1 - Cb) / Cs``, and hue and
saturation divide by a colour's channel spread (max - min). Read directly, random 8-bit layers gave
errors of up to 9/255. So (1) each layer is read as 8-bit straight RGBA: its alpha and its
un-premultiplied colour are rounded to multiples of 1/255, which recovers 8-bit content exactly
and moves float content by at most half an 8-bit step, the output's own precision; and (2) the
two accumulators are ``rgba32float`` (``ACCUM_FORMAT``) rather than ``LAYER_FORMAT``, since the
backdrop is un-premultiplied for every layer and a half-float backdrop alone still gave 8/255
in color-burn. With both, the output is the correctly rounded 8-bit value of the specification.
"""

from __future__ import annotations

from typing import Sequence

from ..errors import RenderError, SceneError, choices
from .device import LAYER_FORMAT, OUTPUT_FORMAT
from .shaderlib import load_wgsl

#: Blend modes by name; the index is the mode number in ``composite.wgsl``.
BLEND_MODES: tuple[str, ...] = (
    "normal", "multiply", "screen", "overlay", "darken", "lighten", "color-dodge", "color-burn",
    "hard-light", "soft-light", "difference", "exclusion", "hue", "saturation", "color",
    "luminosity", "add",
)
_MODE_INDEX = {name: i for i, name in enumerate(BLEND_MODES)}

#: Format of the two private accumulators (premultiplied); see the module docstring for why.
ACCUM_FORMAT = "rgba32float"
_OPACITY_SCALE = 1 << 24  # must match OPACITY_SCALE in composite.wgsl
_VIEW_CACHE = 64  # layer bind groups kept; a scene reuses the same views every frame

__all__ = ["ACCUM_FORMAT", "BLEND_MODES", "Compositor", "LAYER_FORMAT", "OUTPUT_FORMAT"]


def check_blend_mode(mode: str, where: str = "layer") -> int:
    """The mode number of ``mode``; unknown names raise :class:`SceneError` listing valid ones."""
    index = _MODE_INDEX.get(mode)
    if index is None:
        raise SceneError(f"{where}: unknown blend mode {mode!r}; valid: {choices(BLEND_MODES)}")
    return index


class Compositor:
    """Composites layer textures of one size into ``output_texture``.

    Pipelines, accumulators and their bind groups are made once here. Per frame, :meth:`encode`
    only records passes: the mode and opacity of each pass travel as draw-call parameters, so no
    buffer is written and several frames may be encoded before any is submitted.
    """

    def __init__(self, device, width: int, height: int):
        import wgpu

        self.device = device
        self.width = int(width)
        self.height = int(height)
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"compositor size must be positive, got {width}x{height}")
        size = (self.width, self.height, 1)
        usage = wgpu.TextureUsage.RENDER_ATTACHMENT | wgpu.TextureUsage.TEXTURE_BINDING
        self._accum = [
            device.create_texture(label=f"gpurender accum {i}", size=size, format=ACCUM_FORMAT, usage=usage)
            for i in range(2)
        ]
        self._accum_views = [t.create_view() for t in self._accum]
        #: The composited frame: OUTPUT_FORMAT ("rgba8unorm"), straight alpha, sRGB-encoded values.
        self.output_texture = device.create_texture(
            label="gpurender composite",
            size=size,
            format=OUTPUT_FORMAT,
            usage=usage | wgpu.TextureUsage.COPY_SRC,
        )
        self.output_view = self.output_texture.create_view()

        def texture_layout():
            return device.create_bind_group_layout(
                entries=[
                    {
                        "binding": 0,
                        "visibility": wgpu.ShaderStage.FRAGMENT,
                        "texture": {"sample_type": "unfilterable-float", "view_dimension": "2d"},
                    }
                ]
            )

        self._accum_layout = texture_layout()
        self._layer_layout = texture_layout()
        self._accum_groups = [
            device.create_bind_group(layout=self._accum_layout, entries=[{"binding": 0, "resource": v}])
            for v in self._accum_views
        ]
        module = device.create_shader_module(label="composite", code=load_wgsl("composite.wgsl"))

        def pipeline(entry: str, layouts: list, fmt: str):
            return device.create_render_pipeline(
                label=f"gpurender {entry}",
                layout=device.create_pipeline_layout(bind_group_layouts=layouts),
                vertex={"module": module, "entry_point": "vs_main"},
                primitive={"topology": wgpu.PrimitiveTopology.triangle_list},
                fragment={"module": module, "entry_point": entry, "targets": [{"format": fmt}]},
            )

        self._blend_pipeline = pipeline("fs_blend", [self._accum_layout, self._layer_layout], ACCUM_FORMAT)
        self._resolve_pipeline = pipeline("fs_resolve", [self._accum_layout], OUTPUT_FORMAT)
        # id(view) -> (view, bind group); holding the view keeps its id from being reused.
        self._layer_groups: dict[int, tuple[object, object]] = {}

    def _layer_group(self, view):
        entry = self._layer_groups.get(id(view))
        if entry is not None and entry[0] is view:
            return entry[1]
        size = getattr(view, "size", None)
        if size is not None and (size[0], size[1]) != (self.width, self.height):
            raise RenderError(
                f"a layer texture is {size[0]}x{size[1]} but the compositor was made for "
                f"{self.width}x{self.height}; draw every layer at the output size"
            )
        group = self.device.create_bind_group(layout=self._layer_layout, entries=[{"binding": 0, "resource": view}])
        if len(self._layer_groups) >= _VIEW_CACHE:
            self._layer_groups.pop(next(iter(self._layer_groups)))
        self._layer_groups[id(view)] = (view, group)
        return group

    def _pass(self, command_encoder, target_view, clear=(0.0, 0.0, 0.0, 0.0), label="composite"):
        return command_encoder.begin_render_pass(
            label=label,
            color_attachments=[
                {"view": target_view, "clear_value": clear, "load_op": "clear", "store_op": "store"}
            ],
        )

    def encode(
        self,
        command_encoder,
        background: tuple[float, float, float, float],
        layers: Sequence[tuple[object, str, float]],
    ) -> None:
        """Record the compositing of ``layers`` over ``background`` into ``output_texture``.

        ``background`` is straight RGBA in 0..1 (alpha 0 for a transparent frame; RGB alone means
        opaque). ``layers`` are
        ``(view, blend mode, opacity)`` from bottom to top, each view a premultiplied
        ``LAYER_FORMAT`` texture of the compositor's size. Unknown modes raise
        :class:`SceneError` before anything is recorded.
        """
        plan = []
        for i, (view, mode, opacity) in enumerate(layers):
            index = check_blend_mode(mode, f"layer {i + 1}")
            amount = min(max(float(opacity), 0.0), 1.0)
            plan.append((self._layer_group(view), index, round(amount * _OPACITY_SCALE)))

        rgba = [min(max(float(v), 0.0), 1.0) for v in background]
        r, g, b, a = rgba if len(rgba) == 4 else (*rgba, 1.0)
        rpass = self._pass(command_encoder, self._accum_views[0], (r * a, g * a, b * a, a), "composite background")
        rpass.end()
        current = 0
        for group, mode, opacity in plan:
            rpass = self._pass(command_encoder, self._accum_views[1 - current])
            rpass.set_pipeline(self._blend_pipeline)
            rpass.set_bind_group(0, self._accum_groups[current])
            rpass.set_bind_group(1, group)
            # The shader reads the mode from first_vertex / 4 and the opacity from first_instance.
            rpass.draw(3, 1, 4 * mode, opacity)
            rpass.end()
            current = 1 - current
        rpass = self._pass(command_encoder, self.output_view, label="composite resolve")
        rpass.set_pipeline(self._resolve_pipeline)
        rpass.set_bind_group(0, self._accum_groups[current])
        rpass.draw(3)
        rpass.end()
