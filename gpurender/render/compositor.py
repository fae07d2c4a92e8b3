"""Stacks the layers' textures over the background with per-layer blend modes and opacity.

The formulas are those of W3C "Compositing and Blending Level 1": for each layer the blend step
``Cs' = (1 - ab) * Cs + ab * B(Cb, Cs)`` followed by source-over compositing, with the layer's
opacity folded into its alpha, plus ``add`` (plus-lighter). They are applied to the non-linear
sRGB values as they are, as browsers do. Layers are the slices of one premultiplied
``LAYER_FORMAT`` texture array owned by the compositor (:meth:`Compositor.layer_view` gives the
view a layer draws into); one fullscreen pass (``shaders/composite.wgsl``) walks them bottom to
top per pixel, keeping the backdrop in float32 registers, and writes a straight-alpha
``OUTPUT_FORMAT`` texture that is read back for PNGs or converted to YUV. One pass whatever the
layer count matters on a software rasterizer, where each full-frame pass of blending cost about
as much as drawing a layer (measured 40 ms per layer pass at 720p on lavapipe).

Two choices keep 8-bit images blending to within 1/255 of the specification in every mode. Half
floats hold an 8-bit value to within about an eighth of a step, but several formulas magnify such
errors: color-dodge computes ``Cb / (1 - Cs)``, color-burn ``(1 - Cb) / Cs``, and hue and
saturation divide by a colour's channel spread (max - min). Read directly, random 8-bit layers gave
errors of up to 9/255. So (1) each layer is read as 8-bit straight RGBA: its alpha and its
un-premultiplied colour are rounded to multiples of 1/255, which recovers 8-bit content exactly
and moves float content by at most half an 8-bit step, the output's own precision; and (2) the
backdrop stays in float32 between layers (a half-float backdrop alone still gave 8/255 in
color-burn, since it is un-premultiplied for every layer). With both, the output is the
correctly rounded 8-bit value of the specification.

For 10-bit video the compositor writes ``FLOAT_OUTPUT_FORMAT`` (rgba16float) instead, and reads
each layer at 1023 steps, so a gradient keeps its 10-bit steps all the way to the colour conversion.
"""

from __future__ import annotations

from typing import Sequence

from ..errors import RenderError, SceneError, choices
from .device import LAYER_FORMAT, OUTPUT_FORMAT

#: The composite's format for output deeper than 8 bits (10-bit video): half floats hold 11
#: significant bits, so every 10-bit code of 0..1 survives.
FLOAT_OUTPUT_FORMAT = "rgba16float"
_LEVELS = {OUTPUT_FORMAT: 255.0, FLOAT_OUTPUT_FORMAT: 1023.0}
from .shaderlib import load_wgsl, params_buffer
from .structs import STACK

#: Blend modes by name; the index is the mode number in ``composite.wgsl``.
BLEND_MODES: tuple[str, ...] = (
    "normal", "multiply", "screen", "overlay", "darken", "lighten", "color-dodge", "color-burn",
    "hard-light", "soft-light", "difference", "exclusion", "hue", "saturation", "color",
    "luminosity", "add",
)
_MODE_INDEX = {name: i for i, name in enumerate(BLEND_MODES)}

#: Most layers one compositor stacks: the scene's limit, and the length of the stack's layer
#: array (:data:`gpurender.render.structs.STACK`).
MAX_LAYERS = STACK.field("layers").type.dtype.shape[0]

__all__ = ["BLEND_MODES", "Compositor", "FLOAT_OUTPUT_FORMAT", "LAYER_FORMAT", "MAX_LAYERS", "OUTPUT_FORMAT"]


def check_blend_mode(mode: str, where: str = "layer") -> int:
    """The mode number of ``mode``; unknown names raise :class:`SceneError` listing valid ones."""
    index = _MODE_INDEX.get(mode)
    if index is None:
        raise SceneError(f"{where}: unknown blend mode {mode!r}; valid: {choices(BLEND_MODES)}")
    return index


class Compositor:
    """Composites ``n_layers`` layers of one size into ``output_texture``.

    The layer textures, pipeline, parameter buffer and bind group are made once here. Per frame,
    :meth:`encode` writes the small stack block (modes, opacities, background) and records one
    pass, so each frame must be submitted before the next frame's :meth:`encode`.
    """

    def __init__(self, device, width: int, height: int, n_layers: int = 1, output_format: str = OUTPUT_FORMAT):
        import wgpu

        if output_format not in _LEVELS:
            raise ValueError(f"compositor output format must be one of {', '.join(_LEVELS)}, not {output_format!r}")
        self.output_format = output_format
        self.device = device
        self.width = int(width)
        self.height = int(height)
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"compositor size must be positive, got {width}x{height}")
        if n_layers > MAX_LAYERS:
            raise SceneError(f"a scene may have at most {MAX_LAYERS} layers, this one has {n_layers}")
        self.n_layers = max(int(n_layers), 0)
        usage = wgpu.TextureUsage.RENDER_ATTACHMENT | wgpu.TextureUsage.TEXTURE_BINDING
        #: Premultiplied LAYER_FORMAT texture array, one slice per layer (at least one slice,
        #: so the bind group is valid for a scene without layers).
        self.layer_texture = device.create_texture(
            label="gpurender layers", size=(self.width, self.height, max(self.n_layers, 1)),
            format=LAYER_FORMAT, usage=usage | wgpu.TextureUsage.COPY_DST,
        )
        self._layer_views = [
            self.layer_texture.create_view(dimension="2d", base_array_layer=i, array_layer_count=1)
            for i in range(self.n_layers)
        ]
        self._slice_of = {id(v): i for i, v in enumerate(self._layer_views)}
        #: The composited frame: ``output_format`` (OUTPUT_FORMAT, "rgba8unorm", unless asked for
        #: FLOAT_OUTPUT_FORMAT), straight alpha, sRGB-encoded values.
        self.output_texture = device.create_texture(
            label="gpurender composite", size=(self.width, self.height, 1), format=output_format,
            usage=usage | wgpu.TextureUsage.COPY_SRC,
        )
        self.output_view = self.output_texture.create_view()
        self._uniform = params_buffer(device, STACK.size, "gpurender stack")
        self._module = device.create_shader_module(label="composite", code=load_wgsl("composite.wgsl"))
        self._bind_layout = device.create_bind_group_layout(entries=[
            {"binding": 0, "visibility": wgpu.ShaderStage.FRAGMENT,
             "texture": {"sample_type": "unfilterable-float", "view_dimension": "2d-array"}},
            {"binding": 1, "visibility": wgpu.ShaderStage.FRAGMENT, "buffer": {"type": "read-only-storage"}},
        ])
        self._layout = device.create_pipeline_layout(bind_group_layouts=[self._bind_layout])
        self._pipelines: dict[tuple[int, ...], object] = {}
        self._bind_group = device.create_bind_group(
            layout=self._bind_layout,
            entries=[
                {"binding": 0, "resource": self.layer_texture.create_view(dimension="2d-array")},
                {"binding": 1, "resource": {"buffer": self._uniform}},
            ],
        )

    def _pipeline_for(self, modes: tuple[int, ...]):
        """The pipeline specialised for this stack of blend modes (made once per stack)."""
        pipeline = self._pipelines.get(modes)
        if pipeline is None:
            import wgpu

            constants = {"LAYER_COUNT": len(modes), "LEVELS": _LEVELS[self.output_format]}
            constants.update({f"MODE{i}": m for i, m in enumerate(modes[:8])})
            pipeline = self.device.create_render_pipeline(
                label="gpurender composite",
                layout=self._layout,
                vertex={"module": self._module, "entry_point": "vs_main"},
                primitive={"topology": wgpu.PrimitiveTopology.triangle_list},
                fragment={"module": self._module, "entry_point": "fs_main", "constants": constants,
                          "targets": [{"format": self.output_format}]},
            )
            self._pipelines[modes] = pipeline
        return pipeline

    def layer_view(self, index: int):
        """The 2D view of layer slot ``index``, for a layer to draw into (premultiplied)."""
        return self._layer_views[index]

    def encode(
        self,
        command_encoder,
        background: tuple[float, float, float, float],
        layers: Sequence[tuple[object, str, float]],
    ) -> None:
        """Record the compositing of ``layers`` over ``background`` into ``output_texture``.

        ``background`` is straight RGBA in 0..1 (alpha 0 for a transparent frame; RGB alone means
        opaque). ``layers`` are ``(view, blend mode, opacity)`` from bottom to top, each view one
        of :meth:`layer_view`'s. Unknown modes raise :class:`SceneError` before anything is recorded.
        """
        rgba = [min(max(float(v), 0.0), 1.0) for v in background]
        if len(layers) > MAX_LAYERS:
            raise SceneError(f"a scene may have at most {MAX_LAYERS} layers, this one has {len(layers)}")
        slots, modes = [], []
        for i, (view, mode, opacity) in enumerate(layers):
            index = check_blend_mode(mode, f"layer {i + 1}")
            slot = self._slice_of.get(id(view))
            if slot is None or self._layer_views[slot] is not view:
                raise RenderError("compositor layers must be views from Compositor.layer_view()")
            slots.append(slot)
            modes.append(index)
        if slots != list(range(len(slots))):
            # The shader walks slices 0..count-1 in order; other orders would need a slot map.
            raise RenderError("compositor layers must be given in slot order, bottom to top")
        data = STACK.pack(
            background=rgba if len(rgba) == 4 else (*rgba, 1.0),
            layers=[{"mode": m, "opacity": min(max(float(o), 0.0), 1.0)} for m, (_, _, o) in zip(modes, layers)],
        )
        self.device.queue.write_buffer(self._uniform, 0, data)
        rpass = command_encoder.begin_render_pass(
            label="composite",
            color_attachments=[{"view": self.output_view, "clear_value": (0, 0, 0, 0),
                                "load_op": "clear", "store_op": "store"}],
        )
        rpass.set_pipeline(self._pipeline_for(tuple(modes)))
        rpass.set_bind_group(0, self._bind_group)
        rpass.draw(3)
        rpass.end()
