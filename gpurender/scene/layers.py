"""Parameter declarations of the built-in layer types (the data side of each layer).

Adding a layer type: declare it here (or in ``layers_media`` / ``layers_fx`` / ``layers_effects``) with
:func:`register_layer_type`, naming its renderer class, and add that renderer's module under
``gpurender/render/layers/``. Nothing else registers or imports it: the render stage imports the
renderer's module when a scene first uses the type.
"""

from __future__ import annotations

from ..errors import SceneError
from .colors import COLORMAPS
from .model import ParamSpec as P
from .model import register_layer_type
from .pointfile import MAX_POINTS, check_point_source
from .shapes import SHAPES

#: The order the scene reference, the schema and messages list the built-in types in (they register
#: as their modules are imported, in whatever order that happens).
ORDER = ("points", "spectrum", "image", "text", "particles", "waveform", "shader",
         "bloom", "blur", "trails", "vignette", "grain")

#: Seeds are 32-bit (NumPy's generators take no negative seed; the particle hash is 32-bit).
SEED_LIMITS = (0, 2 ** 32 - 1)


def _check_points(params: dict, place, placeholders) -> None:
    if params.get("file"):
        check_point_source(params["file"], place("file"))
    elif params.get("color_by") == "file" and params.get("color") is None:
        raise SceneError(f"{place('color_by')}: \"file\" takes each point's colour from the point file, and this "
                         "layer has none; set file = \"cloud.ply\", or use color_by = \"height\"")

register_layer_type(
    "points",
    {
        "shape": P("sphere", "str", tuple(SHAPES), "built-in shape (ignored when file is set)"),
        "file": P(None, "path", help="point file (.ply/.npy/.npz/.csv), or a folder or glob of per-frame "
                                     "files (natural name order; frame k shows file k)"),
        "loop": P(False, "bool", help="per-frame files: start again from the first after the last "
                                      "(default: hold the last)"),
        "count": P(20000, "int", help="number of points of a built-in shape, at most what one frame can hold",
                   limits=(1, MAX_POINTS)),
        "seed": P(0, "int", help="seed of the shapes drawn at random (torus, helix, cube, galaxy, random)",
                  limits=SEED_LIMITS),
        "size": P(4.0, help="sprite diameter in pixels", unit="px"),
        "scale": P(1.0, help="uniform scale of the cloud"),
        "rotation": P(0.0, help="extra rotation about the vertical axis, degrees"),
        "spin": P(0.0, help="rotation speed about the vertical axis, degrees per second"),
        "color": P(None, "color", help="one colour for every point (overrides colormap)"),
        "colormap": P("viridis", "str", COLORMAPS, "the colours color_by picks from (matplotlib's maps)"),
        "color_by": P(None, "str", ("height", "distance", "feature", "file"),
                      "what picks each point's colormap colour: height, distance from the centre, "
                      "an audio feature (color_feature; the map slides with it), or the file's own "
                      "colours; default: the file's colours when it has them, else height"),
        "color_feature": P("bass", "feature", help="audio feature that shifts the colours with color_by = \"feature\""),
        "softness": P(0.35, help="fraction of the sprite radius faded at its edge", limits=(0, 1)),
        "draw": P("blend", "str", ("blend", "additive", "depth"),
                  "blend: premultiplied over, in point order; additive: glow; depth: the nearest point wins"),
        "brightness": P(1.0, help="multiplies the colours"),
    },
    help="a point cloud drawn as round sprites",
    check=_check_points,
    placeholders={"points": 0},
    renderer="gpurender.render.layers.points:PointsRenderer",
)

register_layer_type(
    "pointseq",
    {
        "feed": P(None, "object", help="the frames: at(index) -> a frame with index, points and colors, or None "
                                       "past the end; describe(index) -> text placeholders "
                                       "(gpurender.pointcloud.frames.FrameFeed)"),
        "size": P(3.0, help="point diameter in pixels", unit="px"),
        "softness": P(0.0, help="fraction of the sprite radius faded at its edge (blend and additive)",
                      limits=(0, 1)),
        "brightness": P(1.0, help="multiplies the colours"),
        "draw": P("depth", "str", ("depth", "blend", "additive"),
                  "depth: splatted, the nearest point wins; blend, additive: sprites as the points layer's"),
    },
    help="a point-cloud sequence handed over frame by frame by code (point-cloud exports); not for scene files",
    renderer="gpurender.render.layers.pointseq:PointSequenceRenderer",
    in_scenes=False,
)

register_layer_type(
    "spectrum",
    {
        "bars": P(64, "int", help="number of bars; the frequency bands are shared out among them "
                                  "(4096: narrower than a pixel at 4K)", limits=(1, 4096)),
        "style": P("bars", "str", ("bars", "mirrored", "radial"),
                   "bars: up from the baseline; mirrored: up and down from it; radial: a ring around the centre"),
        "color": P("#40a0ff", "color", help="colour at the foot of each bar"),
        "color_top": P("#ff40a0", "color", help="colour at the top of a full bar (the bar fades from color to it)"),
        "height": P(0.35, help="bar height at full level, fraction of the frame height"),
        "y": P(0.0, help="baseline, fraction of the frame height from the bottom; when not given, 0 (the bottom "
                         "edge) for bars and 0.5 (the middle, so both halves show) for mirrored"),
        "gap": P(0.2, help="fraction of each bar slot left empty", limits=(0, 0.95)),
        "gain": P(1.0, help="multiplies band levels"),
        "radius": P(0.25, help="inner radius of the radial style, fraction of the frame height"),
    },
    help="frequency bands as bars",
    renderer="gpurender.render.layers.spectrum:SpectrumRenderer",
    # Mirrored bars reach down as far as up: from the bottom edge, half of them would be off-frame.
    defaults=lambda params: {"y": 0.5} if params["style"] == "mirrored" else {},
)
from . import layers_media  # noqa: F401
from . import layers_fx  # noqa: F401
from . import layers_effects  # noqa: F401
