"""Builds a validated :class:`Scene` from a TOML file or from plain Python dicts.

The TOML file and the Python API share one structure::

    background = "#05060a"
    [camera]
    distance = 3.0
    orbit_speed = 20
    [[layers]]
    type = "points"
    shape = "torus"
    size = { feature = "bass", scale = 6, offset = 2 }
    blend = "add"

Every error names the file, the layer and the parameter, and what would be valid.
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from ..errors import SceneError, choices
from .colors import parse_color
from .model import (
    BLEND_MODES, Camera, Layer, ParamSpec, Scene, binding_from_dict, coerce_param, layer_types,
    _with_defaults,
)

_TOP_KEYS = {"background", "camera", "layers", "title"}


def load_scene(path) -> Scene:
    """Read and validate a scene TOML file."""
    path = Path(path)
    if not path.is_file():
        raise SceneError(f"scene file {str(path)!r} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SceneError(f"scene file {str(path)!r} cannot be read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SceneError(f"{path}: not valid TOML: {exc}") from None
    return scene_from_dict(data, source=str(path), base_dir=path.parent)


def scene_from_dict(data: dict, source: str = "<scene>", base_dir=None) -> Scene:
    """Validate a scene given as plain data (the same structure as the TOML file)."""
    if not isinstance(data, dict):
        raise SceneError(f"{source}: a scene is a table with background, camera and layers")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise SceneError(f"{source}: unknown key {sorted(unknown)[0]!r}; valid: {choices(_TOP_KEYS)}")
    background = parse_color(data.get("background", "#000000"), f"{source}: background")
    camera = _camera(data.get("camera", {}), source)
    raw_layers = data.get("layers", [])
    if not isinstance(raw_layers, list):
        raise SceneError(f"{source}: layers must be a list of tables ([[layers]] in TOML)")
    layers = tuple(_layer(raw, i, source, base_dir) for i, raw in enumerate(raw_layers))
    return Scene(background=background, camera=camera, layers=layers, source=source)


def _camera(raw, source) -> Camera:
    if isinstance(raw, Camera):
        return raw
    if not isinstance(raw, dict):
        raise SceneError(f"{source}: camera must be a table")
    allowed = set(Camera.NUMERIC) | {"target"}
    unknown = set(raw) - allowed
    if unknown:
        raise SceneError(f"{source}: camera: unknown key {sorted(unknown)[0]!r}; valid: {choices(allowed)}")
    values = {}
    for key in Camera.NUMERIC:
        if key in raw:
            values[key] = coerce_param(f"{source}: camera.{key}", ParamSpec(0.0), raw[key], parse_color)
    if "target" in raw:
        values["target"] = coerce_param(f"{source}: camera.target", ParamSpec((0, 0, 0), "vec3"), raw["target"], parse_color)
    return Camera(**values)


def _layer(raw, index: int, source: str, base_dir) -> Layer:
    if isinstance(raw, Layer):
        raw = {"type": raw.type, "blend": raw.blend, "opacity": raw.opacity, "name": raw.name, **raw.params}
    if not isinstance(raw, dict):
        raise SceneError(f"{source}: layer {index + 1} must be a table")
    raw = dict(raw)
    kind = raw.pop("type", None)
    types = layer_types()
    where = f"{source}: layer {index + 1}"
    if kind is None:
        raise SceneError(f"{where}: missing type; valid: {choices(types)}")
    if kind not in types:
        raise SceneError(f"{where}: unknown layer type {kind!r}; valid: {choices(types)}")
    where = f"{source}: layer {index + 1} ({kind})"
    blend = raw.pop("blend", "normal")
    if blend not in BLEND_MODES:
        raise SceneError(f"{where}: unknown blend mode {blend!r}; valid: {choices(BLEND_MODES)}")
    opacity = raw.pop("opacity", 1.0)
    if isinstance(opacity, dict):
        opacity = binding_from_dict(f"{where}.opacity", opacity)
    elif isinstance(opacity, bool) or not isinstance(opacity, (int, float)) or not 0.0 <= opacity <= 1.0:
        if not hasattr(opacity, "feature"):
            raise SceneError(f"{where}: opacity {opacity!r} must be a number in 0..1 or a binding")
    else:
        opacity = float(opacity)
    name = str(raw.pop("name", f"{kind}{index + 1}"))
    params = _with_defaults(where, types[kind], raw, parse_color)
    for key, spec in types[kind].params.items():
        if spec.kind == "path" and params.get(key) and base_dir is not None:
            p = Path(params[key])
            if not p.is_absolute():  # relative to the scene file, as users expect
                params[key] = str(Path(base_dir) / p)
    return Layer(type=kind, params=params, blend=blend, opacity=opacity, name=name)


def default_scene_path() -> str:
    return os.path.join(os.path.dirname(__file__), "demo.toml")
