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
from .base import DrawTarget, FrameInfo, LayerRenderer, TargetPipelines, begin_pass, color_target
from .points import PointCloudPipeline, point_limit

_EMPTY_POINTS = np.zeros((0, 3), np.float32)
_EMPTY_COLORS = np.zeros(0, np.uint32)
_IDENTITY = np.eye(4)
_WORKGROUP = 64  # @workgroup_size of the splat pass
_MAX_GROUPS = 65535  # WebGPU's guaranteed workgroups per dispatch dimension


def frame_point_limit(device, draw: str):
    """The most points one frame drawn in mode ``draw`` can hold on ``device`` (a PointLimit)."""
    return point_limit(device, SplatPipeline.bytes_per_point if draw == "depth" else PointCloudPipeline.bytes_per_point)


_compiled: list = []  # [(device, shader module, {(entry point, samples): compute pipeline})], one device


def splat_compute(device, entry: str, samples: int | None = None):
    """The compute pipeline of ``pointseq.wgsl``'s ``entry`` on ``device`` (specialised for
    ``samples`` keys a pixel where the entry reads them), built once per process (a software
    adapter compiles each pipeline with LLVM: ~10 ms, every export otherwise)."""
    if not _compiled or _compiled[0][0] is not device:
        _compiled[:] = [(device, device.create_shader_module(code=load_wgsl("pointseq.wgsl")), {})]
    _, module, pipelines = _compiled[0]
    key = (entry, samples)
    if key not in pipelines:
        stage = {"module": module, "entry_point": entry}
        constants = {}
        if entry.startswith("splat"):
            from ..device import adapter_info

            constants["LOAD_FIRST"] = 0 if adapter_info().is_software else 1
        if samples is not None:
            constants["SAMPLES"] = samples
        if constants:
            stage["constants"] = constants
        pipelines[key] = device.create_compute_pipeline(layout="auto", compute=stage)
    return pipelines[key]


def splat_module(device):
    """``pointseq.wgsl`` compiled for ``device`` (once per process)."""
    splat_compute(device, "tile_groups")
    return _compiled[0][1]


class SplatPipeline:
    """Depth-tested point discs splatted by one compute pass and resolved into a layer texture.

    The splat lists the ``tile`` (pixels across, down) sized tiles its points touch; the resolve
    draws one quad per listed tile (an indirect draw), so its cost follows the area the points
    cover, not the frame's. ``antialias`` keeps four samples a pixel (a rotated grid) and resolves
    their mean, so disc rims get partial coverage; without it one sample at the pixel centre (hard
    edges). ``row`` is the keys' pixels per row (at least ``width``: a subclass may pad rows to
    whole tiles).
    """

    bytes_per_point = 12  # the positions buffer (the packed colours take 4)
    #: the layer resolve's tiles: large enough that few quads cover a dense cloud, small enough that
    #: sparse points do not shade much empty space around them
    tile = (16, 16)

    def __init__(self, device, width: int, height: int, target_format: str | None, *, antialias: bool = True,
                 row: int | None = None):
        self.device = device
        self.limit = point_limit(device, self.bytes_per_point)
        self.width, self.height = width, height
        self.row = width if row is None else row
        self.module = module = splat_module(device)
        usage = wgpu.BufferUsage
        self.tiles_x = -(-self.row // self.tile[0])
        self.tiles = self.tiles_x * -(-height // self.tile[1])
        self.tile_flags = device.create_buffer(size=4 * self.tiles, usage=usage.STORAGE | usage.COPY_DST)
        self.tile_list = device.create_buffer(size=4 * self.tiles, usage=usage.STORAGE)
        # (COPY_SRC: tests read the count)
        self.tile_dispatch = device.create_buffer(size=16, usage=usage.STORAGE | usage.INDIRECT | usage.COPY_DST
                                                  | usage.COPY_SRC)
        self.target_format = target_format
        self.resolve = None  # without a target format, a subclass resolves the keys its own way
        self._resolves = {}  # samples -> TargetPipelines of the resolve
        if target_format is not None:
            self.tile_draws = splat_compute(device, "tile_draws")
            self.draw_args = device.create_buffer(size=16, usage=usage.STORAGE | usage.INDIRECT)
        self.uniforms = params_buffer(device, SPLAT.size, "splat params")
        self.samples = 0
        self.keys = None
        self.count = 0
        self.radius = 0.0
        self._capacity = 0
        self._groups = (0, 0)
        self.set_antialias(antialias)

    def set_antialias(self, on: bool) -> None:
        """Four samples a pixel (anti-aliased) or one: the pipelines specialised for it (see
        ``SAMPLES`` in pointseq.wgsl); the keys buffer grows to the first."""
        samples = 4 if on else 1
        if samples == self.samples:
            return
        self.samples = samples
        self.splat = splat_compute(self.device, "splat_listed", samples)
        if self.target_format is not None:
            if samples not in self._resolves:
                module = self.module
                # one pipeline per target (the layer's own texture, or the composite when the frame
                # loop draws the layer straight into it)
                self._resolves[samples] = TargetPipelines(self.device, lambda format, blend: dict(
                    vertex={"module": module, "entry_point": "vs_tiles"},
                    primitive={"topology": "triangle-list"},
                    fragment={"module": module, "entry_point": "fs_resolve", "constants": {"SAMPLES": samples},
                              "targets": [color_target(format, blend)]},
                ))
            self.resolves = self._resolves[samples]
            self.resolve = self.resolves.own
        size = self.row * self.height * 4 * samples
        if self.keys is None or self.keys.size < size:
            # zero-initialised as WebGPU guarantees, and emptied again by every resolve
            self.keys = self.device.create_buffer(size=size, usage=wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_DST)
        if self._capacity:
            self._bind()

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

    def set_colors(self, packed_colors: np.ndarray) -> None:
        """Replace the packed colours of the current points (same count as the last set_points)."""
        cols = np.ascontiguousarray(packed_colors, dtype=np.uint32)
        if len(cols) != self.count:
            raise ValueError(f"{len(cols)} colours for {self.count} points")
        if self.count:
            self.device.queue.write_buffer(self._colors, 0, cols)

    def _bind(self) -> None:
        u, keys = self.uniforms, self.keys
        self.splat_group = self._group(self.splat, [(0, u), (1, self._positions), (2, keys), (9, self.tile_flags),
                                                    (10, self.tile_list), (11, self.tile_dispatch)])
        if self.resolve is not None:
            self.resolve_entries = [{"binding": b, "resource": {"buffer": buf}}
                                    for b, buf in [(0, u), (3, keys), (4, self._colors), (15, self.tile_list)]]
            self.resolve_group = self.resolves.group(None, self.resolve_entries)
            self.draws_group = self._group(self.tile_draws, [(11, self.tile_dispatch), (14, self.draw_args)])

    def _group(self, pipeline, entries):
        return self.device.create_bind_group(
            layout=pipeline.get_bind_group_layout(0),
            entries=[{"binding": b, "resource": {"buffer": buf}} for b, buf in entries])

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
                          radius=max(size, 0.0) / 2.0, brightness=max(brightness, 0.0), count=self.count,
                          stride=self._groups[0] * _WORKGROUP, width=self.row, height=self.height,
                          depth_near=near, depth_far=far, index_bits=index_bits, depth_levels=levels,
                          samples=self.samples, tile_w=self.tile[0], tile_h=self.tile[1], tiles_x=self.tiles_x)
        self.device.queue.write_buffer(self.uniforms, 0, data)

    def draw_splat(self, command_encoder) -> None:
        """Record the splat pass (nothing when the frame has no points)."""
        if self.count:
            cpass = command_encoder.begin_compute_pass()
            cpass.set_pipeline(self.splat)
            cpass.set_bind_group(0, self.splat_group)
            cpass.dispatch_workgroups(*self._groups, 1)
            cpass.end()

    def draw(self, command_encoder, target) -> None:
        """Record the splat and the resolve of the listed tiles into ``target`` (a :class:`DrawTarget`,
        or a view of the layer's own texture, cleared first)."""
        enc = command_encoder
        if self.count:
            cpass = enc.begin_compute_pass()
            cpass.set_pipeline(self.splat)
            cpass.set_bind_group(0, self.splat_group)
            cpass.dispatch_workgroups(*self._groups, 1)
            cpass.set_pipeline(self.tile_draws)
            cpass.set_bind_group(0, self.draws_group)
            cpass.dispatch_workgroups(1)
            cpass.end()
        rpass = begin_pass(enc, target)
        if self.count:
            rpass.set_pipeline(self.resolves.get(target))
            rpass.set_bind_group(0, self.resolves.group(target, self.resolve_entries))
            rpass.draw_indirect(self.draw_args, 0)
        rpass.end()
        if self.count:
            # an empty tile list for the next frame (the resolve emptied the keys it read)
            enc.clear_buffer(self.tile_flags)
            enc.clear_buffer(self.tile_dispatch)


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
            self.splat = SplatPipeline(ctx.device, ctx.width, ctx.height, self.target_format,
                                       antialias=getattr(ctx, "antialias", True))
            self.sprites = None
        else:
            self.splat = None
            self.sprites = PointCloudPipeline(ctx.device, draw, self.target_format)
        self._uploaded = None  # index of the frame whose points are in the buffers

    @property
    def content(self) -> str:
        """Splatted points resolve one fragment per pixel; sprites as the points layer's."""
        return {"blend": "over", "additive": "additive"}.get(self.layer.params.get("draw", "depth"), "single")

    def draw(self, command_encoder, frame: FrameInfo, target) -> None:
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
        antialias = getattr(self.ctx, "antialias", True)
        if self.splat is not None:
            self.splat.set_antialias(antialias)
            self.splat.set_uniforms(view_proj, size, brightness)
            self.splat.draw(command_encoder, target)
        else:
            w, h = self.ctx.width, self.ctx.height
            self.sprites.set_uniforms(view_proj, _IDENTITY, w, h, size, self.value("softness", frame), brightness,
                                      antialias)
            self.sprites.draw(command_encoder, target, w, h)

    def describe(self, frame: FrameInfo) -> dict:
        return self.feed.describe(frame.index)
