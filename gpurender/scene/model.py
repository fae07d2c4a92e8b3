"""Scene data: background, camera and a list of layers, with audio bindings on numeric parameters.

Pure data, no GPU library: a scene loads, validates and tests anywhere. Each layer type declares
its parameters once (:func:`register_layer_type`); validation fills defaults and rejects unknown
names. The render stage looks the same type names up in its own registry to draw them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import SceneError, choices

BASIC_BLEND_MODES = ("normal", "multiply", "screen", "add")
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


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter of a layer type."""

    default: Any
    kind: str = "number"  # number (bindable) | int | str | color | vec3 | path | bool | list
    options: tuple = ()
    help: str = ""
    limits: tuple = ()  # (lowest, highest) a number or int may be, checked when the scene loads


@dataclass(frozen=True)
class LayerType:
    name: str
    params: dict[str, ParamSpec]
    help: str = ""


_LAYER_TYPES: dict[str, LayerType] = {}


def register_layer_type(name: str, params: dict[str, ParamSpec], help: str = "") -> LayerType:
    """Declare a layer type and its parameters (done once per layer module)."""
    spec = LayerType(name, dict(params), help)
    _LAYER_TYPES[name] = spec
    return spec


def layer_types() -> dict[str, LayerType]:
    from . import layers as _builtin  # noqa: F401  (registers the built-in types)
    return dict(_LAYER_TYPES)


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


@dataclass(frozen=True)
class Layer:
    type: str
    params: dict = field(default_factory=dict)
    blend: str = "normal"
    opacity: Param = 1.0
    name: str = ""

    def get(self, key):
        return self.params[key]


@dataclass(frozen=True)
class Scene:
    background: tuple = (0.0, 0.0, 0.0, 1.0)
    camera: Camera = field(default_factory=Camera)
    layers: tuple = ()
    source: str = "<scene>"

    @property
    def transparent(self) -> bool:
        return self.background[3] < 1.0

    def input_files(self) -> list[tuple[str, str]]:
        """``(what, path)`` for every file the scene reads: the scene file and each layer's files.

        A folder or glob given as a layer's path (point sequences) stands for the files in it.
        """
        import glob

        found = []
        if self.source != "<scene>" and os.path.isfile(self.source):
            found.append(("scene file", self.source))
        types = layer_types()
        for i, layer in enumerate(self.layers):
            spec = types.get(layer.type)
            for key, param in (spec.params.items() if spec is not None else ()):
                value = layer.params.get(key)
                if param.kind != "path" or not value:
                    continue
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
        found = [v for v in vars_of(self.camera) if isinstance(v, Binding)]
        for layer in self.layers:
            found += [v for v in layer.params.values() if isinstance(v, Binding)]
            if isinstance(layer.opacity, Binding):
                found.append(layer.opacity)
        return found


def vars_of(camera: Camera):
    return [getattr(camera, n) for n in Camera.NUMERIC]


def _with_defaults(where: str, spec: LayerType, given: dict, resolve_color: Callable) -> dict:
    unknown = set(given) - set(spec.params)
    if unknown:
        raise SceneError(
            f"{where}: unknown parameter {sorted(unknown)[0]!r} for a {spec.name!r} layer; "
            f"valid: {choices(spec.params)}"
        )
    out = {}
    for key, p in spec.params.items():
        value = given.get(key, p.default)
        out[key] = coerce_param(f"{where}.{key}", p, value, resolve_color)
    return out


def coerce_param(where: str, p: ParamSpec, value, resolve_color: Callable):
    if isinstance(value, Binding):
        if p.kind != "number":
            raise SceneError(f"{where}: only numeric parameters can follow an audio feature")
        return value
    if isinstance(value, dict):
        if p.kind != "number":
            raise SceneError(f"{where}: only numeric parameters can follow an audio feature")
        return binding_from_dict(where, value)
    if value is None:
        return None
    try:
        if p.kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
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
            return resolve_color(value)
        if p.kind == "vec3":
            vec = tuple(float(x) for x in value)
            if len(vec) != 3:
                raise ValueError
            return vec
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
        raise SceneError(f"{where}: {value!r} is not a valid {p.kind}") from None
    return value


def _within(where: str, p: ParamSpec, value):
    if p.limits:
        lowest, highest = p.limits
        if not lowest <= value <= highest:
            raise SceneError(f"{where}: {value!r} is out of range; use {lowest}..{highest}"
                             + (f" ({p.help})" if p.help else ""))
    return value


def binding_from_dict(where: str, d: dict) -> Binding:
    allowed = {"feature", "scale", "offset", "min", "max", "smoothing", "attack", "release"}
    unknown = set(d) - allowed
    if unknown:
        raise SceneError(f"{where}: unknown binding key {sorted(unknown)[0]!r}; valid: {choices(allowed)}")
    if "feature" not in d or not isinstance(d["feature"], str):
        raise SceneError(f"{where}: a binding needs feature = \"name\" (e.g. bass, rms, beat)")
    try:
        smoothing = float(d.get("smoothing", 0.0))
        return Binding(
            feature=d["feature"],
            scale=float(d.get("scale", 1.0)),
            offset=float(d.get("offset", 0.0)),
            min=None if d.get("min") is None else float(d["min"]),
            max=None if d.get("max") is None else float(d["max"]),
            attack=float(d.get("attack", smoothing)),
            release=float(d.get("release", smoothing)),
        )
    except (TypeError, ValueError):
        raise SceneError(f"{where}: binding values must be numbers") from None


def check_features(scene: Scene, valid: tuple[str, ...]) -> None:
    """Reject bindings to features the analysis does not produce."""
    for b in scene.bindings():
        if b.feature not in valid:
            raise SceneError(
                f"{scene.source}: unknown audio feature {b.feature!r}; valid: {choices(valid)}"
            )
