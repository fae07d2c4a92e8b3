"""The ``image`` layer: a PNG or JPEG drawn with a fit mode, a position, an anchor and a scale.

Also home of :class:`TexturedQuad`, the small pipeline that draws a straight-alpha RGBA8 texture
into a pixel rectangle of a layer (the ``text`` layer uses it too). With ``fit = "none"`` at
scale 1 the image is drawn pixel for pixel, unfiltered, its corner snapped to a whole pixel.
An image drawn much smaller than it is stored is resized once on the CPU (Pillow, Lanczos) when
its size does not change over time, so it does not shimmer from bilinear minification.
"""

from __future__ import annotations

import math
import os

import numpy as np
import wgpu

from ...errors import SceneError
from ...scene.model import Binding
from ..shaderlib import load_wgsl, params_buffer
from ..structs import QUAD
from ..device import LAYER_FORMAT
from .base import FrameInfo, LayerRenderer, TargetPipelines, as_target, clear_pass, color_target

#: Anchor name -> (fraction across, fraction down) of the drawn rectangle placed at (x, y).
ANCHORS = {
    "top-left": (0.0, 0.0), "top": (0.5, 0.0), "top-right": (1.0, 0.0),
    "left": (0.0, 0.5), "center": (0.5, 0.5), "right": (1.0, 0.5),
    "bottom-left": (0.0, 1.0), "bottom": (0.5, 1.0), "bottom-right": (1.0, 1.0),
}
FITS = ("cover", "contain", "stretch", "none")


class TexturedQuad:
    """Draws a straight-alpha RGBA8 image into a rectangle of a premultiplied layer texture.

    The texture grows as needed and is reused when a new image fits in it (text changes every
    frame without reallocating).
    """

    def __init__(self, device, target_format: str = LAYER_FORMAT):
        self.device = device
        module = device.create_shader_module(code=load_wgsl("image.wgsl"))
        self.pipelines = TargetPipelines(device, lambda format, blend: dict(
            vertex={"module": module, "entry_point": "vs_main"},
            primitive={"topology": "triangle-list"},
            fragment={"module": module, "entry_point": "fs_main", "targets": [color_target(format, blend)]},
        ))
        self.uniforms = params_buffer(device, QUAD.size, "image params")
        self.texture = None
        self.bind_group = None
        self.size = (0, 0)  # width, height of the image in use
        self.drawn = (0, 0, 0, 0)

    def set_image(self, rgba: np.ndarray, grow: float = 1.0) -> None:
        """Upload ``[h, w, 4]`` uint8 straight RGBA; ``grow`` > 1 over-allocates for later images."""
        rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
        h, w = rgba.shape[:2]
        self.size = (w, h)
        if w == 0 or h == 0:
            return
        have = (self.texture.width, self.texture.height) if self.texture is not None else (0, 0)
        if w > have[0] or h > have[1]:
            alloc = (max(w, int(math.ceil(w * grow)), have[0]), max(h, int(math.ceil(h * grow)), have[1]))
            limit = self.device.limits.get("max-texture-dimension-2d", 8192)
            alloc = (min(alloc[0], limit), min(alloc[1], limit))
            self.texture = self.device.create_texture(
                size=(alloc[0], alloc[1], 1), format="rgba8unorm",
                usage=wgpu.TextureUsage.TEXTURE_BINDING | wgpu.TextureUsage.COPY_DST,
            )
            self.entries = [
                {"binding": 0, "resource": {"buffer": self.uniforms}},
                {"binding": 1, "resource": self.texture.create_view()},
            ]
            self.bind_group = self.pipelines.group(None, self.entries)  # the own texture's (also: ready)
        self.device.queue.write_texture(
            {"texture": self.texture, "mip_level": 0, "origin": (0, 0, 0)},
            rgba, {"offset": 0, "bytes_per_row": w * 4, "rows_per_image": h}, (w, h, 1),
        )

    def draw(self, command_encoder, target, rect, filtered: bool, antialias: bool = True) -> None:
        """Draw the image into ``rect`` = (left, top, width, height) px of ``target`` (a
        :class:`DrawTarget` or a view of the layer's own texture, cleared first)."""
        target = as_target(target)
        rpass = clear_pass(command_encoder, target)
        w, h = self.size
        self.drawn = (0, 0, 0, 0)  # the pixels drawn (left, top, right, bottom): the scissor below
        if self.bind_group is not None and w and h and rect[2] > 0 and rect[3] > 0:
            data = QUAD.pack(rect=tuple(rect), src_size=(w, h), filtered=1 if filtered else 0,
                             antialias=1 if antialias else 0, opacity=target.opacity)
            self.device.queue.write_buffer(self.uniforms, 0, data)
            # Shade only the pixels the rectangle can touch: the fullscreen triangle otherwise runs
            # the fragment shader over the whole frame (on a software rasterizer ~10 ms at 640x480
            # for a small title).
            tw, th = target.view.texture.size[:2]
            x0, y0 = max(0, math.floor(rect[0])), max(0, math.floor(rect[1]))
            x1, y1 = min(tw, math.ceil(rect[0] + rect[2])), min(th, math.ceil(rect[1] + rect[3]))
            if x1 > x0 and y1 > y0:
                self.drawn = (x0, y0, x1, y1)
                rpass.set_scissor_rect(x0, y0, x1 - x0, y1 - y0)
                rpass.set_pipeline(self.pipelines.get(target))
                rpass.set_bind_group(0, self.pipelines.group(target, self.entries))
                rpass.draw(3)
        rpass.end()


def load_image(path) -> np.ndarray:
    """``[h, w, 4]`` uint8 straight RGBA of a PNG/JPEG (EXIF rotation applied), or SceneError."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not path:
        raise SceneError('an image layer needs file = "picture.png" (a PNG or JPEG)')
    if not os.path.isfile(path):
        raise SceneError(f"image file {str(path)!r} does not exist; check the path "
                         "(relative paths are relative to the scene file)")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            return np.asarray(im.convert("RGBA"))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise SceneError(f"image file {str(path)!r} cannot be read as an image ({exc}); use a PNG or JPEG") from None


def place(image_size, out_size, fit: str, scale: float, x: float, y: float, anchor: str):
    """The drawn rectangle ``(left, top, width, height)`` in output pixels (y down).

    ``x``, ``y`` are in 0..1 of the output with y up from the bottom; the ``anchor`` point of the
    rectangle sits there.
    """
    iw, ih = image_size
    W, H = out_size
    if fit == "stretch":
        sx, sy = W / iw, H / ih
    elif fit == "contain":
        sx = sy = min(W / iw, H / ih)
    elif fit == "cover":
        sx = sy = max(W / iw, H / ih)
    else:
        sx = sy = 1.0
    dw, dh = iw * sx * scale, ih * sy * scale
    ax, ay = ANCHORS[anchor]
    return (x * W - ax * dw, (1.0 - y) * H - ay * dh, dw, dh)


def snap(rect, texture_size):
    """``(rect, True)`` with a whole-pixel corner and the texture's exact size when the rectangle
    is within half a pixel of that size (then drawing copies texels one to one), else
    ``(rect, False)``."""
    left, top, dw, dh = rect
    tw, th = texture_size
    if abs(dw - tw) < 0.5 and abs(dh - th) < 0.5:
        left, top = left + (dw - tw) / 2, top + (dh - th) / 2
        return (math.floor(left + 0.5), math.floor(top + 0.5), tw, th), True
    return rect, False


class ImageRenderer(LayerRenderer):
    content = "single"  # one quad
    scales_opacity = True

    def __init__(self, ctx, layer):
        super().__init__(ctx, layer)
        p = layer.params
        rgba = load_image(p.get("file"))
        # fit = "none" shows the image at its own size in output pixels: render pixels scale it
        self._fit_scale = ctx.pixel_scale if p["fit"] == "none" else 1
        self.image_size = (rgba.shape[1], rgba.shape[0])
        limit = ctx.device.limits.get("max-texture-dimension-2d", 8192)
        target = None
        if not isinstance(p["scale"], Binding):
            # A fixed size: resize once to it when that is smaller (a cover crop still needs the
            # whole image, so the full drawn size, not the visible part, is the target).
            _, _, dw, dh = place(self.image_size, (ctx.width, ctx.height), p["fit"], p["scale"] * self._fit_scale,
                                 0, 0, "center")
            if dw < self.image_size[0] - 0.5 or dh < self.image_size[1] - 0.5:
                target = (max(1, round(dw)), max(1, round(dh)))
        if max(self.image_size) > limit:
            f = limit / max(self.image_size)
            fit_limit = (max(1, int(self.image_size[0] * f)), max(1, int(self.image_size[1] * f)))
            target = fit_limit if target is None else (min(target[0], fit_limit[0]), min(target[1], fit_limit[1]))
        if target is not None and target != self.image_size:
            rgba = resize_rgba(rgba, target)
        self.texture_size = (rgba.shape[1], rgba.shape[0])
        self.quad = TexturedQuad(ctx.device, self.target_format)
        self.quad.set_image(rgba)

    def bounds(self, frame: FrameInfo):
        return self.quad.drawn  # the scissor of the last draw

    def draw(self, command_encoder, frame: FrameInfo, target) -> None:
        p = self.layer.params
        rect = place(self.image_size, (self.ctx.width, self.ctx.height), p["fit"],
                     max(self.value("scale", frame), 0.0) * self._fit_scale, self.value("x", frame),
                     self.value("y", frame), p["anchor"])
        rect, one_to_one = snap(rect, self.texture_size)
        mode = p.get("filter", "auto")
        filtered = mode == "linear" or (mode == "auto" and not one_to_one)
        self.quad.draw(command_encoder, target, rect, filtered, getattr(self.ctx, "antialias", True))


def resize_rgba(rgba: np.ndarray, size) -> np.ndarray:
    """Lanczos resize of straight RGBA (Pillow premultiplies internally, so edges stay clean)."""
    from PIL import Image

    return np.asarray(Image.fromarray(rgba, "RGBA").resize(tuple(size), Image.Resampling.LANCZOS))
