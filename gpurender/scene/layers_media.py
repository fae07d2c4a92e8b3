"""Parameter declarations of the ``image`` and ``text`` layer types (their data side).

Positions are fractions of the output, ``x`` from the left and ``y`` up from the bottom (as the
spectrum's baseline), and ``anchor`` says which point of the drawn box sits there.
"""

from __future__ import annotations

from .model import ParamSpec as P
from .model import register_layer_type

ANCHORS = ("top-left", "top", "top-right", "left", "center", "right", "bottom-left", "bottom", "bottom-right")

register_layer_type(
    "image",
    {
        "file": P(None, "path", help="a PNG or JPEG (relative to the scene file)"),
        "fit": P("contain", "str", ("cover", "contain", "stretch", "none"),
                 "cover fills the frame and crops, contain shows it all, stretch fills it exactly, "
                 "none keeps the image's own pixel size"),
        "scale": P(1.0, help="multiplies the fitted size"),
        "x": P(0.5, help="horizontal position of the anchor, 0 (left) .. 1 (right)"),
        "y": P(0.5, help="vertical position of the anchor, 0 (bottom) .. 1 (top)"),
        "anchor": P("center", "str", ANCHORS, "which point of the image sits at (x, y)"),
        "filter": P("auto", "str", ("auto", "linear", "nearest"),
                    "auto: unfiltered when drawn at its own size, else linear"),
    },
    help="a PNG or JPEG picture",
)

register_layer_type(
    "text",
    {
        "text": P("{time:.2f}", "str",
                  help="the string; placeholders {frame}, {frames}, {time}, {fps}, {points} ... "
                       "take Python format specs, e.g. {time:.1f}; write a literal brace as {{ or }}"),
        "font": P(None, "path", help="a .ttf/.otf file (default: DejaVu Sans)"),
        "size": P(32.0, help="font size in pixels (the em square)"),
        "color": P("#ffffff", "color"),
        "x": P(0.5, help="horizontal position of the anchor, 0 (left) .. 1 (right)"),
        "y": P(0.5, help="vertical position of the anchor, 0 (bottom) .. 1 (top)"),
        "anchor": P("center", "str", ANCHORS, "which point of the text's box sits at (x, y)"),
        "align": P("left", "str", ("left", "center", "right"), "alignment of lines within the box"),
    },
    help="a line (or lines) of text with frame and time placeholders",
)
