"""Point-cloud frames straight to I420: a splat and a resolve of the tiles it touched, per frame.

A point-cloud export is always the same picture: depth-tested points over an opaque background
with an optional title on top. Drawn as a scene (:class:`FrameRenderer`), each frame would clear
and fill a layer texture for the points and another for the title, composite them, and convert the
result to YUV: at 640x480 on a software adapter those fixed passes cost several times what
splatting 10,000 points does. :class:`PointVideoRenderer` records one compute pass per frame
(``pointseq.wgsl``): the splat of :class:`SplatPipeline`, which also lists the 8x2 pixel tiles
its points touch, then ``resolve_listed`` over only those tiles, which turns the depth keys into
colours over the background and writes the tiles' bytes of the I420 planes (layout and code values
of :class:`YuvConverter`) into a copy of the background frame, then ``title_i420`` over the tiles
under the title. Frames come back through the same readback ring as every render, and match the
general path to within one code value.

One resolve invocation owns an 8x2 tile, four whole words of each Y row, so a frame whose width is
not a multiple of 8 is drawn padded on the right to one (points and title stay within the frame's
own width) and cropped as it is read back: every even size takes this path at the cost of the
size it pads to (:meth:`PointVideoRenderer.supports`). Points are anti-aliased by default: four
depth-tested samples a pixel (see ``pointseq.wgsl``).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import wgpu

from ..errors import RenderError
from ..scene.evaluate import ParamEvaluator
from ..scene.model import Camera
from .convert import i420_size
from .device import get_device
from .layers.base import FrameInfo, RenderContext, fps_value, frame_time
from .layers.pointseq import SplatPipeline, splat_compute
from .layers.text import default_font, format_text, open_font, rasterize, text_origin
from .readback import ReadbackRing
from .renderer import check_size, interrupts_at_frame_boundaries
from .shaderlib import params_buffer
from .structs import I420_VIDEO, as_bytes

_WORKGROUP = 64  # @workgroup_size of resolve_i420
_MAX_GROUPS = 65535


class I420Splat(SplatPipeline):
    """The splat with a resolve that writes a finished I420 frame into ``self.out``.

    Each frame starts as a copy of the background frame (``template``, resolved once from empty
    keys); the splat lists the 8x2 tiles its points touch, a one-invocation pass turns their
    number into the indirect dispatch of ``resolve_listed``, which resolves only those tiles, and
    ``title_i420`` redoes the tiles under the title with it. Frames too large for one indirect
    dispatch (over 4M tiles) resolve every tile instead.
    """

    tile = (8, 2)  # one resolve invocation's pixels: four whole Y words of each of two rows

    def __init__(self, device, width: int, height: int, *, antialias: bool = True):
        if not PointVideoRenderer.supports(width, height):
            raise RenderError(f"direct I420 drawing needs an even width and height, not {width}x{height}")
        usage = wgpu.BufferUsage
        row = padded_width(width)
        super().__init__(device, width, height, None, antialias=antialias, row=row)
        tiles = self.tiles
        self.tile_count = device.create_buffer(size=4, usage=usage.STORAGE)
        self.listed = tiles <= _MAX_GROUPS * _WORKGROUP
        self.tile_groups = splat_compute(device, "tile_groups")
        self._title_groups = 0
        self.nbytes = i420_size(row, height)  # the padded frame, as drawn
        self.out = device.create_buffer(size=self.nbytes, usage=usage.STORAGE | usage.COPY_SRC | usage.COPY_DST)
        self.template = device.create_buffer(size=self.nbytes, usage=usage.COPY_SRC | usage.COPY_DST)
        self._template_ready = False
        self.video_uniforms = params_buffer(device, I420_VIDEO.size, "i420 video params")
        # the background frame's: every tile resolved, none left to a title
        self.template_uniforms = params_buffer(device, I420_VIDEO.size, "i420 background params")
        self._title = None
        self._title_capacity = 0
        groups = -(-tiles // _WORKGROUP)
        gx = min(groups, _MAX_GROUPS)
        self._video_groups = (gx, -(-groups // gx), 1)
        self._video = I420_VIDEO.zeros()  # filled by name by the set_* calls
        self._video["tiles_x"], self._video["tiles"], self._video["stride"] = row // 8, tiles, gx * _WORKGROUP
        self._reserve_title(4)
        self.set_points(np.zeros((0, 3), np.float32), np.zeros(0, np.uint32))  # the point buffers and bindings

    def set_antialias(self, on: bool) -> None:
        # the resolves for that many samples a pixel first: the base class binds them
        samples = 4 if on else 1
        self.resolve_video, self.resolve_tiles, self.title_video = (
            splat_compute(self.device, entry, samples) for entry in ("resolve_i420", "resolve_listed", "title_i420"))
        super().set_antialias(on)

    def _reserve_title(self, nbytes: int) -> None:
        if nbytes <= self._title_capacity:
            return
        self._title_capacity = max(nbytes, 2 * self._title_capacity)
        self._title = self.device.create_buffer(size=self._title_capacity,
                                                usage=wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_DST)
        if self._capacity:
            self._bind()

    def _bind(self) -> None:
        super()._bind()
        video = [(0, self.uniforms), (4, self._colors), (5, self.video_uniforms), (6, self.out), (7, self._title),
                 (8, self.keys)]
        group = self._group
        self.video_group = group(self.resolve_video, video)
        self.template_group = group(self.resolve_video, [(5, self.template_uniforms) if b == 5 else (b, buf)
                                                         for b, buf in video])
        self.title_group = group(self.title_video, video)
        self.tiles_group = group(self.resolve_tiles, video + [(10, self.tile_list), (12, self.tile_count)])
        self.groups_group = group(self.tile_groups, [(11, self.tile_dispatch), (13, self.tile_count)])

    def set_video(self, background, title_color=(1.0, 1.0, 1.0, 1.0)) -> None:
        """Opaque background colour and the title's colour (sRGB floats 0..1)."""
        self._video["background"] = background
        self._video["title_color"] = title_color
        self._template_ready = False

    def set_title(self, coverage: np.ndarray | None, left: int = 0, top: int = 0) -> None:
        """Upload the title's ``[h, w]`` uint8 coverage with its top-left corner at pixel
        (``left``, ``top``); None for no title."""
        video = self._video
        h, w = (0, 0) if coverage is None else coverage.shape
        # the 8x2 tiles the title touches inside the frame
        x0, x1 = max(left, 0) // 8, -(-min(left + w, self.width) // 8)
        y0, y1 = max(top, 0) // 2, -(-min(top + h, self.height) // 2)
        if w == 0 or h == 0 or x1 <= x0 or y1 <= y0:
            video["title_rect"], video["title_stride"], video["title_tiles"] = (0, 0, 0, 0), 1, (0, 0, 0, 0)
            self._title_groups = 0
            return
        stride = -(-w // 4)
        padded = np.zeros((h, 4 * stride), np.uint8)
        padded[:, :w] = coverage
        self._reserve_title(padded.nbytes)
        self.device.queue.write_buffer(self._title, 0, padded)
        video["title_rect"], video["title_stride"] = (left, top, w, h), stride
        video["title_tiles"] = (x1 - x0, y1 - y0, x0, y0)
        self._title_groups = -(-(x1 - x0) * (y1 - y0) // _WORKGROUP)

    @staticmethod
    def _dispatch(cpass, pipeline, group, groups=None, indirect=None) -> None:
        cpass.set_pipeline(pipeline)
        cpass.set_bind_group(0, group)
        if indirect is not None:
            cpass.dispatch_workgroups_indirect(indirect, 0)
        else:
            cpass.dispatch_workgroups(*groups)

    def draw_i420(self, command_encoder) -> None:
        """Record the splat and the resolve of the frame set up by the ``set_*`` calls."""
        enc = command_encoder
        self.device.queue.write_buffer(self.video_uniforms, 0, as_bytes(self._video))
        if self.listed and not self._template_ready:
            # the background frame: every tile resolved from keys that are all empty between frames
            template = self._video.copy()
            template["title_tiles"] = (0, 0, 0, 0)
            self.device.queue.write_buffer(self.template_uniforms, 0, as_bytes(template))
            cpass = enc.begin_compute_pass()
            self._dispatch(cpass, self.resolve_video, self.template_group, self._video_groups)
            cpass.end()
            enc.copy_buffer_to_buffer(self.out, 0, self.template, 0, self.nbytes)
            self._template_ready = True
        if self.listed:
            enc.copy_buffer_to_buffer(self.template, 0, self.out, 0, self.nbytes)
        # one pass: WebGPU orders the dispatches' storage accesses (each dispatch is its own scope)
        cpass = enc.begin_compute_pass()
        if self.count:
            self._dispatch(cpass, self.splat, self.splat_group, (*self._groups, 1))
        if self.listed:
            self._dispatch(cpass, self.tile_groups, self.groups_group, (1, 1, 1))
            self._dispatch(cpass, self.resolve_tiles, self.tiles_group, indirect=self.tile_dispatch)
        else:
            self._dispatch(cpass, self.resolve_video, self.video_group, self._video_groups)
        if self._title_groups:
            self._dispatch(cpass, self.title_video, self.title_group, (self._title_groups, 1, 1))
        cpass.end()
        # an empty tile list for the next frame (the resolves emptied the keys they read, which are
        # all the splat wrote: clearing the whole keys buffer costs a software adapter more than
        # resolving a frame of 10,000 points)
        enc.clear_buffer(self.tile_flags)
        enc.clear_buffer(self.tile_dispatch)

    def record_copy(self, command_encoder, destination) -> None:
        """Copy the I420 bytes into ``destination`` (a readback-ring slot)."""
        command_encoder.copy_buffer_to_buffer(self.out, 0, destination, 0, self.nbytes)

    def crop(self, data: np.ndarray) -> np.ndarray:
        """The frame's own ``width`` x ``height`` I420 bytes from the drawn (padded) frame's."""
        if self.row == self.width:
            return data
        return crop_i420(data, self.row, self.width, self.height)


def padded_width(width: int) -> int:
    """The width the direct I420 passes draw a frame of ``width`` at: the next multiple of 8."""
    return -(-width // 8) * 8


def crop_i420(data: np.ndarray, row: int, width: int, height: int) -> np.ndarray:
    """A new flat I420 frame of ``width`` x ``height`` from the left part of one ``row`` wide."""
    out = np.empty(i420_size(width, height), np.uint8)
    n, m = width * height, row * height
    out[:n].reshape(height, width)[:] = data[:m].reshape(height, row)[:, :width]
    half, chroma = width // 2, (width // 2) * (height // 2)
    for plane in range(2):
        src = data[m + plane * (m // 4):m + (plane + 1) * (m // 4)].reshape(height // 2, row // 2)
        out[n + plane * chroma:n + (plane + 1) * chroma].reshape(height // 2, half)[:] = src[:, :half]
    return out


class PointVideoRenderer:
    """Renders the frames of a point-cloud sequence as I420 bytes for the encoder.

    ``feed`` hands out prepared frames (:class:`gpurender.pointcloud.frames.FrameFeed`: ``at``,
    ``describe``); ``camera`` is a :class:`Camera` in drawing space; ``background`` an opaque
    RGBA float colour; ``size`` the points' diameter in pixels. ``title`` is None or a dict with
    ``text`` (a template over the placeholders of :meth:`describe`), ``size`` (pixels), ``color``
    (RGBA floats), ``x``, ``y`` (0..1, y up), ``anchor`` and optionally ``font``, placed as the
    ``text`` layer places text. ``antialias`` (default) draws the points with four samples a pixel.
    """

    def __init__(self, feed, camera: Camera, background, width: int, height: int, fps: int, *,
                 size: float = 3.0, brightness: float = 1.0, title: dict | None = None, antialias: bool = True):
        check_size(width, height)
        self.device = get_device()
        self.feed = feed
        self.width, self.height, self.fps = width, height, fps  # exact: an int or a Fraction
        self.ctx = RenderContext(device=self.device, width=width, height=height, fps=float(fps), features=None,
                                 params=ParamEvaluator(None, fps), camera=camera)
        self.size, self.brightness = float(size), float(brightness)
        self.splat = I420Splat(self.device, width, height, antialias=antialias)
        self.title = title
        self._font = open_font(str(title.get("font") or default_font())) if title else None
        self.splat.set_video(tuple(background), tuple(title["color"]) if title else (1.0, 1.0, 1.0, 1.0))
        self.splat.set_title(None)  # until the first frame's title is rasterized, if there is one
        self._uploaded = None  # index of the frame whose points are in the buffers
        self._title_text = None
        self.rasterizations = 0  # how often the title was rasterized (it changes only with its text)

    @staticmethod
    def supports(width: int, height: int) -> bool:
        """Every even size (the passes pad the width to whole 8x2 tiles and crop it back)."""
        return width % 2 == 0 and height % 2 == 0 and width > 0 and height > 0

    def describe(self, index: int) -> dict:
        """Title placeholders at frame ``index``: ``frame``, ``time``, ``fps`` and the feed's."""
        return {"frame": index, "time": frame_time(index, self.fps), "fps": fps_value(self.fps),
                **self.feed.describe(index)}

    def _prepare(self, index: int) -> None:
        data = self.feed.at(index)
        if data is None:
            # past the end of a sequence of unknown length: an empty frame the caller discards
            self.splat.set_points(np.zeros((0, 3), np.float32), np.zeros(0, np.uint32))
            self._uploaded = None
        elif self._uploaded != data.index:
            self.splat.set_points(data.points, data.colors)
            self._uploaded = data.index
        frame = FrameInfo(index=index, time=frame_time(index, self.fps), fps=float(self.fps))
        self.splat.set_uniforms(self.ctx.view_proj(frame), self.size, self.brightness)
        if self.title:
            text = format_text(self.title["text"], self.describe(index), "title")
            if text != self._title_text:
                coverage, box = rasterize(self._font, text, self.title["size"], "left")
                left, top = text_origin(box, self.title["x"], self.title["y"], self.title["anchor"],
                                        self.width, self.height)
                self.splat.set_title(coverage, left, top)
                self._title_text = text
                self.rasterizations += 1

    def frames(self, first: int, count: int, ring_depth: int = 3) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(frame index, flat I420 bytes)`` for frames ``first .. first+count-1`` in order."""
        crop = self.splat.crop if self.splat.row != self.width else None
        ring = ReadbackRing(self.device, self.splat.nbytes, depth=ring_depth, postprocess=crop)
        with interrupts_at_frame_boundaries() as check_interrupt:
            try:
                for index in range(first, first + count):
                    check_interrupt()
                    self._prepare(index)
                    encoder = self.device.create_command_encoder()
                    self.splat.draw_i420(encoder)
                    yield from ring.submit(encoder, self.splat.record_copy, index)
                yield from ring.flush()
            finally:
                ring.close()
