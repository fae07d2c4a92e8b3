"""The ``pointseq`` layer: draws the point cloud a feed hands it for each frame.

Point-cloud sequences change from frame to frame (positions, colours, even the number of points),
so instead of uploading one cloud at start-up like the ``points`` layer, this layer asks its feed
for the frame being drawn and uploads that frame's points and packed colours before recording the
draw. The layer is built in code (its ``feed`` is a Python object, see
:class:`gpurender.pointcloud.frames.FrameFeed`), not from a scene file.

Depth-tested drawing (the default) splats points in compute (``pointseq.wgsl``): each point is
projected once and written as a disc into per-pixel depth and winner buffers, which on a software
adapter is an order of magnitude faster for large clouds than rasterizing two triangles per point.
``blend`` and ``additive`` drawing go through :class:`PointCloudPipeline`'s sprites.

Uploading in ``draw`` is safe with frames in flight: ``queue.write_buffer`` is ordered after the
command buffers already submitted, so earlier frames still see their own points.
"""

from __future__ import annotations

import numpy as np
import wgpu

from ..camera import to_wgsl
from ..shaderlib import load_wgsl
from .base import FrameInfo, LayerRenderer, register_renderer
from .points import PointCloudPipeline

_EMPTY_POINTS = np.zeros((0, 3), np.float32)
_EMPTY_COLORS = np.zeros(0, np.uint32)
_IDENTITY = np.eye(4)
_WORKGROUP = 64  # @workgroup_size of the splat passes
_MAX_GROUPS = 65535  # WebGPU's guaranteed workgroups per dispatch dimension
_UNIFORM_SIZE = 96


class SplatPipeline:
    """Depth-tested point discs drawn by compute passes and resolved into a layer texture."""

    def __init__(self, device, width: int, height: int, target_format: str):
        self.device = device
        self.width, self.height = width, height
        module = device.create_shader_module(code=load_wgsl("pointseq.wgsl"))
        self.depth_pass = device.create_compute_pipeline(layout="auto", compute={"module": module, "entry_point": "splat_depth"})
        self.index_pass = device.create_compute_pipeline(layout="auto", compute={"module": module, "entry_point": "splat_index"})
        self.resolve = device.create_render_pipeline(
            layout="auto",
            vertex={"module": module, "entry_point": "vs_resolve"},
            primitive={"topology": "triangle-list"},
            fragment={"module": module, "entry_point": "fs_resolve", "targets": [{"format": target_format}]},
        )
        self.uniforms = device.create_buffer(size=_UNIFORM_SIZE, usage=wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST)
        pixel_bytes = width * height * 4
        usage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_DST
        self.depth = device.create_buffer(size=pixel_bytes, usage=usage)
        self.winner = device.create_buffer(size=pixel_bytes, usage=usage)
        self.count = 0
        self._capacity = 0
        self._groups = (0, 0)

    def set_points(self, points: np.ndarray, packed_colors: np.ndarray) -> None:
        """Upload ``[n, 3]`` float32 points and one packed RGBA8 colour per point."""
        n = len(points)
        if n > self._capacity:
            capacity = max(n, 2 * self._capacity, 1024)  # grow in steps: changing counts, few rebinds
            usage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_DST
            self._positions = self.device.create_buffer(size=capacity * 12, usage=usage)
            self._colors = self.device.create_buffer(size=capacity * 4, usage=usage)
            self._capacity = capacity
            self._bind()
        if n:
            self.device.queue.write_buffer(self._positions, 0, np.ascontiguousarray(points, np.float32))
            self.device.queue.write_buffer(self._colors, 0, np.ascontiguousarray(packed_colors, np.uint32))
        self.count = n
        groups = -(-n // _WORKGROUP)
        gx = min(groups, _MAX_GROUPS)
        self._groups = (gx, -(-groups // gx) if gx else 0)

    def _bind(self) -> None:
        def group(pipeline, entries):
            return self.device.create_bind_group(
                layout=pipeline.get_bind_group_layout(0),
                entries=[{"binding": b, "resource": {"buffer": buf}} for b, buf in entries])

        u, pos, depth, win, col = self.uniforms, self._positions, self.depth, self.winner, self._colors
        self.depth_group = group(self.depth_pass, [(0, u), (1, pos), (2, depth)])
        self.index_group = group(self.index_pass, [(0, u), (1, pos), (2, depth), (3, win)])
        self.resolve_group = group(self.resolve, [(0, u), (4, win), (5, col)])

    def set_uniforms(self, view_proj, size: float, brightness: float) -> None:
        data = np.zeros(_UNIFORM_SIZE // 4, dtype=np.float32)
        data[0:16] = to_wgsl(view_proj).reshape(-1)
        data[16:20] = (self.width, self.height, max(size, 0.0) / 2.0, brightness)
        data.view(np.uint32)[20:24] = (self.count, self._groups[0] * _WORKGROUP, self.width, self.height)
        self.device.queue.write_buffer(self.uniforms, 0, data)

    def draw(self, command_encoder, target_view) -> None:
        if self.count:
            command_encoder.clear_buffer(self.depth)
            command_encoder.clear_buffer(self.winner)
            for pipeline, bind_group in ((self.depth_pass, self.depth_group), (self.index_pass, self.index_group)):
                cpass = command_encoder.begin_compute_pass()
                cpass.set_pipeline(pipeline)
                cpass.set_bind_group(0, bind_group)
                cpass.dispatch_workgroups(*self._groups, 1)
                cpass.end()
        attachment = {"view": target_view, "clear_value": (0, 0, 0, 0), "load_op": "clear", "store_op": "store"}
        rpass = command_encoder.begin_render_pass(color_attachments=[attachment])
        if self.count:
            rpass.set_pipeline(self.resolve)
            rpass.set_bind_group(0, self.resolve_group)
            rpass.draw(3, 1)
        rpass.end()


@register_renderer("pointseq")
class PointSequenceRenderer(LayerRenderer):
    """Params: ``feed`` (``at(index)`` -> frame with ``index``/``points``/``colors`` or None;
    ``describe(index)``), ``size`` (pixels), ``softness``, ``brightness``, ``draw`` (depth, blend,
    additive)."""

    def __init__(self, ctx, layer):
        super().__init__(ctx, layer)
        p = layer.params
        self.feed = p["feed"]
        draw = p.get("draw", "depth")
        if draw == "depth":
            self.splat = SplatPipeline(ctx.device, ctx.width, ctx.height, self.target_format)
            self.sprites = None
        else:
            self.splat = None
            self.sprites = PointCloudPipeline(ctx.device, draw, self.target_format)
        self._uploaded = None  # index of the frame whose points are in the buffers

    def draw(self, command_encoder, frame: FrameInfo, target_view) -> None:
        gpu = self.splat or self.sprites
        data = self.feed.at(frame.index)
        if data is None:
            # past the end of a sequence of unknown length: an empty frame the caller discards
            gpu.set_points(_EMPTY_POINTS, _EMPTY_COLORS)
            self._uploaded = None
        elif self._uploaded != data.index:
            gpu.set_points(data.points, data.colors)
            self._uploaded = data.index
        view_proj = self.ctx.view_proj(frame)
        size, brightness = self.value("size", frame), self.value("brightness", frame)
        if self.splat is not None:
            self.splat.set_uniforms(view_proj, size, brightness)
            self.splat.draw(command_encoder, target_view)
        else:
            w, h = self.ctx.width, self.ctx.height
            self.sprites.set_uniforms(view_proj, _IDENTITY, w, h, size, self.value("softness", frame), brightness)
            self.sprites.draw(command_encoder, target_view, w, h)

    def describe(self, frame: FrameInfo) -> dict:
        return self.feed.describe(frame.index)
