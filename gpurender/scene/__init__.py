"""The scene stage: layer dataclasses, TOML loading and validation, and the scene reference and JSON
Schema derived from the same declarations (:mod:`.reference`, :mod:`.schema`). Imports no GPU library."""

from .colors import COLORMAPS, apply_colormap, parse_color
from .loader import load_scene, scene_from_dict
from .model import BLEND_MODES, Binding, Camera, Layer, Scene, check_features, layer_types
from .shapes import SHAPES, make_shape

__all__ = [
    "BLEND_MODES", "Binding", "COLORMAPS", "Camera", "Layer", "SHAPES", "Scene", "apply_colormap",
    "check_features", "layer_types", "load_scene", "make_shape", "parse_color", "scene_from_dict",
]
