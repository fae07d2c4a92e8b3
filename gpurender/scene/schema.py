"""The JSON Schema of scene files, derived from the same declarations the loader validates with.

TOML editors (Even Better TOML / taplo, and others that read JSON Schema) use it for completion,
hover help and checking; a scene names it in a first comment line, ``#:schema ./scene.schema.json``.
It is draft-07 and uses only keywords that drafts 04 and 06 read the same way (``enum`` rather than
``const``, inclusive ``minimum``/``maximum``), so older validators accept it too. Unknown keys are
rejected everywhere, enums and ranges are included, and each ``[[layers]]`` table is one of the
layer types, told apart by its ``type``. What a schema cannot say (files that exist, text
placeholders, ``min`` below ``max``) is left to :func:`gpurender.scene.load_scene`.
"""

from __future__ import annotations

import json

from .colors import COLOR_PATTERN
from .model import (
    BINDING_PARAMS, CAMERA_PARAMS, LAYER_PARAMS, MAX_LAYERS, MOTION_BLUR_PARAMS, SCENE_PARAMS, ParamSpec, feature_names,
    layer_types,
)

DRAFT = "http://json-schema.org/draft-07/schema#"


def json_schema() -> dict:
    """The JSON Schema (draft-07) of a scene file, as a dict."""
    types = layer_types()
    definitions = {"binding": _binding()}
    for name, spec in types.items():
        properties = {"type": {"description": f"the layer type: {name}", "enum": [name]}}
        properties.update({key: _param(p) for key, p in LAYER_PARAMS.items() if key != "type"})
        properties.update({key: _param(p) for key, p in spec.params.items()})
        definitions[f"{name}_layer"] = {
            "description": f"{name}: {spec.help}",
            "type": "object",
            "required": ["type"],
            "additionalProperties": False,
            "properties": properties,
        }
    definitions["layer"] = {
        "description": "one layer; its type says which other keys it takes",
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"description": LAYER_PARAMS["type"].help, "enum": list(types)}},
        "oneOf": [{"$ref": f"#/definitions/{name}_layer"} for name in types],
    }
    properties = {key: _param(p) for key, p in SCENE_PARAMS.items()}
    properties["camera"] = {
        "description": "the camera, orbiting its target as time passes",
        "type": "object",
        "additionalProperties": False,
        "properties": {key: _param(p) for key, p in CAMERA_PARAMS.items()},
    }
    properties["motion_blur"] = {
        "description": "motion blur: each frame averages sub-frames spread over the shutter",
        "type": "object",
        "additionalProperties": False,
        "properties": {key: _param(p) for key, p in MOTION_BLUR_PARAMS.items()},
    }
    properties["layers"] = {
        "description": "the layers, drawn bottom (first) to top (last)",
        "type": "array",
        "maxItems": MAX_LAYERS,
        "items": {"$ref": "#/definitions/layer"},
    }
    return {
        "$schema": DRAFT,
        "title": "gpurender scene",
        "description": "A gpurender scene file: a background, an orbiting camera and layers drawn bottom to top "
                       "(see docs/scenes.md).",
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "definitions": definitions,
    }


def dumps() -> str:
    """The schema as JSON text (what ``gpurender schema`` prints)."""
    return json.dumps(json_schema(), indent=2) + "\n"


def _json_value(value):
    return list(value) if isinstance(value, tuple) else value


def _param(p: ParamSpec) -> dict:
    out = {"description": p.help}
    if p.default is not None:
        out["default"] = _json_value(p.default)
    value = _value(p)
    if p.kind == "number":
        out["anyOf"] = [value, {"$ref": "#/definitions/binding"}]
    else:
        out.update(value)
    return out


def _value(p: ParamSpec) -> dict:
    """The schema of a parameter's fixed value (a binding aside)."""
    if p.kind in ("number", "float", "int"):
        out = {"type": "integer" if p.kind == "int" else "number"}
        if p.limits:
            out["minimum"], out["maximum"] = p.limits
        return out
    if p.kind in ("str", "path"):
        return {"type": "string", "enum": list(p.options)} if p.options else {"type": "string"}
    if p.kind == "feature":
        return {"type": "string", "enum": list(feature_names())}
    if p.kind == "color":
        return {"anyOf": [
            {"type": "string", "pattern": COLOR_PATTERN},
            {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}, "minItems": 3, "maxItems": 4},
        ]}
    if p.kind == "vec3":
        return {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3}
    if p.kind == "bool":
        return {"type": "boolean"}
    if p.kind == "list":
        return {"type": "array"}
    raise ValueError(f"no schema for parameter kind {p.kind!r}")


def _binding() -> dict:
    return {
        "description": "follow an audio feature: offset + scale * feature[frame], smoothed, then clamped to min..max",
        "type": "object",
        "required": ["feature"],
        "additionalProperties": False,
        "properties": {key: _param(p) for key, p in BINDING_PARAMS.items()},
    }
