"""The ``pointseq`` layer: draws the point cloud a feed hands it for each frame.

Point-cloud sequences change from frame to frame (positions, colours, even the number of points),
so instead of uploading one cloud at start-up like the ``points`` layer, this layer asks its feed
for the frame being drawn and uploads that frame's points and packed colours before recording the
draw. The layer is built in code (its ``feed`` is a Python object, see
:class:`gpurender.pointcloud.frames.FrameFeed`), not from a scene file.

Depth-tested drawing (the default) splats points in compute (``pointseq.wgsl``): each point is
projected once and written as a disc into a per-pixel buffer of depth-and-index keys, which on a
software adapter is an order of magnitude faster for large clouds than rasterizing two triangles
per point.
``blend`` and ``additive`` drawing go through :class:`PointCloudPipeline`'s sprites.

Uploading in ``draw`` is safe with frames in flight: ``queue.write_buffer`` is ordered after the
command buffers already submitted, so earlier frames still see their own points.
"""

from __future__ import annotations

import numpy as np
import wgpu

from ..camera import to_wgsl
from ..shaderlib import load_wgsl, params_buffer
from ..structs import SPLAT
from .base import FrameInfo, LayerRenderer
from .points import PointCloudPipeline, point_limit

_EMPTY_POINTS = np.zeros((0, 3), np.float32)
_EMPTY_COLORS = np.zeros(0, np.uint32)
_IDENTITY = np.eye(4)
_WORKGROUP = 64  # @workgroup_size of the splat pass
_MAX_GROUPS = 65535  # WebGPU's guaranteed workgroups per dispatch dimension


def frame_point_limit(device, draw: str):
    """The most points one frame drawn in mode ``draw`` can hold on ``device`` (a PointLimit)."""
    return point_limit(device, SplatPipeline.bytes_per_point if draw == "depth" else PointCloudPipeline.bytes_per_point)


_compiled: list = []  # [(device, shader module, {entry point: compute pipeline})], for one device


def splat_compute(device, entry: str):
    """The compute pipeline of ``pointseq.wgsl``'s ``entry`` on ``device``, built once per process
    (a software adapter compiles each pipeline with LLVM: ~10 ms, every export otherwise)."""
    if not _compiled or _compiled[0][0] is not device:
        _compiled[:] = [(device, device.create_shader_module(code=load_wgsl("pointseq.wgsl")), {})]
    _, module, pipelines = _compiled[0]
    if entry not in pipelines:
        stage = {"module": module, "entry_point": entry}
        if entry.startswith("splat"):
            from ..device import adapter_info

            stage["constants"] = {"LOAD_FIRST": 0 if adapter_info().is_software else 1}
        pipelines[entry] = device.create_compute_pipeline(layout="auto", compute=stage)
    return pipelines[entry]


def splat_module(device):
    """``pointseq.wgsl`` compiled for ``device`` (once per process)."""
    splat_compute(device, "splat")
    return _compiled[0][1]


class SplatPipeline:
    """Depth-tested point discs splatted by one compute pass and resolved into a layer texture."""

    splat_entry = "splat"  # the compute entry point that splats (a subclass may list tiles as well)
    bytes_per_point = 12  # the positions buffer (the packed colours take 4)

    def __init__(self, device, width: int, height: int, target_format: str | None):
        self.device = device
        self.limit = point_limit(device, self.bytes_per_point)
        self.width, self.height = width, height
        self.module = module = splat_module(device)
        self.splat = splat_compute(device, self.splat_entry)
        self.resolve = None  # without a target format, a subclass resolves the keys its own way
        if target_format is not None:
            self.resolve = device.create_render_pipeline(
                layout="auto",
                vertex={"module": module, "entry_point": "vs_resolve"},
                primitive={"topology": "triangle-list"},
                fragment={"module": module, "entry_point": "fs_resolve", "targets": [{"format": target_format}]},
            )
        self.uniforms = params_buffer(device, SPLAT.size, "splat params")
        # zero-initialised as WebGPU guarantees, and zeroed again by every resolve
        self.keys = device.create_buffer(size=width * height * 4,
                                         usage=wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_DST)
        self.count = 0
        self.radius = 0.0
        self._capacity = 0
        self._groups = (0, 0)

    def set_points(self, points: np.ndarray, packed_colors: np.ndarray, radius: float | None = None) -> None:
        """Upload ``[n, 3]`` float32 points and one packed RGBA8 colour per point.

        ``radius`` bounds the points' distance from the origin (measured here when not given); it
        sets the depth range the depth levels span.
        """
        n = len(points)
        self.limit.check(n, "a point cloud")  # a clear line instead of the GPU's validation error
        if n > self._capacity or not self._capacity:  # buffers exist even for an empty first frame
            # grow in steps (changing counts, few rebinds), never past what one binding holds
            capacity = min(max(n, 2 * self._capacity, 1024), self.limit.most)
            usage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_DST
            self._positions = self.device.create_buffer(size=capacity * 12, usage=usage)
            self._colors = self.device.create_buffer(size=capacity * 4, usage=usage)
            self._capacity = capacity
            self._bind()
        if n:
            points = np.ascontiguousarray(points, np.float32)
            self.device.queue.write_buffer(self._positions, 0, points)
            self.device.queue.write_buffer(self._colors, 0, np.ascontiguousarray(packed_colors, np.uint32))
            if radius is None:
                # per column: NumPy reduces an N x 3 array along its long axis far slower
                radius = float(np.linalg.norm([max(-points[:, k].min(), points[:, k].max()) for k in range(3)]))
        self.count = n
        self.radius = float(radius or 0.0)
        groups = -(-n // _WORKGROUP)
        gx = min(groups, _MAX_GROUPS)
        self._groups = (gx, -(-groups // gx) if gx else 0)

    def _bind(self) -> None:
        def group(pipeline, entries):
            return self.device.create_bind_group(
                layout=pipeline.get_bind_group_layout(0),
                entries=[{"binding": b, "resource": {"buffer": buf}} for b, buf in entries])

        u, keys = self.uniforms, self.keys
        self.splat_group = group(self.splat, [(0, u), (1, self._positions), (2, keys)] + self._splat_extra())
        if self.resolve is not None:
            self.resolve_group = group(self.resolve, [(0, u), (3, keys), (4, self._colors)])

    def _splat_extra(self) -> list:
        """More (binding, buffer) pairs for the splat's bind group."""
        return []

    def set_uniforms(self, view_proj, size: float, brightness: float) -> None:
        # A point's view depth is the clip w, linear in its position: w = a . p + b, with |a| = 1
        # for a perspective camera, so points within `radius` of the origin lie in b -+ radius |a|.
        row = np.asarray(view_proj, np.float64)[3]
        reach = self.radius * float(np.linalg.norm(row[:3]))
        near = max(row[3] - reach, 1e-6)
        far = max(row[3] + reach, near + 1e-6)
        index_bits = max(self.count.bit_length(), 1)
        levels = float(2 ** min(32 - index_bits, 24) - 1)  # within float32's exact integers
        data = SPLAT.pack(view_proj=to_wgsl(view_proj), viewport=(self.width, self.height),
                          radius=max(size, 0.0) / 2.0, brightness=brightness, count=self.count,
                          stride=self._groups[0] * _WORKGROUP, width=self.width, height=self.height,
                          depth_near=near, depth_far=far, index_bits=index_bits, depth_levels=levels)
        self.device.queue.write_buffer(self.uniforms, 0, data)

    def draw_splat(self, command_encoder) -> None:
        """Record the splat pass (nothing when the frame has no points)."""
        if self.count:
            cpass = command_encoder.begin_compute_pass()
            cpass.set_pipeline(self.splat)
            cpass.set_bind_group(0, self.splat_group)
            cpass.dispatch_workgroups(*self._groups, 1)
            cpass.end()

    def draw(self, command_encoder, target_view) -> None:
        self.draw_splat(command_encoder)
        attachment = {"view": target_view, "clear_value": (0, 0, 0, 0), "load_op": "clear", "store_op": "store"}
        rpass = command_encoder.begin_render_pass(color_attachments=[attachment])
        if self.count:
            rpass.set_pipeline(self.resolve)
            rpass.set_bind_group(0, self.resolve_group)
            rpass.draw(3, 1)
        rpass.end()


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
