"""The ``text`` layer: a string with placeholders, rasterized with FreeType and drawn pixel for pixel.

The string is a Python format string over the values the frame loop describes for a frame
(``{frame}``, ``{frames}``, ``{time:.2f}``, ``{fps}``, ``{points}`` ...). FreeType (freetype-py)
renders each glyph once per font and size (kept in a cache) with kerning; the line box, not
the ink, is placed at the anchor, so changing digits do not make the text jump. The texture is
re-rasterized and re-uploaded only when the formatted text or the pixel size changes.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import numpy as np

from ...errors import SceneError
from ...scene.layers_media import format_text, placeholder_names  # noqa: F401  (declared with the layer type)
from .base import FrameInfo, LayerRenderer
from .image import ANCHORS, TexturedQuad

#: Where DejaVu Sans usually is (Debian/Ubuntu fonts-dejavu-core, Arch, Fedora, Alpine, FreeBSD,
#: macOS, Windows); matplotlib's bundled copy is the last resort, so there is always a font.
DEFAULT_FONT_PATHS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/local/share/fonts/dejavu/DejaVuSans.ttf",
    "/Library/Fonts/DejaVuSans.ttf",
    "~/Library/Fonts/DejaVuSans.ttf",
    "C:/Windows/Fonts/DejaVuSans.ttf",
)
_ALIGN = {"left": 0.0, "center": 0.5, "right": 1.0}


def default_font() -> str:
    """Path of DejaVu Sans: the system's copy, else the one bundled with matplotlib."""
    for candidate in DEFAULT_FONT_PATHS:
        path = os.path.expanduser(candidate)
        if os.path.isfile(path):
            return path
    import matplotlib

    bundled = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    if bundled.is_file():
        return str(bundled)
    raise SceneError("no default font found (DejaVu Sans); set font = \"/path/to/font.ttf\" "
                     "or install fonts-dejavu-core")


class Font:
    """One font file at any pixel size, with a cache of rendered glyphs."""

    def __init__(self, path: str):
        import freetype

        if not os.path.isfile(path):
            raise SceneError(f"font file {path!r} does not exist; give a .ttf/.otf path or leave font unset for DejaVu Sans")
        try:
            self.face = freetype.Face(path)
        except (freetype.FT_Exception, OSError) as exc:
            raise SceneError(f"font file {path!r} cannot be read as a font ({exc}); use a .ttf or .otf file") from None
        self.path = path
        self._size64 = None
        self._glyphs: dict[tuple[int, str], tuple] = {}
        self._kerning: dict[tuple[int, str, str], int] = {}

    def set_size(self, px: float) -> None:
        size64 = max(int(round(px * 64)), 64)
        if size64 != self._size64:
            self.face.set_char_size(size64, 0, 72, 72)  # at 72 dpi, points are pixels
            self._size64 = size64

    def metrics(self) -> tuple[int, int, int]:
        """Ascender, descender (negative) and line height in whole pixels at the current size."""
        m = self.face.size
        return int(math.ceil(m.ascender / 64)), int(math.floor(m.descender / 64)), int(math.ceil(m.height / 64))

    def glyph(self, ch: str):
        """``(coverage [h, w] uint8, left, top, advance in 1/64 px)`` at the current size."""
        import freetype

        key = (self._size64, ch)
        cached = self._glyphs.get(key)
        if cached is None:
            self.face.load_char(ch, freetype.FT_LOAD_RENDER | freetype.FT_LOAD_TARGET_NORMAL)
            g = self.face.glyph
            bm = g.bitmap
            rows, width, pitch = bm.rows, bm.width, bm.pitch
            if rows and width:
                buf = np.frombuffer(bytes(bm.buffer), dtype=np.uint8, count=rows * abs(pitch))
                coverage = buf.reshape(rows, abs(pitch))[:, :width].copy()
                if pitch < 0:  # bottom-up rows
                    coverage = coverage[::-1]
            else:
                coverage = np.zeros((0, 0), np.uint8)
            cached = (coverage, g.bitmap_left, g.bitmap_top, g.advance.x)
            if len(self._glyphs) > 4096:  # a size bound to audio makes new sizes every frame
                self._glyphs.clear()
            self._glyphs[key] = cached
        return cached

    def kerning(self, left: str, right: str) -> int:
        """Kerning between two characters in 1/64 px at the current size (cached: FreeType looks up
        both glyph indices on every call, which dominated re-rasterizing a changing title)."""
        if not self.face.has_kerning:
            return 0
        key = (self._size64, left, right)
        value = self._kerning.get(key)
        if value is None:
            if len(self._kerning) > 65536:
                self._kerning.clear()
            value = self._kerning[key] = int(self.face.get_kerning(left, right).x)
        return value


@functools.lru_cache(maxsize=8)
def open_font(path: str) -> Font:
    return Font(path)


def rasterize(font: Font, text: str, size: float, align: str = "left"):
    """Coverage of ``text`` at ``size`` px: ``(coverage [h, w] uint8, box)``.

    ``box`` = (left, top, width, height) of the line box inside the coverage array (glyph ink
    may reach outside the box, so the array can be larger). Lines split at ``\\n``.
    """
    font.set_size(size)
    ascender, descender, line_height = font.metrics()
    lines = text.split("\n")
    placed = []  # (x, y, coverage) with y the top row, relative to the box's top-left
    widths = []
    for row, line in enumerate(lines):
        pen = 0  # 1/64 px
        baseline = ascender + row * line_height
        prev = None
        items = []
        for ch in line:
            if prev is not None:
                pen += font.kerning(prev, ch)
            coverage, left, top, advance = font.glyph(ch)
            if coverage.size:
                items.append(((pen >> 6) + left, baseline - top, coverage))
            pen += advance
            prev = ch
        widths.append(int(math.ceil(pen / 64)))
        placed.append(items)
    box_w = max(widths) if widths else 0
    box_h = (len(lines) - 1) * line_height + ascender - descender
    shifted = []
    for items, w in zip(placed, widths):
        dx = int(round((box_w - w) * _ALIGN[align]))
        shifted += [(x + dx, y, c) for x, y, c in items]
    x0 = min([0] + [x for x, _, _ in shifted])
    y0 = min([0] + [y for _, y, _ in shifted])
    x1 = max([box_w] + [x + c.shape[1] for x, _, c in shifted])
    y1 = max([box_h] + [y + c.shape[0] for _, y, c in shifted])
    canvas = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    for x, y, c in shifted:
        region = canvas[y - y0:y - y0 + c.shape[0], x - x0:x - x0 + c.shape[1]]
        np.maximum(region, c, out=region)  # overlapping glyphs must not add up past full coverage
    return canvas, (-x0, -y0, box_w, box_h)


def text_origin(box, x: float, y: float, anchor: str, width: int, height: int) -> tuple[int, int]:
    """Pixel position of a coverage array's top-left corner that puts its line ``box`` (from
    :func:`rasterize`) at ``x``, ``y`` (0..1 of the frame, y up) by ``anchor``; whole pixels, so
    glyph coverage lands one to one (no filtering blur)."""
    bx, by, bw, bh = box
    ax, ay = ANCHORS[anchor]
    return math.floor(x * width - ax * bw + 0.5) - bx, math.floor((1.0 - y) * height - ay * bh + 0.5) - by


def coverage_to_rgba(coverage: np.ndarray, color) -> np.ndarray:
    """Straight RGBA8: the colour everywhere, alpha = coverage times the colour's alpha."""
    h, w = coverage.shape
    rgba = np.empty((h, w, 4), dtype=np.uint8)
    rgba[..., :3] = np.clip(np.rint(np.asarray(color[:3]) * 255.0), 0, 255).astype(np.uint8)
    alpha = coverage.astype(np.float32) * float(color[3])
    rgba[..., 3] = np.clip(np.rint(alpha), 0, 255).astype(np.uint8)
    return rgba


class TextRenderer(LayerRenderer):
    content = "single"  # one quad of coverage
    scales_opacity = True
    def __init__(self, ctx, layer):
        super().__init__(ctx, layer)
        p = layer.params
        self.where = layer.where("text")
        self.template = p["text"]
        placeholder_names(self.template, self.where)  # syntax now; names once layers can describe
        self.font = open_font(str(p.get("font") or default_font()))
        self.quad = TexturedQuad(ctx.device, self.target_format)
        self._key = None
        self._box = (0, 0, 0, 0)
        self.rasterizations = 0  # how often the text was re-rasterized (the cache's effect)

    def bounds(self, frame: FrameInfo):
        return self.quad.drawn  # the scissor of the last draw

    def text_at(self, frame: FrameInfo) -> str:
        """The formatted string shown at ``frame``."""
        if not placeholder_names(self.template, self.where):
            return self.template.format()
        return format_text(self.template, self.ctx.describe(frame), self.where)

    def draw(self, command_encoder, frame: FrameInfo, target) -> None:
        p = self.layer.params
        text = self.text_at(frame)
        size = max(self.value("size", frame), 1.0)
        key = (text, round(size * 64), p["align"])
        if key != self._key:
            coverage, self._box = rasterize(self.font, text, size, p["align"])
            self.quad.set_image(coverage_to_rgba(coverage, p["color"]), grow=1.25)
            self._key = key
            self.rasterizations += 1
        left, top = text_origin(self._box, self.value("x", frame), self.value("y", frame), p["anchor"],
                                self.ctx.width, self.ctx.height)
        w, h = self.quad.size
        self.quad.draw(command_encoder, target, (left, top, w, h), filtered=False)
