"""The ``bloom`` effect layer: what is brighter than a threshold glows, softly and widely.

The composite beneath is thresholded (a soft knee, on the brightest channel of the premultiplied
colour) while it is filtered down the mip chain of :mod:`.pyramid`; on the way up every level up to
the radius gets the same share of the glow (:func:`.pyramid.bloom_weights`), so a bright point has a
strong core that fades into a halo about ``radius`` frame heights wide, and the glow, times
``intensity``, is added to the picture. The cost is the same for every radius. Values above 1 (HDR)
are kept: a picture brighter than white glows more.
"""

from __future__ import annotations

from . import EffectRenderer
from .pyramid import Pyramid, bloom_weights


class BloomRenderer(EffectRenderer):
    def __init__(self, ctx, layer):
        super().__init__(ctx, layer)
        self.pyramid = Pyramid(ctx.device, ctx.width, ctx.height, "bloom")

    def settings(self, frame) -> dict:
        """What the chain is given at ``frame`` (parameters evaluated and limited)."""
        threshold = max(self.value("threshold", frame), 0.0)
        knee = min(max(self.value("knee", frame), 0.0), 1.0) * threshold
        radius = max(self.value("radius", frame), 0.0) * self.ctx.height
        return {"weights": bloom_weights(radius, self.pyramid.levels), "source_weight": 1.0,
                "chain_weight": max(self.value("intensity", frame), 0.0), "threshold": threshold, "knee": knee}

    def apply(self, command_encoder, frame, source_view, target_view) -> None:
        self.pyramid.encode(command_encoder, source_view, target_view, **self.settings(frame))
