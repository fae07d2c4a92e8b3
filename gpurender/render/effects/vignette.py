"""The ``vignette`` effect layer: a colour (black by default) laid over the edges of everything beneath.

Distance is measured from the frame's centre so that a corner is at 1: along the frame's own axes
(an ellipse of the frame's shape) with ``roundness`` 0, in true pixels (a circle) with 1. The colour's
coverage rises smoothly (smoothstep) from 0 at ``radius`` to ``strength`` at ``radius + softness``.
"""

from __future__ import annotations

import math

from ..structs import VIGNETTE
from . import EffectRenderer
from .kernels import OnePassEffect


class VignetteRenderer(OnePassEffect, EffectRenderer):
    shader, struct, label = "effect_vignette.wgsl", VIGNETTE, "vignette"

    def params_data(self, frame):
        w, h = self.ctx.width, self.ctx.height
        roundness = min(max(self.value("roundness", frame), 0.0), 1.0)
        ellipse = (2.0 / w / math.sqrt(2.0), 2.0 / h / math.sqrt(2.0))  # the corner at 1 on both axes
        circle = 1.0 / math.hypot(w / 2.0, h / 2.0)
        scale = tuple((1.0 - roundness) * e + roundness * circle for e in ellipse)
        r, g, b, a = self.layer.params["color"]
        return VIGNETTE.pack(
            color=(r * a, g * a, b * a, a),
            scale=scale,
            strength=min(max(self.value("strength", frame), 0.0), 1.0),
            radius=max(self.value("radius", frame), 0.0),
            softness=max(self.value("softness", frame), 1e-3),
        )
