"""Layer renderers, one module per layer type.

The frame loop only ever calls :func:`create_renderer` and the :class:`LayerRenderer` methods. A layer
type's declaration in the scene stage names its renderer class (``renderer="gpurender.render.layers.
waveform:WaveformRenderer"``), whose module is imported when a layer of that type is first drawn:
adding a layer type adds that declaration and a module here, and never touches the loop.
"""

from __future__ import annotations

from .base import FrameInfo, LayerRenderer, RenderContext, create_renderer, renderer_class, renderer_types

__all__ = ["FrameInfo", "LayerRenderer", "RenderContext", "create_renderer", "renderer_class", "renderer_types"]
