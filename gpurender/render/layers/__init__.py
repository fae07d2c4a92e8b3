"""Layer renderers, one module per layer type, each registered by type name.

The frame loop only ever calls :func:`create_renderer` and the :class:`LayerRenderer` methods;
adding a layer type adds a module here (listed in ``_BUILTIN``) and never touches the loop.
"""

from __future__ import annotations

import importlib

from .base import FrameInfo, LayerRenderer, RenderContext, create_renderer, register_renderer, renderer_types

_BUILTIN = ("points", "spectrum", "image", "text", "particles", "waveform", "shader")


def load_builtin() -> None:
    for name in _BUILTIN:
        try:
            importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise


__all__ = ["FrameInfo", "LayerRenderer", "RenderContext", "create_renderer", "load_builtin",
           "register_renderer", "renderer_types"]
