"""Scene data: background, camera and a list of layers, with audio bindings on numeric parameters.

Pure data, no GPU library: a scene loads, validates and tests anywhere. Each layer type declares
its parameters once (:func:`register_layer_type`), and so do the scene's top-level keys, the camera,
the keys every layer has and a binding's keys (:data:`SCENE_PARAMS`, :data:`CAMERA_PARAMS`,
:data:`LAYER_PARAMS`, :data:`BINDING_PARAMS`): validation, the scene reference (``docs/scenes.md``)
and the JSON Schema are all derived from these. Validation fills defaults, rejects unknown names and
checks everything that can be checked without a GPU, so a scene that loads fails at render only for
what needs the GPU (shader compilation, adapter limits) or the contents of its files. Every error
names its place: ``scene.toml: layer 2 (points).size: ...``. Each layer type also names its
renderer (``"package.module:Class"``), which the render stage imports only when it draws a layer of
that type.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import SceneError, choices

BASIC_BLEND_MODES = ("normal", "multiply", "screen", "add")
#: Most layers one scene may stack: the compositor's ``MAX_LAYERS``, the size of the stack array in
#: ``shaders/composite.wgsl`` (a test keeps the three equal), refused here when a scene loads.
MAX_LAYERS = 32
BLEND_MODES = (
    "normal", "multiply", "screen", "overlay", "darken", "lighten", "color-dodge", "color-burn",
    "hard-light", "soft-light", "difference", "exclusion", "hue", "saturation", "color",
    "luminosity", "add",
)


@dataclass(frozen=True)
class Binding:
    """A numeric parameter that follows an audio feature: ``offset + scale * feature[frame]``.

    ``smoothing`` (seconds) applies a one-pole attack/release filter to the feature first
    (``attack``/``release`` override it separately); ``min``/``max`` clamp the result.
    """

    feature: str
    scale: float = 1.0
    offset: float = 0.0
    min: float | None = None
    max: float | None = None
    attack: float = 0.0
    release: float = 0.0

    def series(self, values: np.ndarray, fps: float) -> np.ndarray:
        """The parameter's value at every frame, given the feature's values at every frame."""
        v = np.asarray(values, dtype=np.float64)
        if self.attack > 0 or self.release > 0:
            from ..audio.analysis import follow  # the audio stage's envelope follower

            v = follow(v[:, None], fps, self.attack, self.release)[:, 0].astype(np.float64)
        out = self.offset + self.scale * v
        if self.min is not None or self.max is not None:
            out = np.clip(out, self.min if self.min is not None else -np.inf,
                          self.max if self.max is not None else np.inf)
        return out


Param = Any  # float | int | str | tuple | Binding


#: What a parameter's ``kind`` may be: ``number`` (a float that may follow an audio feature),
#: ``float`` (a fixed float), ``int``, ``str`` (one of ``options`` when given), ``feature`` (the name
#: of an audio feature), ``color``, ``vec3``, ``path`` (relative to the scene file), ``bool``, ``list``,
#: ``object`` (any Python value: only layer types that code builds, never scene files, have these).
KINDS = ("number", "float", "int", "str", "feature", "color", "vec3", "path", "bool", "list", "object")


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter of a layer type (or of the scene, the camera or a binding)."""

    default: Any
    kind: str = "number"  # one of KINDS
    options: tuple = ()
    help: str = ""
    limits: tuple = ()  # (lowest, highest) a number or int may be, checked when the scene loads
    #: "px" for a size in output pixels: a supersampled render scales it with the frame, so the
    #: picture looks the same at every supersampling factor.
    unit: str = ""


#: A layer type's load-time check of its validated parameters, beyond each one's kind and range:
#: ``check(params, place, placeholders)``; ``place(key)`` formats where a key is for messages and
#: ``placeholders`` are the text placeholders the scene's frames will have, with a sample value each.
LayerCheck = Callable[[dict, Callable[[str], str], dict], None]


@dataclass(frozen=True)
class LayerType:
    name: str
    params: dict[str, ParamSpec]
    help: str = ""
    check: LayerCheck | None = None
    #: Text placeholders a layer of this type adds to every frame (name -> a sample value).
    placeholders: dict = field(default_factory=dict)
    #: The class that draws it, ``"package.module:Class"``; the render stage imports the module
    #: when it creates a layer of this type, so the scene stage never imports a GPU library.
    renderer: str = ""
    #: False for a type that only code builds (its parameters include Python objects): scene files,
    #: the reference and the schema do not offer it.
    in_scenes: bool = True
    #: Defaults that depend on other parameters: ``defaults(params)`` -> {key: value} for keys the
    #: scene leaves unset (a mirrored spectrum's baseline in the middle); the declared default
    #: otherwise. Say so in the parameter's help.
    defaults: Callable[[dict], dict] | None = None


_LAYER_TYPES: dict[str, LayerType] = {}
_RENDERER_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


def register_layer_type(name: str, params: dict[str, ParamSpec], help: str = "", check: LayerCheck | None = None,
                        placeholders: dict | None = None, *, renderer: str, in_scenes: bool = True,
                        defaults: Callable[[dict], dict] | None = None) -> LayerType:
    """Declare a layer type: its parameters, its load-time check, the text placeholders it adds and
    its renderer (``"module:Class"``, imported only when a layer of the type is drawn). Adding a
    layer type is this declaration plus the renderer's module."""
    for key, p in params.items():
        if p.kind not in KINDS:
            raise ValueError(f"{name}.{key}: unknown parameter kind {p.kind!r}")
        if p.kind == "object" and in_scenes:
            raise ValueError(f"{name}.{key}: an object parameter cannot come from a scene file (in_scenes=False)")
    if not _RENDERER_PATH.fullmatch(renderer):
        raise ValueError(f"{name}: renderer must be \"package.module:Class\", not {renderer!r}")
    spec = LayerType(name, dict(params), help, check, dict(placeholders or {}), renderer, in_scenes, defaults)
    _LAYER_TYPES[name] = spec
    return spec


def layer_types(include_code_only: bool = False) -> dict[str, LayerType]:
    """The layer types scene files may use, by name, in the order the reference lists them (and,
    with ``include_code_only``, the types only code builds as well)."""
    from .layers import ORDER  # also registers the built-in types

    rank = {name: i for i, name in enumerate(ORDER)}
    # Sorted, since the types register as their modules are first imported, in whatever order
    # that happens; others than the built-ins follow them in registration order.
    ordered = sorted(_LAYER_TYPES.values(), key=lambda t: rank.get(t.name, len(ORDER)))
    return {t.name: t for t in ordered if t.in_scenes or include_code_only}


def feature_names() -> tuple[str, ...]:
    """The audio features a binding may follow, as the audio stage declares them."""
    from ..audio import Features

    return tuple(Features.SCALAR_NAMES)


#: Text placeholders every frame has (``text`` layers), with a sample value of each one's type;
#: layer types add their own (:attr:`LayerType.placeholders`).
FRAME_PLACEHOLDERS = {"frame": 0, "frames": 1, "time": 0.0, "fps": 30}


@dataclass(frozen=True)
class Camera:
    """An orbiting camera whose position is a function of time (and of bound features) only.

    Azimuth at time ``t`` is ``azimuth + orbit_speed * t`` degrees around the vertical axis.
    """

    distance: Param = 3.0
    elevation: Param = 20.0
    azimuth: Param = 0.0
    orbit_speed: Param = 20.0
    fov: Param = 45.0
    target: tuple = (0.0, 0.0, 0.0)

    NUMERIC = ("distance", "elevation", "azimuth", "orbit_speed", "fov")


_P = ParamSpec

#: Tone curves a scene may choose (``tonemap``); the render stage applies them in its colour conversion.
TONEMAPS = ("none", "reinhard", "aces")

#: The scene's top-level keys besides ``camera`` and ``motion_blur`` (tables, :data:`CAMERA_PARAMS`,
#: :data:`MOTION_BLUR_PARAMS`) and ``layers``.
SCENE_PARAMS = {
    "title": _P("", "str", help="a name for the scene, for people and tools (it is not drawn; use a text layer)"),
    "description": _P("", "str", help="one line saying what the scene shows (gpurender presets lists it; not drawn)"),
    "background": _P("#000000", "color", help="colour behind every layer; an alpha below 1 makes a transparent "
                                             "background (kept by PNG and ProRes 4444 outputs)"),
    "tonemap": _P("none", "str", TONEMAPS,
                  "how light brighter than white (from add, additive sprites, bloom) becomes the picture: none clips "
                  "it (the picture as composited); reinhard and aces roll highlights off smoothly (aces with more "
                  "contrast), in linear light"),
    "exposure": _P(0.0, help="brightness in stops before tone mapping: +1 doubles the light, -1 halves it",
                   limits=(-16, 16)),
    "supersample": _P(1, "int", help="draw at this many times the width and height and filter down to the output "
                                     "size (a box over each pixel's samples): smoother edges and finer detail for "
                                     "final renders, at about k squared the cost", limits=(1, 4)),
    "antialias": _P(True, "bool", help="smooth (coverage anti-aliased) edges on every layer that draws shapes; "
                                       "false: hard, pixel-aligned edges"),
}


@dataclass(frozen=True)
class MotionBlur:
    """Each frame averages ``samples`` sub-frames spread over ``shutter`` of the frame interval,
    centred on the frame's time (see :mod:`gpurender.render.renderer`)."""

    samples: int = 1
    shutter: float = 0.5

    @property
    def on(self) -> bool:
        return self.samples > 1 and self.shutter > 0


#: The ``[motion_blur]`` table.
MOTION_BLUR_PARAMS = {
    "samples": _P(MotionBlur.samples, "int", help="sub-frames averaged into each frame (1: no motion blur); a frame "
                                                 "costs about this many times as much to draw", limits=(1, 64)),
    "shutter": _P(MotionBlur.shutter, "float", help="the time the sub-frames span, as a fraction of the frame "
                                                   "interval, centred on the frame's time (0.5: a 180-degree "
                                                   "shutter; 1: the whole interval)", limits=(0, 1)),
}

#: The ``[camera]`` table: an orbit around ``target`` (see :class:`Camera`).
CAMERA_PARAMS = {
    "distance": _P(Camera.distance, help="distance from the target (the far plane is at 100)", limits=(0.01, 100)),
    "elevation": _P(Camera.elevation, help="height of the orbit, degrees above the horizontal plane"),
    "azimuth": _P(Camera.azimuth, help="angle around the vertical axis at time 0, degrees"),
    "orbit_speed": _P(Camera.orbit_speed, help="degrees per second the camera turns around the vertical axis"),
    "fov": _P(Camera.fov, help="vertical field of view, degrees", limits=(1, 170)),
    "target": _P(Camera.target, "vec3", help="the point the camera looks at and orbits"),
}

#: Keys every ``[[layers]]`` table has besides its type's own parameters.
LAYER_PARAMS = {
    "type": _P(None, "str", help="the layer type (required)"),
    "name": _P(None, "str", help="a name for messages and tools (default: the type and position, e.g. points2)"),
    "blend": _P("normal", "str", BLEND_MODES, "how the layer is composited over the layers below it"),
    "opacity": _P(1.0, help="the layer's opacity", limits=(0, 1)),
}

#: Keys of a binding, ``{ feature = "bass", scale = 2, ... }``: ``offset + scale * feature[frame]``.
BINDING_PARAMS = {
    "feature": _P(None, "feature", help="the audio feature to follow (required)"),
    "scale": _P(1.0, "float", help="multiplies the feature"),
    "offset": _P(0.0, "float", help="added after scaling"),
    "min": _P(None, "float", help="lowest value (default: no limit)"),
    "max": _P(None, "float", help="highest value (default: no limit)"),
    "smoothing": _P(0.0, "float", help="seconds of smoothing of the feature, rising and falling "
                                      "(sets attack and release)", limits=(0, 60)),
    "attack": _P(0.0, "float", help="seconds of smoothing while the feature rises (default: smoothing)",
                limits=(0, 60)),
    "release": _P(0.0, "float", help="seconds of smoothing while the feature falls (default: smoothing)",
                 limits=(0, 60)),
}


@dataclass(frozen=True)
class Layer:
    type: str
    params: dict = field(default_factory=dict)
    blend: str = "normal"
    opacity: Param = 1.0
    name: str = ""
    #: Where the layer was declared, for messages: ``scene.toml: layer 2 (points)`` (set by the loader).
    origin: str = field(default="", compare=False, repr=False)

    def get(self, key):
        return self.params[key]

    def where(self, key: str | None = None) -> str:
        """The place of the layer (and of ``key`` in it) for a message: ``scene.toml: layer 2 (points).size``."""
        base = self.origin or f"layer {self.name!r} ({self.type})"
        return f"{base}.{key}" if key else base

    def paths(self) -> dict:
        """The file parameters (kind ``path``) that are set: key -> the path as given."""
        spec = layer_types().get(self.type)
        if spec is None:
            return {}
        return {key: self.params[key] for key, param in spec.params.items()
                if param.kind == "path" and self.params.get(key)}


@dataclass(frozen=True)
class Scene:
    background: tuple = (0.0, 0.0, 0.0, 1.0)
    camera: Camera = field(default_factory=Camera)
    layers: tuple = ()
    source: str = "<scene>"
    title: str = ""
    description: str = ""
    tonemap: str = "none"
    exposure: Param = 0.0
    supersample: int = 1
    antialias: bool = True
    motion_blur: MotionBlur = field(default_factory=MotionBlur)

    #: Top-level keys that change how every frame is drawn, beyond the layers (for digests).
    LOOK = ("tonemap", "exposure", "supersample", "antialias", "motion_blur")

    @property
    def transparent(self) -> bool:
        return self.background[3] < 1.0

    def with_motion_blur(self, samples: int | None) -> "Scene":
        """This scene with ``samples`` motion-blur sub-frames a frame (None: as it is; the shutter
        stays the scene's): what ``--motion-blur N`` does."""
        if samples is None:
            return self
        samples = int(samples)
        low, high = MOTION_BLUR_PARAMS["samples"].limits
        if not low <= samples <= high:
            raise SceneError(f"--motion-blur {samples} is out of range; use {low}..{high} sub-frames a frame")
        from dataclasses import replace

        return replace(self, motion_blur=MotionBlur(samples, self.motion_blur.shutter))

    def input_files(self) -> list[tuple[str, str]]:
        """``(what, path)`` for every file the scene reads: the scene file and each layer's files.

        A folder or glob given as a layer's path (point sequences) stands for the files in it.
        """
        import glob

        found = []
        if self.source != "<scene>" and os.path.isfile(self.source):
            found.append(("scene file", self.source))
        for i, layer in enumerate(self.layers):
            for key, value in layer.paths().items():
                what = f"layer {i + 1} ({layer.type}) {key}"
                value = os.fspath(value)
                if os.path.isdir(value):
                    found += [(what, entry.path) for entry in os.scandir(value) if entry.is_file()]
                elif glob.has_magic(value):
                    found += [(what, path) for path in glob.glob(value)]
                else:
                    found.append((what, value))
        return found

    def bindings(self) -> list[Binding]:
        return [binding for _, binding in self.binding_places()]

    def binding_places(self) -> list[tuple[str, Binding]]:
        """``(place, binding)`` for every parameter that follows an audio feature, the place as in
        messages (``scene.toml: camera.distance``, ``scene.toml: layer 2 (points).size``)."""
        found = [(f"{self.source}: camera.{key}", getattr(self.camera, key)) for key in Camera.NUMERIC]
        found.append((f"{self.source}: exposure", self.exposure))
        for i, layer in enumerate(self.layers):
            at = layer.origin or f"{self.source}: layer {i + 1} ({layer.type})"
            found += [(f"{at}.{key}", value) for key, value in layer.params.items()]
            found.append((f"{at}.opacity", layer.opacity))
        return [(where, value) for where, value in found if isinstance(value, Binding)]


def vars_of(camera: Camera):
    return [getattr(camera, n) for n in Camera.NUMERIC]


def _with_defaults(where: str, spec: LayerType, given: dict, resolve_color: Callable) -> dict:
    unknown = set(given) - set(spec.params)
    if unknown:
        key = sorted(unknown)[0]
        raise SceneError(
            f"{where}.{key}: unknown parameter {key!r} for a {spec.name!r} layer; valid: {choices(spec.params)}"
        )
    out = {}
    for key, p in spec.params.items():
        value = given.get(key, p.default)
        out[key] = coerce_param(f"{where}.{key}", p, value, resolve_color)
    if spec.defaults is not None:
        for key, value in spec.defaults(dict(out)).items():
            if key not in given:
                out[key] = coerce_param(f"{where}.{key}", spec.params[key], value, resolve_color)
    return out


def _number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def coerce_param(where: str, p: ParamSpec, value, resolve_color: Callable):
    """``value`` checked against its declaration and converted (``where`` starts every message)."""
    if isinstance(value, Binding):
        if p.kind != "number":
            raise SceneError(f"{where}: only numeric parameters can follow an audio feature")
        return check_binding(where, value)
    if isinstance(value, dict):
        if p.kind != "number":
            raise SceneError(f"{where}: only numeric parameters can follow an audio feature")
        return binding_from_dict(where, value)
    if value is None:
        return None
    try:
        if p.kind in ("number", "float"):
            if not _number(value):
                raise ValueError
            return _within(where, p, float(value))
        if p.kind == "int":
            if isinstance(value, bool) or int(value) != value:
                raise ValueError
            return _within(where, p, int(value))
        if p.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError
            return value
        if p.kind == "color":
            return resolve_color(value, where)
        if p.kind == "vec3":
            if isinstance(value, str) or len(value) != 3 or not all(_number(x) for x in value):
                raise ValueError
            return tuple(float(x) for x in value)
        if p.kind == "feature":
            if not isinstance(value, str):
                raise ValueError
            return check_feature(where, value)
        if p.kind in ("str", "path"):
            if not isinstance(value, str):
                raise ValueError
            if p.options and value not in p.options:
                raise SceneError(f"{where}: {value!r} is not valid; use one of {choices(p.options)}")
            return value
        if p.kind == "list":
            return tuple(value)
    except SceneError:
        raise
    except (TypeError, ValueError):
        raise SceneError(f"{where}: {value!r} is not {_KIND_WORDS[p.kind]}") from None
    return value


_KIND_WORDS = {"number": "a number or a binding", "float": "a number", "int": "a whole number",
               "vec3": "[x, y, z] (three numbers)", "feature": "an audio feature name", "path": "a path (a string)",
               "str": "a string", "bool": "true or false", "list": "a list", "color": "a colour"}


def _within(where: str, p: ParamSpec, value):
    if p.limits:
        lowest, highest = p.limits
        if not lowest <= value <= highest:
            raise SceneError(f"{where}: {value!r} is out of range; use {lowest}..{highest}"
                             + (f" ({p.help})" if p.help else ""))
    return value


def check_feature(where: str, name: str) -> str:
    """``name`` when it is an audio feature, else SceneError at ``where`` listing the valid ones."""
    valid = feature_names()
    if name not in valid:
        raise SceneError(f"{where}: unknown audio feature {name!r}; valid: {choices(valid)}")
    return name


def binding_from_dict(where: str, d: dict) -> Binding:
    """A :class:`Binding` from its table (``where`` is the parameter's place, e.g. ``... .size``)."""
    unknown = set(d) - set(BINDING_PARAMS)
    if unknown:
        key = sorted(unknown)[0]
        raise SceneError(f"{where}.{key}: unknown binding key {key!r}; valid: {choices(BINDING_PARAMS)}")
    if "feature" not in d or not isinstance(d["feature"], str):
        raise SceneError(f"{where}: a binding needs feature = \"name\" (one of {choices(feature_names())})")
    values = {key: coerce_param(f"{where}.{key}", BINDING_PARAMS[key], d[key], None)
              for key in BINDING_PARAMS if key in d}
    smoothing = values.pop("smoothing", None) or 0.0
    values.setdefault("attack", smoothing)
    values.setdefault("release", smoothing)
    for key in ("scale", "offset", "attack", "release"):
        if values.get(key) is None:
            values[key] = BINDING_PARAMS[key].default
    return check_binding(where, Binding(**values))


def check_binding(where: str, b: Binding) -> Binding:
    """A binding given as an object is checked as its table would be."""
    check_feature(f"{where}.feature", b.feature)
    if b.min is not None and b.max is not None and b.min > b.max:
        raise SceneError(f"{where}: min {b.min:g} is above max {b.max:g}; swap them")
    return b


def check_features(scene: Scene, valid: tuple[str, ...]) -> None:
    """Reject bindings to features the analysis does not produce, naming where each one is."""
    for where, b in scene.binding_places():
        if b.feature not in valid:
            raise SceneError(f"{where}.feature: unknown audio feature {b.feature!r}; valid: {choices(valid)}")
