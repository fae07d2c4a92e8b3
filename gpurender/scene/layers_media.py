"""Parameter declarations of the ``image`` and ``text`` layer types (their data side).

Positions are fractions of the output, ``x`` from the left and ``y`` up from the bottom (as the
spectrum's baseline), and ``anchor`` says which point of the drawn box sits there.
"""

from __future__ import annotations

import os
import string

from ..errors import SceneError, choices
from .model import ParamSpec as P
from .model import register_layer_type

ANCHORS = ("top-left", "top", "top-right", "left", "center", "right", "bottom-left", "bottom", "bottom-right")


def placeholder_names(template: str, where: str = "text") -> list[str]:
    """The placeholder names in a format string; SceneError for bad syntax or non-name fields."""
    names = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise SceneError(f"{where}: {exc} in {template!r}; write literal braces as {{{{ and }}}}") from None
    for _, field, spec, _ in parsed:
        if field is None:
            continue
        if not field.isidentifier():
            raise SceneError(f"{where}: placeholder {{{field}}} must be a plain name such as {{time}} or {{frame}}")
        if spec and "{" in spec:
            raise SceneError(f"{where}: nested placeholders in a format spec are not supported ({{{field}:{spec}}})")
        names.append(field)
    return names


def format_text(template: str, values: dict, where: str = "text") -> str:
    """``template`` with its placeholders filled from ``values``; SceneError naming what is wrong."""
    missing = sorted(set(placeholder_names(template, where)) - set(values))
    if missing:
        raise SceneError(f"{where}: unknown placeholder {{{missing[0]}}}; valid: {choices(values)}")
    try:
        return template.format(**values)
    except (ValueError, TypeError) as exc:
        raise SceneError(f"{where}: cannot format {template!r}: {exc}") from None


def _check_image(params: dict, place, placeholders) -> None:
    from PIL import Image, UnidentifiedImageError

    file = params.get("file")
    if not file:
        raise SceneError(f'{place("file")}: an image layer needs file = "picture.png" (a PNG or JPEG)')
    if not os.path.isfile(file):
        raise SceneError(f"{place('file')}: image file {file!r} does not exist; check the path "
                         "(relative paths are relative to the scene file)")
    try:
        with Image.open(file):  # reads the header only
            pass
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise SceneError(f"{place('file')}: image file {file!r} cannot be read as an image ({exc}); "
                         "use a PNG or JPEG") from None


def _check_text(params: dict, place, placeholders: dict) -> None:
    # a trial run with a sample of each placeholder's type finds unknown names and format specs
    # that do not fit (``{time:d}``) now rather than at the first frame
    format_text(params["text"], placeholders, place("text"))
    font = params.get("font")
    if font:
        import freetype

        if not os.path.isfile(font):
            raise SceneError(f"{place('font')}: font file {font!r} does not exist; give a .ttf/.otf path or leave "
                             "font unset for DejaVu Sans")
        try:
            freetype.Face(font)
        except (freetype.FT_Exception, OSError) as exc:
            raise SceneError(f"{place('font')}: font file {font!r} cannot be read as a font ({exc}); "
                             "use a .ttf or .otf file") from None

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
    check=_check_image,
    renderer="gpurender.render.layers.image:ImageRenderer",
)

register_layer_type(
    "text",
    {
        "text": P("{time:.2f}", "str",
                  help="the string; placeholders {frame}, {frames}, {time}, {fps}, {points} ... "
                       "take Python format specs, e.g. {time:.1f}; write a literal brace as {{ or }}"),
        "font": P(None, "path", help="a .ttf/.otf file (default: DejaVu Sans)"),
        "size": P(32.0, help="font size in pixels (the em square)", unit="px"),
        "color": P("#ffffff", "color", help="colour of the text"),
        "x": P(0.5, help="horizontal position of the anchor, 0 (left) .. 1 (right)"),
        "y": P(0.5, help="vertical position of the anchor, 0 (bottom) .. 1 (top)"),
        "anchor": P("center", "str", ANCHORS, "which point of the text's box sits at (x, y)"),
        "align": P("left", "str", ("left", "center", "right"), "alignment of lines within the box"),
    },
    help="a line (or lines) of text with frame and time placeholders",
    check=_check_text,
    renderer="gpurender.render.layers.text:TextRenderer",
)
