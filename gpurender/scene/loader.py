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
    CAMERA_PARAMS, FRAME_PLACEHOLDERS, LAYER_PARAMS, MAX_LAYERS, MOTION_BLUR_PARAMS, SCENE_PARAMS, Camera, Layer,
    MotionBlur, Scene, coerce_param, layer_types, _with_defaults,
)

_TOP_KEYS = {*SCENE_PARAMS, "camera", "motion_blur", "layers"}


def load_scene(path) -> Scene:
    """Read and validate a scene TOML file (comments, ``#:schema`` lines included, are ignored)."""
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


def scene_from_dict(data: dict, source: str = "<scene>", base_dir=None, *, placeholders=None) -> Scene:
    """Validate a scene given as plain data (the same structure as the TOML file).

    Everything that can be checked without a GPU is checked here: keys, kinds, ranges, colours,
    feature names, the files layers read (they exist and are of the right kind) and text
    placeholders. ``placeholders`` names extra text placeholders the caller's frames provide
    beyond a scene render's own (the point-cloud export's ``{i}`` and ``{n}``).
    """
    if not isinstance(data, dict):
        raise SceneError(f"{source}: a scene is a table with background, camera and layers")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise SceneError(f"{source}: {key}: unknown key {key!r}; valid: {choices(_TOP_KEYS)}")
    top = {key: coerce_param(f"{source}: {key}", spec, data.get(key, spec.default), parse_color)
           for key, spec in SCENE_PARAMS.items()}
    camera = _camera(data.get("camera", {}), source)
    motion_blur = _motion_blur(data.get("motion_blur", {}), source)
    raw_layers = data.get("layers", [])
    if not isinstance(raw_layers, (list, tuple)):
        raise SceneError(f"{source}: layers: must be a list of tables ([[layers]] in TOML)")
    if len(raw_layers) > MAX_LAYERS:
        raise SceneError(f"{source}: layers: {len(raw_layers)} layers; a scene may have at most {MAX_LAYERS}")
    layers = tuple(_layer(raw, i, source, base_dir) for i, raw in enumerate(raw_layers))
    _check_layers(layers, placeholders)
    return Scene(background=top["background"], camera=camera, layers=layers, source=source, title=top["title"],
                 description=top["description"], tonemap=top["tonemap"], exposure=top["exposure"],
                 supersample=top["supersample"],
                 antialias=top["antialias"], motion_blur=motion_blur)


def _camera(raw, source) -> Camera:
    if isinstance(raw, Camera):
        raw = {key: getattr(raw, key) for key in CAMERA_PARAMS}
    if not isinstance(raw, dict):
        raise SceneError(f"{source}: camera: must be a table ([camera] in TOML)")
    unknown = set(raw) - set(CAMERA_PARAMS)
    if unknown:
        key = sorted(unknown)[0]
        raise SceneError(f"{source}: camera.{key}: unknown key {key!r}; valid: {choices(CAMERA_PARAMS)}")
    return Camera(**{key: coerce_param(f"{source}: camera.{key}", CAMERA_PARAMS[key], raw[key], parse_color)
                     for key in raw})


def _motion_blur(raw, source) -> MotionBlur:
    if isinstance(raw, MotionBlur):
        raw = {"samples": raw.samples, "shutter": raw.shutter}
    if not isinstance(raw, dict):
        raise SceneError(f"{source}: motion_blur: must be a table ([motion_blur] in TOML)")
    unknown = set(raw) - set(MOTION_BLUR_PARAMS)
    if unknown:
        key = sorted(unknown)[0]
        raise SceneError(f"{source}: motion_blur.{key}: unknown key {key!r}; valid: {choices(MOTION_BLUR_PARAMS)}")
    return MotionBlur(**{key: coerce_param(f"{source}: motion_blur.{key}", MOTION_BLUR_PARAMS[key], raw[key], None)
                         for key in raw})


def _layer(raw, index: int, source: str, base_dir) -> Layer:
    if isinstance(raw, Layer):
        raw = {"type": raw.type, "blend": raw.blend, "opacity": raw.opacity, "name": raw.name, **raw.params}
    where = f"{source}: layer {index + 1}"
    if not isinstance(raw, dict):
        raise SceneError(f"{where}: must be a table ([[layers]] in TOML)")
    raw = dict(raw)
    kind = raw.pop("type", None)
    types = layer_types()
    if kind is None:
        raise SceneError(f"{where}.type: missing; give the layer's type, one of {choices(types)}")
    if kind not in types:
        raise SceneError(f"{where}.type: unknown layer type {kind!r}; valid: {choices(types)}")
    where = f"{source}: layer {index + 1} ({kind})"
    common = {key: coerce_param(f"{where}.{key}", LAYER_PARAMS[key], raw.pop(key), parse_color)
              for key in ("blend", "opacity", "name") if key in raw}
    name = common.get("name") or f"{kind}{index + 1}"
    params = _with_defaults(where, types[kind], raw, parse_color)
    for key, spec in types[kind].params.items():
        if spec.kind == "path" and params.get(key) and base_dir is not None:
            p = Path(params[key])
            if not p.is_absolute():  # relative to the scene file, as users expect
                params[key] = str(Path(base_dir) / p)
    return Layer(type=kind, params=params, blend=common.get("blend", LAYER_PARAMS["blend"].default),
                 opacity=common.get("opacity", LAYER_PARAMS["opacity"].default), name=name, origin=where)


def _check_layers(layers: tuple, extra_placeholders) -> None:
    """Each layer type's own check (files, combinations of parameters, text placeholders)."""
    types = layer_types()
    placeholders = dict(FRAME_PLACEHOLDERS)
    for layer in layers:
        placeholders.update(types[layer.type].placeholders)
    for name in extra_placeholders or ():
        placeholders.setdefault(name, 0)
    for layer in layers:
        check = types[layer.type].check
        if check is not None:
            check(layer.params, layer.where, placeholders)


def default_scene_path() -> str:
    """The demo's scene: the preset ``gpurender demo`` renders (gpurender.presets.DEMO)."""
    from ..presets import DEMO, preset_path

    return str(preset_path(DEMO))


def starter_scene(name: str) -> str:
    """The commented scene ``gpurender init`` writes, its comments naming the file ``name``."""
    with open(os.path.join(os.path.dirname(__file__), "starter.toml"), encoding="utf-8") as handle:
        return handle.read().replace("SCENE_FILE", name)
