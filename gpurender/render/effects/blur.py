"""The ``blur`` effect layer: a Gaussian-like blur of everything beneath, at the same cost for any radius.

``radius`` is the blur's standard deviation (as CSS ``blur()``), a fraction of the frame height. The
mip chain of :mod:`.pyramid` gives blurs of standard deviation about ``1.22 * 2**k`` pixels; the two
around the radius are mixed so that the variance is exactly the radius squared
(:func:`.pyramid.blur_weights`). Radius 0 gives the picture back unchanged; below the finest level
(about 2 pixels) the picture is mixed with that level.
"""

from __future__ import annotations

from . import EffectRenderer
from .pyramid import Pyramid, blur_weights


class BlurRenderer(EffectRenderer):
    def __init__(self, ctx, layer):
        super().__init__(ctx, layer)
        self.pyramid = Pyramid(ctx.device, ctx.width, ctx.height, "blur")

    def settings(self, frame) -> dict:
        sigma = max(self.value("radius", frame), 0.0) * self.ctx.height
        source, weights = blur_weights(sigma, self.pyramid.levels)
        return {"weights": weights, "source_weight": source, "chain_weight": 1.0}

    def apply(self, command_encoder, frame, source_view, target_view) -> None:
        self.pyramid.encode(command_encoder, source_view, target_view, **self.settings(frame))
