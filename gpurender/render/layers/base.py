"""The contract between the frame loop and a layer type's renderer, and how a layer finds its renderer.

A layer type's declaration (:func:`gpurender.scene.model.register_layer_type`) names its renderer
class as ``"package.module:Class"``; :func:`create_renderer` imports that module the first time a
layer of the type is drawn, so only the renderers a scene uses are ever imported.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Callable

import numpy as np

from ...errors import RenderError, SceneError, choices
from ...scene.evaluate import ParamEvaluator
from ...scene.model import Camera, Layer, layer_types
from ..camera import orbit_view_proj
from ..device import LAYER_FORMAT
from ..shaderlib import upload_buffer


def frame_time(index: int, fps) -> float:
    """Frame ``index``'s time, ``index / fps`` computed exactly (``fps`` may be a Fraction) and rounded once."""
    return float(Fraction(index) / Fraction(fps))


def fps_value(fps):
    """A frame rate for text placeholders: ``30`` stays 30, ``30000/1001`` is 29.97002997..."""
    return fps if isinstance(fps, int) else float(fps)


@dataclass(frozen=True)
class FrameInfo:
    """Which frame is drawn: ``index`` in the track's frame grid, at ``time = index / fps``.

    Under motion blur a frame is the average of ``subframes`` samples; sample ``subframe`` is drawn
    at ``time`` = ``position / fps``, where ``position`` is a fractional place in the frame grid
    near ``index`` (see :mod:`gpurender.render.renderer`). Without it ``position == index``.
    ``dt`` is the time in seconds since the previous (sub-)frame that the frame loop stepped
    (``1 / fps`` without motion blur): the step of stateful layers.
    """

    index: int
    time: float
    fps: float
    render_index: int = 0  # position within this render (0 for its first frame)
    render_frames: int = 1  # frames in this render
    subframe: int = 0  # which sample of a motion-blurred frame (0 without motion blur)
    subframes: int = 1  # samples averaged into the frame
    position: float | None = None  # fractional frame position (default: index)
    dt: float | None = None  # seconds since the previous (sub-)frame (default: 1 / fps)

    def __post_init__(self):
        if self.position is None:
            object.__setattr__(self, "position", float(self.index))
        if self.dt is None:
            object.__setattr__(self, "dt", 1.0 / self.fps)


@dataclass
class RenderContext:
    """What every layer renderer may use: the device, the output size, features and parameters."""

    device: object
    width: int
    height: int
    fps: int
    features: object  # gpurender.audio.Features or None
    params: ParamEvaluator
    camera: Camera = field(default_factory=Camera)
    seed: int = 0
    #: Values for text placeholders at a frame: frame, frames, time and what layers describe.
    describe: Callable = lambda frame: {}
    #: The scene's ``antialias``: False asks layers for hard, pixel-aligned edges.
    antialias: bool = True
    #: Render pixels per output pixel in each direction (the scene's ``supersample``): ``width`` and
    #: ``height`` are the render size; sizes declared in pixels (``unit="px"``) scale by it.
    pixel_scale: int = 1
    _gpu_tables: dict = field(default_factory=dict)
    _scratch: dict = field(default_factory=dict)

    @property
    def aspect(self) -> float:
        return self.width / self.height

    def view_proj(self, frame: FrameInfo) -> np.ndarray:
        cam, v = self.camera, self.params.value
        i = frame.position
        azimuth = v(cam.azimuth, i) + v(cam.orbit_speed, i) * frame.time
        return orbit_view_proj(v(cam.distance, i), v(cam.elevation, i), azimuth, v(cam.fov, i),
                               cam.target, self.aspect)

    def feature_buffer(self, name: str):
        """A storage buffer holding a whole-track feature table (uploaded once per render)."""
        buf = self._gpu_tables.get(name)
        if buf is None:
            import wgpu

            if self.features is None:
                data = np.zeros((1, 1), dtype=np.float32)
            elif name in ("bands", "waveform"):
                # Per-bin spectra are not kept for renders (pipeline.analyse): too large to bind.
                # One row more than the track: the scratch row :meth:`table_row` fills with a row
                # interpolated between frames.
                table = np.asarray(getattr(self.features, name), dtype=np.float32)
                data = np.zeros((table.shape[0] + 1, table.shape[1]), np.float32)
                data[:-1] = table
            else:
                data = np.ascontiguousarray(self.features.scalar(name), dtype=np.float32)
            if data.nbytes == 0:
                data = np.zeros(4, dtype=np.float32)
            buf = upload_buffer(self.device, data, wgpu.BufferUsage.STORAGE, label=f"feature {name}")
            self._gpu_tables[name] = buf
        return buf

    def table_row(self, name: str, frame: FrameInfo) -> int:
        """The row of the whole-track table ``name`` (``bands`` or ``waveform``, see
        :meth:`feature_buffer`) that holds ``frame``'s values: the frame's own row, or, at a fractional
        position (a motion-blur sub-frame), the scratch row after the track's, filled now with the
        rows around it interpolated linearly. The scratch row is written through the queue, so the
        frame loop submits each sub-frame before drawing the next."""
        if self.features is None:
            return 0
        n = self.params.n_frames
        position = frame.position
        if float(position).is_integer() or n < 2:
            return self.clamp_frame(int(round(position)))
        if self._scratch.get(name) != position:
            table = np.asarray(getattr(self.features, name), dtype=np.float32)
            below = int(np.floor(position))
            t = np.float32(position - below)
            lo, hi = table[min(max(below, 0), n - 1)], table[min(max(below + 1, 0), n - 1)]
            row = np.ascontiguousarray(lo + (hi - lo) * t, dtype=np.float32)
            self.device.queue.write_buffer(self.feature_buffer(name), n * row.nbytes, row)
            self._scratch[name] = position
        return n

    def feature_width(self, name: str) -> int:
        if self.features is None:
            return 1
        return int(np.asarray(getattr(self.features, name)).shape[1])

    def clamp_frame(self, index: int) -> int:
        n = self.params.n_frames
        return min(max(index, 0), n - 1) if n else 0


@dataclass(frozen=True)
class DrawTarget:
    """Where a layer draws this frame (the frame loop decides, see :mod:`gpurender.render.compositor`).

    Its own texture (``blend`` None): cleared to transparent first (``clear``), drawn with the
    layer's own blend state (sprites over or adding up), in ``LAYER_FORMAT``. Or straight into the
    composite (``direct``): drawn with ``blend``, the fixed-function state of the layer's blend mode,
    with ``constant`` as the pass's blend constant (the opacity of ``add``), onto what is there
    (``clear`` None), or onto the background (``clear``: the premultiplied background, when nothing has
    been drawn yet), in the composite's ``format``. ``opacity``: what a layer that scales its own
    output (:attr:`LayerRenderer.scales_opacity`) multiplies its premultiplied fragments by, the
    layer's opacity where it draws straight at less than 1 (else 1: the compositor applies it).
    """

    view: object
    format: str = LAYER_FORMAT
    blend: dict | None = None
    constant: tuple | None = None
    clear: tuple | None = (0.0, 0.0, 0.0, 0.0)
    opacity: float = 1.0

    @property
    def direct(self) -> bool:
        return self.blend is not None


def as_target(target) -> DrawTarget:
    """A :class:`DrawTarget`; a bare texture view stands for the layer's own texture."""
    return target if isinstance(target, DrawTarget) else DrawTarget(view=target)


def begin_pass(command_encoder, target, depth_stencil_attachment=None, label: str | None = None):
    """Begin the render pass of a layer drawing into ``target`` (clearing or loading it as it says,
    with its blend constant)."""
    target = as_target(target)
    attachment = {"view": target.view, "store_op": "store"}
    if target.clear is not None:
        attachment.update(load_op="clear", clear_value=target.clear)
    else:
        attachment["load_op"] = "load"
    kwargs = {"color_attachments": [attachment]}
    if depth_stencil_attachment is not None:
        kwargs["depth_stencil_attachment"] = depth_stencil_attachment
    if label is not None:
        kwargs["label"] = label
    rpass = command_encoder.begin_render_pass(**kwargs)
    if target.constant is not None:
        rpass.set_blend_constant(target.constant)
    return rpass


def _blend_key(blend) -> tuple:
    if blend is None:
        return ()
    return tuple((part, tuple(sorted(blend[part].items()))) for part in sorted(blend))


class TargetPipelines:
    """A layer's render pipelines, one per kind of target it draws into, and their bind groups.

    ``describe(format, blend)`` gives ``device.create_render_pipeline``'s arguments but the layout
    (``blend`` None: no blending). :meth:`get` returns the pipeline for a :class:`DrawTarget`: with
    the layer's ``own_blend`` in its own texture, with the target's blend when it draws straight
    into the composite. Layouts are inferred ("auto"), and an inferred bind group layout belongs to
    its pipeline alone, so :meth:`group` makes (and keeps) the bind group of each pipeline for the
    same resources.
    """

    def __init__(self, device, describe: Callable, own_blend: dict | None = None):
        self._device = device
        self._describe = describe
        self.own_blend = own_blend
        self._pipelines: dict = {}
        self._groups: dict = {}
        #: The pipeline for the layer's own texture (made now: it checks the shaders).
        self.own = self.get(DrawTarget(view=None))
        #: The bind group layout of the own pipeline's group 0.
        self.group_layout = self.own.get_bind_group_layout(0)

    def get(self, target):
        target = as_target(target)
        blend = target.blend if target.direct else self.own_blend
        key = (target.format, _blend_key(blend))
        pipeline = self._pipelines.get(key)
        if pipeline is None:
            pipeline = self._pipelines[key] = self._device.create_render_pipeline(
                layout="auto", **self._describe(target.format, blend))
        return pipeline

    def group(self, target, entries: list):
        """The bind group 0 of the pipeline for ``target`` over ``entries`` (bind group entries, the
        same for every pipeline; a new list of resources makes new groups)."""
        pipeline = self.get(target)
        key = (id(pipeline), tuple(id(_resource(e["resource"])) for e in entries))
        found = self._groups.get(id(pipeline))
        if found is None or found[0] != key:
            group = self._device.create_bind_group(layout=pipeline.get_bind_group_layout(0), entries=entries)
            # the entries are kept with the group: their ids make the key
            found = self._groups[id(pipeline)] = (key, group, entries)
        return found[1]


def _resource(resource):
    return resource["buffer"] if isinstance(resource, dict) else resource


def color_target(format: str, blend: dict | None) -> dict:
    """A render pipeline's colour target entry."""
    return {"format": format, "blend": blend} if blend is not None else {"format": format}


class LayerRenderer:
    """Draws one layer: into its own premultiplied ``LAYER_FORMAT`` texture, or straight into the
    composite where its blend mode allows (the :class:`DrawTarget` given to :meth:`draw` says which).

    ``content`` says how the layer's fragments combine (:data:`gpurender.render.compositor.CONTENTS`:
    "single", "over", "additive"; None: never drawn straight into the composite); a layer that
    changes how it draws (overlapping fragments, a blend state of its own) must say so here.

    Stateful layers set ``stateful = True`` and implement :meth:`advance`, which the frame loop
    calls for every track frame in order from 0 (drawing or not; every sub-frame, under motion
    blur), so that a frame looks the same whether the render starts at it or passes through it.
    """

    content: str | None = None
    #: True for a layer whose fragments are multiplied by :attr:`DrawTarget.opacity` in its shader:
    #: with ``single`` content that is the layer's opacity applied to the layer as a whole, so it
    #: draws straight into the composite at any opacity in normal, screen and multiply too.
    scales_opacity = False

    stateful = False
    #: Effect layers (:class:`gpurender.render.effects.EffectRenderer`) process what is beneath them.
    effect = False
    target_format = LAYER_FORMAT

    def __init__(self, ctx: RenderContext, layer: Layer):
        self.ctx = ctx
        self.layer = layer
        spec = layer_types(include_code_only=True).get(layer.type)
        self._pixel_keys = {key for key, p in spec.params.items() if p.unit == "px"} if spec else set()

    def value(self, key: str, frame: FrameInfo) -> float:
        """Parameter ``key`` at ``frame`` (interpolated at a sub-frame's position); sizes in pixels
        come in render pixels (times ``ctx.pixel_scale``)."""
        v = self.ctx.params.value(self.layer.params[key], frame.position)
        return v * self.ctx.pixel_scale if key in self._pixel_keys else v

    def advance(self, command_encoder, frame: FrameInfo) -> None:
        """Step the layer's state to ``frame`` (stateful layers only)."""

    def reset(self) -> None:
        """Return the layer's state to before frame 0 (stateful layers only)."""

    def draw(self, command_encoder, frame: FrameInfo, target) -> None:
        """Record the passes that draw the layer into ``target`` (a :class:`DrawTarget`, or a bare
        view of its own texture); the first pass begins with :func:`begin_pass` (or :func:`clear_pass`),
        which clears or loads the target as it asks."""
        raise NotImplementedError

    def describe(self, frame: FrameInfo) -> dict:
        """Values for text placeholders (e.g. ``points``)."""
        return {}

    def bounds(self, frame: FrameInfo) -> tuple | None:
        """The rectangle ``(left, top, right, bottom)`` in render pixels (y down) outside which the
        layer left its own texture transparent when it last drew ``frame`` (None: anywhere). The
        compositor reads the layer only inside it, which on a software rasterizer saves most of a
        layer's compositing: a layer must never draw outside what it says here."""
        return None


_CLASSES: dict[str, type] = {}  # "module:Class" -> the class, once imported


def renderer_types() -> tuple[str, ...]:
    """Every layer type there is a renderer for: the scene's and those only code builds."""
    return tuple(layer_types(include_code_only=True))


def renderer_class(type_name: str) -> type:
    """The renderer class that the layer type's declaration names, its module imported on first use."""
    spec = layer_types(include_code_only=True).get(type_name)
    if spec is None:
        raise SceneError(f"no renderer for layer type {type_name!r}; valid: {choices(renderer_types())}")
    cls = _CLASSES.get(spec.renderer)
    if cls is not None:
        return cls
    module_name, _, class_name = spec.renderer.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise  # the module is there; something it imports is missing
        raise RenderError(f"layer type {type_name!r}: its renderer module {module_name!r} does not exist") from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, LayerRenderer)):
        raise RenderError(f"layer type {type_name!r}: {spec.renderer!r} does not name a LayerRenderer class")
    _CLASSES[spec.renderer] = cls
    return cls


def create_renderer(ctx: RenderContext, layer: Layer) -> LayerRenderer:
    return renderer_class(layer.type)(ctx, layer)


def clear_pass(command_encoder, target, color=None):
    """Begin the render pass of a layer: ``target`` a :class:`DrawTarget` (cleared or loaded as it
    says) or a bare view, cleared to ``color`` (default transparent)."""
    if not isinstance(target, DrawTarget):
        target = DrawTarget(view=target)
    if color is not None and not target.direct:
        target = replace(target, clear=tuple(color))
    return begin_pass(command_encoder, target)
