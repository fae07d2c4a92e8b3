"""The contract between the frame loop and a layer type's renderer, and how a layer finds its renderer.

A layer type's declaration (:func:`gpurender.scene.model.register_layer_type`) names its renderer
class as ``"package.module:Class"``; :func:`create_renderer` imports that module the first time a
layer of the type is drawn, so only the renderers a scene uses are ever imported.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import numpy as np

from ...errors import RenderError, SceneError, choices
from ...scene.evaluate import ParamEvaluator
from ...scene.model import Camera, Layer, layer_types
from ..camera import orbit_view_proj
from ..device import LAYER_FORMAT


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
    _gpu_tables: dict = field(default_factory=dict)

    @property
    def aspect(self) -> float:
        return self.width / self.height

    def view_proj(self, frame: FrameInfo) -> np.ndarray:
        cam, v = self.camera, self.params.value
        i = frame.index
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
                data = np.ascontiguousarray(getattr(self.features, name), dtype=np.float32)
            else:
                data = np.ascontiguousarray(self.features.scalar(name), dtype=np.float32)
            if data.nbytes == 0:
                data = np.zeros(4, dtype=np.float32)
            buf = self.device.create_buffer_with_data(data=data, usage=wgpu.BufferUsage.STORAGE)
            self._gpu_tables[name] = buf
        return buf

    def feature_width(self, name: str) -> int:
        if self.features is None:
            return 1
        return int(np.asarray(getattr(self.features, name)).shape[1])

    def clamp_frame(self, index: int) -> int:
        n = self.params.n_frames
        return min(max(index, 0), n - 1) if n else 0


class LayerRenderer:
    """Draws one layer into its own premultiplied ``LAYER_FORMAT`` texture.

    Stateful layers set ``stateful = True`` and implement :meth:`advance`, which the frame loop
    calls for every track frame in order from 0 (drawing or not), so that a frame looks the same
    whether the render starts at it or passes through it.
    """

    stateful = False
    #: Effect layers (:class:`gpurender.render.effects.EffectRenderer`) process what is beneath them.
    effect = False
    target_format = LAYER_FORMAT

    def __init__(self, ctx: RenderContext, layer: Layer):
        self.ctx = ctx
        self.layer = layer

    def value(self, key: str, frame: FrameInfo) -> float:
        return self.ctx.params.value(self.layer.params[key], frame.index)

    def advance(self, command_encoder, frame: FrameInfo) -> None:
        """Step the layer's state to ``frame`` (stateful layers only)."""

    def reset(self) -> None:
        """Return the layer's state to before frame 0 (stateful layers only)."""

    def draw(self, command_encoder, frame: FrameInfo, target_view) -> None:
        """Record the passes that draw the layer; the first must clear ``target_view``."""
        raise NotImplementedError

    def describe(self, frame: FrameInfo) -> dict:
        """Values for text placeholders (e.g. ``points``)."""
        return {}


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


def clear_pass(command_encoder, view, color=(0.0, 0.0, 0.0, 0.0)):
    """Begin a render pass that clears ``view``."""
    return command_encoder.begin_render_pass(
        color_attachments=[{
            "view": view,
            "clear_value": color,
            "load_op": "clear",
            "store_op": "store",
        }]
    )
