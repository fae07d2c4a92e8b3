"""Composites a scene's layers in floating point: the blend modes, the rule for which layers may draw
straight into the composite, and the compositor pass for the others.

The formulas are those of W3C "Compositing and Blending Level 1": for each layer the blend step
``Cs' = (1 - ab) * Cs + ab * B(Cb, Cs)`` followed by source-over compositing, with the layer's
opacity folded into its alpha, plus ``add`` (plus-lighter). They are applied to the non-linear
sRGB values as they are, as browsers do, on premultiplied RGBA in floating point: the composite is
HDR, so ``add``, additive sprites and effects such as bloom may exceed 1; tone mapping at the end
brings it into the picture (:mod:`gpurender.render.convert`). ``shaders/blend.wgsl`` says how each
mode treats light beyond 1.

**Where layers go.** The composite lives in one of two ``COMPOSITE_FORMAT`` targets (half floats;
``SDR_COMPOSITE_FORMAT``, 8 bits, for a scene of one layer over an opaque background that cannot
leave 0..1: :meth:`gpurender.render.renderer.FrameRenderer.composite_format`). A layer whose blend
fixed-function blending computes exactly (:func:`direct_blend`: ``normal``, ``screen`` and
``multiply`` over an opaque backdrop at opacity 1, or at any opacity for a layer that scales its own
fragments by it, ``scales_opacity``; ``add`` at any opacity, for layers whose fragments do not
overlap, and a few more) draws straight into the current target: no texture of its own, no
clear, nothing for the compositor to read. Every other layer draws into its own slice of one
``LAYER_FORMAT`` texture array (:meth:`Compositor.slice_view`). One in ``normal``, ``screen``, ``add``
or ``multiply`` (opaque backdrop) is then handed to fixed-function blending as a whole, its opacity
folded in (:meth:`Compositor.blit`, :func:`blit_blend`), only inside the rectangle it drew in
(``LayerRenderer.bounds``). A run of consecutive layers in the other modes, and effects, is
composited over the current target in one pass (``shaders/composite.wgsl``) that writes the other
target; the run at the top of a scene costs no pass at all, since the colour conversion composites
it on the fly while it converts. A run that starts at the bottom of the scene starts from the
background colour itself rather than a texture.

**What costs what on a software rasterizer** (lavapipe, 2 cores, 720p): a pass costs the pixels it
shades, and a shader costs every branch it has whatever the values, a uniform's included (so
per-pixel early-outs save nothing there: pipelines are specialised with constants instead, and a
layer's rectangle limits the pixels a blit shades). Reading a layer in a full-frame composite cost
about 8 ms per layer however little it drew; its blit costs its rectangle.

**Precision.** Two choices keep 8-bit images blending to within 1/255 of the specification in every
mode (correctly rounded, for a run from the background). Half floats hold an 8-bit value to within
about an eighth of a step, but several formulas magnify such errors: color-dodge computes
``Cb / (1 - Cs)``, color-burn ``(1 - Cb) / Cs``, and hue and saturation divide by a colour's
channel spread (max - min). Read directly, random 8-bit layers gave errors of up to 9/255. So (1)
each layer is read as 8-bit straight RGBA: its alpha and its un-premultiplied colour are rounded to
multiples of 1/255, which recovers 8-bit content exactly and moves float content by at most half an
8-bit step, the output's own precision; and (2) within a run the backdrop stays in float32
registers (a half-float backdrop alone still gave 8/255 in color-burn, since it is un-premultiplied
for every layer). A composite target holds half floats (an 8-bit one only under the one-layer rule
above, where nothing is composited after the layer's own blend), which is exact enough for every mode but
those that divide by the backdrop (:data:`BACKDROP_SENSITIVE`): beneath a layer in one of those,
nothing draws direct, so the whole stack up to it is one run in float32 (:func:`plan`).

For 10-bit video each layer is read at 1023 steps instead, so a gradient keeps its 10-bit steps all
the way to the colour conversion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..errors import SceneError, choices
from .device import LAYER_FORMAT
from .shaderlib import load_wgsl, params_buffer, per_device
from .structs import STACK

#: Format of the composite targets: premultiplied, HDR, what effects read (EFFECT_FORMAT).
COMPOSITE_FORMAT = "rgba16float"
#: Format of the composite targets of a scene whose composite cannot leave 0..1 and whose output
#: is 8-bit (see :meth:`gpurender.render.renderer.FrameRenderer.composite_format`): half the bytes to
#: clear, blend into and convert from (on a software rasterizer ~4-6 ms of a 1080p frame's ~20).
SDR_COMPOSITE_FORMAT = "rgba8unorm"
#: Steps each layer is read at, by output depth (see the module docstring).
LEVELS_8BIT = 255.0
LEVELS_10BIT = 1023.0

#: Blend modes by name; the index is the mode number in ``shaders/blend.wgsl``.
BLEND_MODES: tuple[str, ...] = (
    "normal", "multiply", "screen", "overlay", "darken", "lighten", "color-dodge", "color-burn",
    "hard-light", "soft-light", "difference", "exclusion", "hue", "saturation", "color",
    "luminosity", "add",
)
_MODE_INDEX = {name: i for i, name in enumerate(BLEND_MODES)}
#: The mode number of an effect layer in "normal": its output replaces what is beneath it,
#: ``mix(backdrop, effect, opacity)`` (not a scene's mode).
REPLACE = len(BLEND_MODES)

#: Modes whose formulas divide by (functions of) the backdrop, so that a half-float backdrop's
#: rounding can grow to several 8-bit steps: everything beneath such a layer is composited in one
#: float32 run with it.
BACKDROP_SENSITIVE = frozenset({"color-dodge", "color-burn", "hue", "saturation", "color", "luminosity"})

#: Most layers one compositor stacks: the scene's limit, and the length of the stack's layer
#: array (:data:`gpurender.render.structs.STACK`).
MAX_LAYERS = STACK.field("layers").type.dtype.shape[0]

__all__ = ["BACKDROP_SENSITIVE", "BLEND_MODES", "COMPOSITE_FORMAT", "SDR_COMPOSITE_FORMAT", "Compositor", "LAYER_FORMAT",
           "MAX_LAYERS", "REPLACE", "Run", "blit_blend", "direct_blend", "premultiplied", "stack_bind_layout"]


def check_blend_mode(mode: str, where: str = "layer") -> int:
    """The mode number of ``mode``; unknown names raise :class:`SceneError` listing valid ones."""
    index = _MODE_INDEX.get(mode)
    if index is None:
        raise SceneError(f"{where}: unknown blend mode {mode!r}; valid: {choices(BLEND_MODES)}")
    return index


# ---- drawing straight into the composite --------------------------------------------------------

_OVER = {"src_factor": "one", "dst_factor": "one-minus-src-alpha", "operation": "add"}
_PLUS = {"src_factor": "constant", "dst_factor": "one", "operation": "add"}

#: Fixed-function blend states that compute a mode's composite exactly (premultiplied source,
#: shaders/blend.wgsl's closed forms): normal is source-over; screen is ``s + b - s b``; multiply
#: over an opaque backdrop is ``s b + b (1 - as)``; add is ``b + opacity * s`` (the opacity is the
#: render pass's blend constant).
DIRECT_BLENDS = {
    "normal": {"color": _OVER, "alpha": _OVER},
    "screen": {"color": {"src_factor": "one", "dst_factor": "one-minus-src", "operation": "add"}, "alpha": _OVER},
    "multiply": {"color": {"src_factor": "dst", "dst_factor": "one-minus-src-alpha", "operation": "add"},
                 "alpha": _OVER},
    "add": {"color": _PLUS, "alpha": _PLUS},
}

_ONE = {"src_factor": "one", "dst_factor": "one", "operation": "add"}

#: The blend states of the blit (``composite.wgsl`` ``fs_blit``): a layer in its own texture handed
#: to fixed-function blending as one premultiplied source, its opacity folded in, so any content at
#: any opacity (the layer composites as a whole). Multiply needs an opaque backdrop, as drawing
#: direct does.
BLIT_BLENDS = {
    "normal": DIRECT_BLENDS["normal"],
    "screen": DIRECT_BLENDS["screen"],
    "multiply": DIRECT_BLENDS["multiply"],
    "add": {"color": _ONE, "alpha": _ONE},
}


def blit_blend(mode: str, opaque_backdrop: bool) -> dict | None:
    """The blend state that composites a layer from its own texture with exactly the compositor's
    result (:data:`BLIT_BLENDS`), or None when only a compositor pass can."""
    if mode == "multiply" and not opaque_backdrop:
        return None
    return BLIT_BLENDS.get(mode)


#: How a layer's own fragments combine (``LayerRenderer.content``):
#: ``single``: at most one fragment per pixel, premultiplied with colour <= alpha (quads, bars,
#: fullscreen shaders, a splat's resolve): the layer's texture is just its fragments;
#: ``over``: overlapping fragments composited with source-over in draw order (blended sprites);
#: ``additive``: overlapping fragments summed (glowing sprites). None: unknown, never direct.
CONTENTS = ("single", "over", "additive")


def direct_blend(mode: str, content: str | None, opacity: float, opaque_backdrop: bool,
                 scales_opacity: bool = False) -> dict | None:
    """The blend state that draws a layer straight into the composite with exactly the compositor's
    result, or None when only the compositor can (the layer then needs a texture of its own).

    Fixed-function blending applies the layer fragment by fragment, so it matches compositing the
    layer as a whole only where that makes no difference: ``normal`` at opacity 1 for ``single``
    and ``over`` content (source-over is associative); ``screen`` at opacity 1 and ``multiply`` at
    opacity 1 over an opaque backdrop for ``single`` content; ``add`` at any opacity (a blend
    constant) for ``single`` content, and for ``additive`` content over an opaque backdrop (there
    the alpha, which differs, is 1 either way). Not: opacity below 1 in the other modes (the layer's
    opacity applies to the group; fixed-function blending cannot scale the alpha of a fragment it
    subtracts), overlapping sprites in screen or multiply, darken and lighten (exact only for
    opaque fragments), and every mode whose formula needs the backdrop and the layer at once.

    ``scales_opacity``: the layer multiplies its premultiplied fragments by the opacity itself
    (:attr:`gpurender.render.layers.base.LayerRenderer.scales_opacity`). For ``single`` content
    that is the group opacity exactly, and normal, screen and multiply are linear in the source's
    premultiplied colour and alpha, so they draw straight at any opacity.
    """
    if content not in CONTENTS:
        return None
    if mode == "add":
        if content == "single" or (content == "additive" and opaque_backdrop):
            return DIRECT_BLENDS["add"]
        return None
    if opacity < 1.0 and not (scales_opacity and content == "single"):
        return None
    if mode == "normal" and content in ("single", "over"):
        return DIRECT_BLENDS["normal"]
    if mode == "screen" and content == "single":
        return DIRECT_BLENDS["screen"]
    if mode == "multiply" and content == "single" and opaque_backdrop:
        return DIRECT_BLENDS["multiply"]
    return None


@dataclass(frozen=True)
class Run:
    """Consecutive layers in their own slices, composited over a backdrop in one pass: slots
    ``first .. first + len(modes) - 1`` with these mode numbers, over the background colour itself
    (``from_background``) or over a composite texture."""

    first: int = 0
    modes: tuple[int, ...] = ()
    from_background: bool = False

    def constants(self, levels: float) -> dict:
        """The pipeline-overridable constants of ``shaders/stack.wgsl`` for this run."""
        out = {"LAYER_COUNT": len(self.modes), "FIRST": self.first, "FROM_BACKGROUND": self.from_background,
               "LEVELS": float(levels)}
        out.update({f"MODE{i}": m for i, m in enumerate(self.modes[:8])})
        return out


# ---- bind group layout shared by the compositor pass and the colour conversion -----------------

@per_device
def stack_bind_layout(device):
    """The layout of ``shaders/stack.wgsl``'s group 1: backdrop texture, layer array, stack buffer."""
    import wgpu

    vis = wgpu.ShaderStage.FRAGMENT | wgpu.ShaderStage.COMPUTE
    return device.create_bind_group_layout(label="gpurender stack", entries=[
        # unfilterable-float accepts rgba8unorm, rgba16float and rgba32float alike.
        {"binding": 0, "visibility": vis, "texture": {"sample_type": "unfilterable-float", "view_dimension": "2d"}},
        {"binding": 1, "visibility": vis,
         "texture": {"sample_type": "unfilterable-float", "view_dimension": "2d-array"}},
        {"binding": 2, "visibility": vis, "buffer": {"type": "read-only-storage"}},
    ])


class _Shared:
    """The compositor's shader module, layouts and pipelines on one device, made once per process
    (a process renders many scenes in a batch or the tests, with the same few run shapes)."""

    def __init__(self, device):
        self.device = device
        self.module = device.create_shader_module(label="composite", code=load_wgsl("composite.wgsl"))
        empty = device.create_bind_group_layout(entries=[])
        self.empty_group = device.create_bind_group(layout=empty, entries=[])
        self.layout = device.create_pipeline_layout(bind_group_layouts=[empty, stack_bind_layout(device)])
        self._pipelines: dict = {}

    def blit_pipeline(self, slot: int, levels: float, blend: dict, format: str = COMPOSITE_FORMAT):
        """The blit of layer ``slot`` (``fs_blit``) with a fixed-function ``blend`` state."""
        key = ("blit", slot, levels, repr(blend), format)
        pipeline = self._pipelines.get(key)
        if pipeline is None:
            pipeline = self._pipelines[key] = self.device.create_render_pipeline(
                label="gpurender blit",
                layout=self.layout,
                vertex={"module": self.module, "entry_point": "vs_main"},
                primitive={"topology": "triangle-list"},
                fragment={"module": self.module, "entry_point": "fs_blit",
                          "constants": {"FIRST": slot, "LEVELS": float(levels)},
                          "targets": [{"format": format, "blend": blend}]},
            )
        return pipeline

    def pipeline(self, run: Run, levels: float, accumulate: str | None, weight: float,
                 format: str = COMPOSITE_FORMAT):
        """The pipeline of ``run``: writing a composite target of ``format``, or (``accumulate``: the
        accumulator's format) adding ``weight`` times the composite to a motion-blur accumulator."""
        key = (run, levels, accumulate, weight, format)
        pipeline = self._pipelines.get(key)
        if pipeline is None:
            constants = run.constants(levels)
            target = {"format": format}
            if accumulate is not None:
                constants["WEIGHT"] = float(weight)
                plus = {"src_factor": "one", "dst_factor": "one", "operation": "add"}
                target = {"format": accumulate, "blend": {"color": plus, "alpha": plus}}
            pipeline = self._pipelines[key] = self.device.create_render_pipeline(
                label="gpurender composite",
                layout=self.layout,
                vertex={"module": self.module, "entry_point": "vs_main"},
                primitive={"topology": "triangle-list"},
                fragment={"module": self.module, "entry_point": "fs_main" if accumulate is None else "fs_accumulate",
                          "constants": constants, "targets": [target]},
            )
        return pipeline


_shared = per_device(_Shared)


class Compositor:
    """The textures and passes of compositing at one size: ``n_slices`` layer slices, two composite
    targets, the stack buffer and the compositor pipelines (made once per run shape).

    Per frame: :meth:`write_stack` once (modes and opacities of every slot, the background), then
    any number of passes; the frame must be submitted before the next frame's :meth:`write_stack`.
    """

    def __init__(self, device, width: int, height: int, n_slices: int = 1, format: str = COMPOSITE_FORMAT):
        import wgpu

        self.device = device
        self.format = format  # of the composite targets
        self.width = int(width)
        self.height = int(height)
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"compositor size must be positive, got {width}x{height}")
        if n_slices > MAX_LAYERS:
            raise SceneError(f"a scene may have at most {MAX_LAYERS} layers, this one has {n_slices}")
        self.n_slices = max(int(n_slices), 0)
        T = wgpu.TextureUsage
        #: Premultiplied LAYER_FORMAT texture array, one slice per layer that may need its own
        #: texture (at least one slice, so that bind groups are valid for any scene).
        self.layer_texture = device.create_texture(
            label="gpurender layers", size=(self.width, self.height, max(self.n_slices, 1)), format=LAYER_FORMAT,
            usage=T.RENDER_ATTACHMENT | T.TEXTURE_BINDING | T.STORAGE_BINDING | T.COPY_DST | T.COPY_SRC,
        )
        self._slice_views = [
            self.layer_texture.create_view(dimension="2d", base_array_layer=i, array_layer_count=1)
            for i in range(self.n_slices)
        ]
        self._array_view = self.layer_texture.create_view(dimension="2d-array")
        #: The two composite targets the frame loop alternates between (premultiplied, HDR).
        self.targets = [
            device.create_texture(label=f"gpurender composite {i}", size=(self.width, self.height, 1),
                                  format=self.format,
                                  usage=T.RENDER_ATTACHMENT | T.TEXTURE_BINDING | T.COPY_SRC | T.COPY_DST)
            for i in range(2)
        ]
        self.target_views = [t.create_view() for t in self.targets]
        self.stack_buffer = params_buffer(device, STACK.size, "gpurender stack")
        self._shared = _shared(device)
        self._groups: dict = {}

    def slice_view(self, index: int):
        """The 2D view of layer slot ``index``, for a layer (or an effect) to draw into (premultiplied)."""
        return self._slice_views[index]

    def write_stack(self, background: Sequence[float], slots: dict) -> None:
        """Upload the background (straight RGBA in 0..1; RGB alone is opaque) and, per slot, its mode
        number, opacity and (optionally) the rectangle ``(left, top, right, bottom)`` in pixels
        outside which the slot is transparent (default: the whole frame)."""
        rgba = [min(max(float(v), 0.0), 1.0) for v in background]
        whole = (0, 0, self.width, self.height)
        layers = [{"rect": whole, "mode": 0, "opacity": 0.0} for _ in range(max(slots, default=-1) + 1)]
        for slot, (mode, opacity, *rect) in slots.items():
            layers[slot] = {"rect": clip_rect(rect[0] if rect and rect[0] is not None else whole, whole),
                            "mode": int(mode), "opacity": min(max(float(opacity), 0.0), 1.0)}
        data = STACK.pack(background=rgba if len(rgba) == 4 else (*rgba, 1.0), layers=layers)
        self.device.queue.write_buffer(self.stack_buffer, 0, data)

    def stack_group(self, backdrop_view=None):
        """The bind group of ``stack.wgsl`` over ``backdrop_view`` (None: a run from the background;
        any texture then fills the slot)."""
        view = backdrop_view if backdrop_view is not None else self.target_views[0]
        entry = self._groups.get(id(view))
        if entry is None or entry[0] is not view:
            group = self.device.create_bind_group(layout=stack_bind_layout(self.device), entries=[
                {"binding": 0, "resource": view},
                {"binding": 1, "resource": self._array_view},
                {"binding": 2, "resource": {"buffer": self.stack_buffer}},
            ])
            if len(self._groups) > 8:
                self._groups.clear()
            entry = self._groups[id(view)] = (view, group)  # the view is kept: its id stays unique
        return entry[1]

    def _pipeline(self, run: Run, levels: float, accumulate: str | None = None, weight: float = 1.0):
        return self._shared.pipeline(run, levels, accumulate, weight, self.format)

    def _fullscreen(self, command_encoder, label, attachment, pipeline, backdrop_view) -> None:
        rpass = command_encoder.begin_render_pass(label=label, color_attachments=[attachment])
        rpass.set_pipeline(pipeline)
        rpass.set_bind_group(0, self._shared.empty_group)
        rpass.set_bind_group(1, self.stack_group(backdrop_view))
        rpass.draw(3)
        rpass.end()

    def composite(self, command_encoder, run: Run, backdrop_view, out_view, levels: float = LEVELS_8BIT) -> None:
        """Record the pass that writes ``run`` over ``backdrop_view`` (None: over the background)
        into every pixel of ``out_view`` (a composite target other than the backdrop)."""
        attachment = {"view": out_view, "clear_value": (0, 0, 0, 0), "load_op": "clear", "store_op": "store"}
        self._fullscreen(command_encoder, "composite", attachment, self._pipeline(run, levels), backdrop_view)

    def accumulate(self, command_encoder, run: Run, backdrop_view, acc_view, acc_format: str, weight: float,
                   first: bool, levels: float = LEVELS_8BIT) -> None:
        """Add ``weight`` times the composite of ``run`` over ``backdrop_view`` to ``acc_view``
        (cleared first when ``first``): one sub-frame of a motion-blurred frame."""
        attachment = {"view": acc_view, "clear_value": (0, 0, 0, 0), "load_op": "clear" if first else "load",
                      "store_op": "store"}
        self._fullscreen(command_encoder, "accumulate", attachment,
                         self._pipeline(run, levels, acc_format, float(weight)), backdrop_view)

    def blit(self, command_encoder, slot: int, blend: dict, target_view, rect=None, clear=None,
             levels: float = LEVELS_8BIT) -> None:
        """Record the blit of layer ``slot`` into ``target_view`` with the fixed-function ``blend``
        (:func:`blit_blend`), drawn only inside ``rect`` (left, top, right, bottom; None: the whole
        frame) where the layer is not transparent; ``clear``: the background to clear the target to
        first (nothing drawn in it yet), else its content is kept. The stack buffer gives the opacity."""
        attachment = {"view": target_view, "store_op": "store"}
        if clear is not None:
            attachment.update(load_op="clear", clear_value=premultiplied(clear))
        else:
            attachment["load_op"] = "load"
        rpass = command_encoder.begin_render_pass(label="blit", color_attachments=[attachment])
        x0, y0, x1, y1 = clip_rect(rect if rect is not None else (0, 0, self.width, self.height),
                                   (0, 0, self.width, self.height))
        if x1 > x0 and y1 > y0:
            # Only the pixels the layer drew in: a software rasterizer's cost is per pixel shaded.
            rpass.set_scissor_rect(x0, y0, x1 - x0, y1 - y0)
            rpass.set_pipeline(self._shared.blit_pipeline(slot, levels, blend, self.format))
            rpass.set_bind_group(0, self._shared.empty_group)
            # (the backdrop slot is not read; it must only not be the target itself)
            other = self.target_views[1] if target_view is self.target_views[0] else self.target_views[0]
            rpass.set_bind_group(1, self.stack_group(other))
            rpass.draw(3)
        rpass.end()

    def clear(self, command_encoder, view, background) -> None:
        """Record a pass that only clears ``view`` to the premultiplied ``background``."""
        command_encoder.begin_render_pass(
            label="clear", color_attachments=[{"view": view, "clear_value": premultiplied(background),
                                               "load_op": "clear", "store_op": "store"}],
        ).end()


def clip_rect(rect, whole) -> tuple[int, int, int, int]:
    """``rect`` (left, top, right, bottom; floats allowed) widened to whole pixels and clipped to ``whole``."""
    import math

    x0, y0, x1, y1 = rect
    wx0, wy0, wx1, wy1 = whole
    out = (max(math.floor(x0), wx0), max(math.floor(y0), wy0), min(math.ceil(x1), wx1), min(math.ceil(y1), wy1))
    if out[2] <= out[0] or out[3] <= out[1]:
        return (0, 0, 0, 0)
    return out


def premultiplied(background) -> tuple[float, float, float, float]:
    """A straight RGB(A) colour in 0..1 as the premultiplied clear value of a composite target."""
    rgba = [min(max(float(v), 0.0), 1.0) for v in background]
    if len(rgba) == 3:
        rgba.append(1.0)
    r, g, b, a = rgba
    return (r * a, g * a, b * a, a)

