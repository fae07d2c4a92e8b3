"""Parameter declarations of the effect layer types: ``bloom``, ``blur``, ``trails``, ``vignette``, ``grain``.

An effect layer draws nothing of its own: like an adjustment layer, it processes the composite of
every layer beneath it, and the processed picture is composited over that composite with the
layer's ``blend`` and ``opacity`` (so ``opacity`` fades the effect in and out). The data side only
(no GPU library); the renderers live in ``gpurender/render/effects/``, one module per effect.
Every ``number`` parameter may be bound to an audio feature. Sizes are fractions of the frame
height, so an effect looks the same at every resolution.
"""

from __future__ import annotations

from .model import ParamSpec as P
from .model import register_layer_type

#: Seeds are 32-bit (the grain hash is 32-bit).
SEED_LIMITS = (0, 2 ** 32 - 1)

register_layer_type(
    "bloom",
    {
        "threshold": P(0.8, help="brightness (the brightest of r, g, b, premultiplied) above which a pixel glows; "
                                 "0 makes everything glow", limits=(0, 64)),
        "knee": P(0.5, help="softness of the threshold, as a fraction of it: brightness from threshold * (1 - knee) "
                            "up glows a little, rising smoothly", limits=(0, 1)),
        "intensity": P(0.8, help="strength of the glow added to the picture", limits=(0, 64)),
        "radius": P(0.08, help="how far the glow spreads, fraction of the frame height (the standard deviation "
                               "of its widest part); any radius costs the same", limits=(0.002, 0.5)),
    },
    help="glow around the bright parts of everything beneath: a wide, soft, multi-scale blur of what is "
         "brighter than the threshold, added to the picture",
    renderer="gpurender.render.effects.bloom:BloomRenderer",
)

register_layer_type(
    "blur",
    {
        "radius": P(0.01, help="blur radius, fraction of the frame height: the Gaussian's standard deviation "
                               "(as CSS blur()); any radius costs the same", limits=(0, 0.25)),
    },
    help="a Gaussian-like blur of everything beneath",
    renderer="gpurender.render.effects.blur:BlurRenderer",
)

register_layer_type(
    "trails",
    {
        "decay": P(0.05, help="fraction of a trail's brightness left after one second (0: no trail); the trail "
                              "keeps at most a few seconds of history (see the layer's notes)", limits=(0, 0.5)),
        "mode": P("max", "str", ("max", "add"),
                  "max: each pixel keeps the brighter of the picture and the fading trail (backgrounds stay as "
                  "they are); add: the trail is added to the picture (glows, and brightens what stands still)"),
        "zoom": P(1.0, help="scale of the trail per second, about the frame's centre (1.5: trails grow by half "
                            "each second, 0.7: they shrink)", limits=(0.01, 100)),
        "rotate": P(0.0, help="rotation of the trail per second about the frame's centre, degrees "
                              "(counter-clockwise)"),
        "offset_x": P(0.0, help="drift of the trail per second to the right, fraction of the frame height"),
        "offset_y": P(0.0, help="drift of the trail per second upwards, fraction of the frame height"),
    },
    help="feedback of what is beneath: each frame shows the fading, moving echo of the frames before it",
    renderer="gpurender.render.effects.trails:TrailsRenderer",
)

register_layer_type(
    "vignette",
    {
        "strength": P(0.6, help="opacity of the vignette colour at the corners", limits=(0, 1)),
        "radius": P(0.5, help="where the darkening starts: distance from the centre, fraction of the distance "
                              "to a corner", limits=(0, 2)),
        "softness": P(0.6, help="width of the fall-off, fraction of the distance to a corner", limits=(0.001, 2)),
        "roundness": P(0.0, help="0: the vignette follows the frame's shape (an ellipse); 1: a circle",
                       limits=(0, 1)),
        "color": P("#000000", "color", help="colour laid over the edges (its alpha scales strength)"),
    },
    help="darkens (or tints) the edges of everything beneath",
    renderer="gpurender.render.effects.vignette:VignetteRenderer",
)

register_layer_type(
    "grain",
    {
        "amount": P(0.06, help="strength of the grain: its standard deviation in mid-tones, fraction of full "
                               "brightness (half as much in deep shadows and highlights)", limits=(0, 1)),
        "size": P(1.5, help="grain size in pixels of a 1080-line frame (scaled with the frame height; "
                            "at most one grain per output pixel)", limits=(0.1, 64)),
        "color": P(0.0, help="0: monochrome grain; 1: each colour channel its own grain", limits=(0, 1)),
        "seed": P(0, "int", help="seed of the grain: same seed and frame, same grain; every frame differs",
                  limits=SEED_LIMITS),
    },
    help="film grain over everything beneath, new every frame and the same on every run",
    renderer="gpurender.render.effects.grain:GrainRenderer",
)
