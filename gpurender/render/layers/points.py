"""The ``points`` layer: a point cloud drawn as round, soft-edged sprites of a size in pixels.

Points come from a built-in shape, one point file, or a sequence of per-frame point files (a
folder or glob: track frame ``k`` shows file ``k``, holding the last file or looping). They and
their colours live in storage buffers uploaded once (per file change, for a sequence); per frame
only a small parameter block (matrices, size) changes, plus the colours when they follow an audio
feature. Three drawing modes: ``blend`` (premultiplied over, in buffer order) and ``additive``
(glow) draw round sprites through the rasterizer (:class:`PointCloudPipeline`); ``depth`` (the
nearest point wins) is the compute splat of point sequences (:class:`~.pointseq.SplatPipeline`),
which on a software adapter costs a fraction of rasterizing two triangles per point. A depth point
is a disc of the sprite's solid core (``size * (1 - softness / 2)``: no soft edge can be
depth-sorted), anti-aliased with four samples a pixel unless the scene turns anti-aliasing off.
"""

from __future__ import annotations

import numpy as np
import wgpu

from ...errors import GpurenderError, SceneError
from ...scene.colors import apply_colormap, colormap_table
from ...scene.model import Binding
from ...scene.pointfile import MAX_POINTS, PointLimit
from ...scene.shapes import make_shape
from ..camera import rotation_y, scaling, to_wgsl
from ..shaderlib import load_wgsl, params_buffer
from ..structs import POINTS
from .base import DrawTarget, FrameInfo, LayerRenderer, TargetPipelines, begin_pass, color_target

#: Blend state of premultiplied sprites per draw mode; the particles layer draws its sprites with the
#: same states. (``depth`` points are splatted, see :class:`~.pointseq.SplatPipeline`.)
SPRITE_BLENDS = {
    "blend": {"color": {"src_factor": "one", "dst_factor": "one-minus-src-alpha", "operation": "add"},
              "alpha": {"src_factor": "one", "dst_factor": "one-minus-src-alpha", "operation": "add"}},
    "additive": {"color": {"src_factor": "one", "dst_factor": "one", "operation": "add"},
                 "alpha": {"src_factor": "one", "dst_factor": "one-minus-src-alpha", "operation": "add"}},
}


def pack_colors(colors: np.ndarray) -> np.ndarray:
    """``[n, 3|4]`` floats in 0..1 or uint8 to one little-endian RGBA8 ``uint32`` per point."""
    c = np.asarray(colors)
    if c.dtype != np.uint8:
        c = np.clip(np.rint(c.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    if c.shape[1] == 3:
        c = np.concatenate([c, np.full((len(c), 1), 255, np.uint8)], axis=1)
    return np.ascontiguousarray(c).view(np.uint32).reshape(-1)


def point_colors(points: np.ndarray, params: dict) -> np.ndarray:
    """Per-point colours from the layer's colour or colormap settings, ``[n, 4]`` float32.

    ``color_by = "feature"`` colours change per frame (see :func:`feature_color_indices`); here
    they get the colours of a feature at 0.
    """
    if params.get("color") is not None:
        return np.tile(np.asarray(params["color"], np.float32), (len(points), 1))
    if params.get("color_by") == "distance":
        values = np.linalg.norm(points, axis=1)
    elif params.get("color_by") == "feature":
        return colormap_table(params.get("colormap", "viridis"))[feature_color_indices(points)]
    else:
        values = points[:, 1]
    return apply_colormap(values, params.get("colormap", "viridis"))


#: With ``color_by = "feature"`` a point's place on the colormap is ``0.5 * height + 0.5 *
#: feature`` (both in 0..1): the cloud keeps a height gradient over half the map, and that window
#: slides along the map as the feature rises. Held as table indices so a frame costs one gather.
FEATURE_SPAN = 128


def feature_color_indices(points: np.ndarray) -> np.ndarray:
    """Each point's colormap index at feature 0 (0..127 by normalised height), ``uint8``."""
    y = points[:, 1].astype(np.float64)
    lo, hi = float(y.min()), float(y.max())
    t = (y - lo) / (hi - lo) if hi > lo else np.zeros_like(y)
    return np.rint(t * (FEATURE_SPAN - 1)).astype(np.uint8)


def feature_color_offset(value: float) -> int:
    """Colormap index offset for a feature value (clamped to 0..1)."""
    return int(round(min(max(value, 0.0), 1.0) * (256 - FEATURE_SPAN)))


def point_limit(device, bytes_per_point: int) -> PointLimit:
    """The most points one frame can hold on ``device`` when each takes ``bytes_per_point`` bytes of
    one storage buffer: the adapter's binding and buffer limits, and gpurender's :data:`MAX_POINTS`."""
    limits = device.limits
    binding = int(limits.get("max-storage-buffer-binding-size", 1 << 27))
    buffer = int(limits.get("max-buffer-size", 1 << 28))
    most = min(binding, buffer) // bytes_per_point
    if most >= MAX_POINTS:
        return PointLimit(MAX_POINTS, "gpurender's limit: the depth splat keeps a point's index in 26 bits")
    name, value = ("max_storage_buffer_binding_size", binding) if binding <= buffer else ("max_buffer_size", buffer)
    return PointLimit(most, f"this adapter's {name} is {value} bytes and a point takes {bytes_per_point}")


class PointCloudPipeline:
    """Pipelines and buffers to draw one set of points as sprites (``blend`` or ``additive``);
    reused by other point-based layers."""

    bytes_per_point = 16  # a vec4 position in one storage buffer (the packed colour is 4)

    def __init__(self, device, draw: str, target_format: str):
        if draw not in SPRITE_BLENDS:
            raise SceneError(f"unknown draw mode {draw!r}; valid: {', '.join(SPRITE_BLENDS)}")
        self.device = device
        self.limit = point_limit(device, self.bytes_per_point)
        self.draw_mode = draw
        module = device.create_shader_module(code=load_wgsl("points.wgsl"))
        self.uniforms = params_buffer(device, POINTS.size, "points params")
        # One pipeline per target: the layer's own texture (the sprites' own blend state) and, where
        # the frame loop draws the layer straight into the composite, the blend of its mode.
        self.pipelines = TargetPipelines(device, lambda format, blend: dict(
            vertex={"module": module, "entry_point": "vs_main"},
            primitive={"topology": "triangle-list"},  # one triangle a point (points.wgsl)
            fragment={"module": module, "entry_point": "fs_main", "targets": [color_target(format, blend)]},
        ), own_blend=SPRITE_BLENDS[draw])
        self.pipeline = self.pipelines.own
        self.count = 0
        self.bind_group = None
        self._capacity = 0
        self._positions = self._colors = None

    def set_points(self, points: np.ndarray, packed_colors: np.ndarray) -> None:
        """Upload points (``[n, 3]``) and packed colours; buffers grow as needed."""
        n = len(points)
        self.limit.check(n, "a point cloud")  # a clear line instead of the GPU's validation error
        pos = np.zeros((max(n, 1), 4), dtype=np.float32)
        pos[:n, :3] = points
        cols = np.zeros(max(n, 1), dtype=np.uint32)
        cols[:n] = packed_colors
        if n > self._capacity:
            usage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_DST
            self._positions = self.device.create_buffer(size=pos.nbytes, usage=usage)
            self._colors = self.device.create_buffer(size=cols.nbytes, usage=usage)
            self._capacity = max(n, 1)
            self.entries = [
                {"binding": 0, "resource": {"buffer": self.uniforms}},
                {"binding": 1, "resource": {"buffer": self._positions}},
                {"binding": 2, "resource": {"buffer": self._colors}},
            ]
            self.bind_group = self.pipelines.group(None, self.entries)
        self.device.queue.write_buffer(self._positions, 0, pos)
        self.device.queue.write_buffer(self._colors, 0, cols)
        self.count = n

    def set_colors(self, packed_colors: np.ndarray) -> None:
        """Replace the packed colours of the current points (same count as the last set_points)."""
        cols = np.ascontiguousarray(packed_colors, dtype=np.uint32)
        if len(cols) != self.count:
            raise ValueError(f"{len(cols)} colours for {self.count} points")
        if self.count:
            self.device.queue.write_buffer(self._colors, 0, cols)

    def set_uniforms(self, view_proj, model, width, height, size, softness, brightness, antialias=True) -> None:
        data = POINTS.pack(view_proj=to_wgsl(view_proj), model=to_wgsl(model), viewport=(width, height),
                           size=max(size, 0.0), softness=min(max(softness, 0.0), 1.0), brightness=max(brightness, 0.0),
                           antialias=1 if antialias else 0)
        self.device.queue.write_buffer(self.uniforms, 0, data)

    def draw(self, command_encoder, target, width, height) -> None:
        """Draw the sprites into ``target`` (a :class:`DrawTarget`, or a view of the layer's own
        texture, cleared first)."""
        rpass = begin_pass(command_encoder, target)
        if self.count:
            rpass.set_pipeline(self.pipelines.get(target))
            rpass.set_bind_group(0, self.pipelines.group(target, self.entries))
            rpass.draw(3 * self.count)
        rpass.end()


def load_layer_points(params: dict, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The layer's points and per-file colours (None when the colours come from a colormap).

    For a sequence of files this is the first file's content.
    """
    if params.get("file"):
        from ...scene.pointfile import PointSequence

        _, points, colors = PointSequence(params["file"]).load(0)
        return points, colors
    return make_shape(params["shape"], params["count"], seed=params.get("seed", seed)), None


class PointsRenderer(LayerRenderer):
    @property
    def content(self) -> str:
        """Blended sprites overlap (source-over in point order), additive ones add up; depth points
        are resolved one fragment per pixel."""
        return {"blend": "over", "additive": "additive"}.get(self.layer.params["draw"], "single")

    def __init__(self, ctx, layer):
        super().__init__(ctx, layer)
        p = layer.params
        self.sequence = None
        self._feature = None
        if p.get("color_by") == "feature" and p.get("color") is None:
            self._feature = Binding(feature=p.get("color_feature") or "bass")
            if ctx.features is not None:
                try:
                    ctx.params.series(self._feature)
                except GpurenderError as exc:
                    raise SceneError(f"{layer.where('color_feature')}: {exc}") from None
        if p["draw"] == "depth":
            from .pointseq import SplatPipeline

            self.gpu = SplatPipeline(ctx.device, ctx.width, ctx.height, self.target_format,
                                     antialias=getattr(ctx, "antialias", True))
        else:
            self.gpu = PointCloudPipeline(ctx.device, p["draw"], self.target_format)
        self._file_index = None
        self._offset = None
        self._bounds = None
        self._box = None
        if p.get("file"):
            from ...scene.pointfile import PointSequence

            self.sequence = PointSequence(p["file"], loop=p.get("loop", False))
            self._use_frame(0)  # reads and checks the first file now, before any frame is drawn
        else:
            # before make_shape allocates them: the scene allows what any adapter might hold
            self.gpu.limit.check(int(p["count"]), layer.where("count"), f"lower count to at most {self.gpu.limit.most}")
            points = make_shape(p["shape"], p["count"], seed=p.get("seed", ctx.seed))
            self._upload(points, None)

    @property
    def per_frame(self) -> bool:
        """True when the layer uploads something each frame (a file sequence or feature colours)."""
        return (self.sequence is not None and len(self.sequence) > 1) or self._feature is not None

    def _upload(self, points: np.ndarray, file_colors) -> None:
        p = self.layer.params
        color_by = p.get("color_by")
        if color_by == "file" and file_colors is None and p.get("color") is None:
            raise SceneError(f"{self.layer.where('color_by')}: \"file\" but the point file {p.get('file')!r} has "
                             "no colours; use a colormap (color_by = \"height\") or a file with colours")
        self.n_points = len(points)
        self.gpu.limit.check(self.n_points, f"{self.layer.where('file')}: {p.get('file')!r}")
        # the cloud's bounding box (per column: faster than along the long axis)
        pts = np.asarray(points, np.float64)
        self._box = ([float(pts[:, k].min()) for k in range(3)], [float(pts[:, k].max()) for k in range(3)]) \
            if len(pts) else None
        if p.get("color") is None and file_colors is not None and color_by in (None, "file"):
            colors = file_colors
        elif self._feature is not None:
            table = colormap_table(p.get("colormap", "viridis"))
            self._packed_table = pack_colors(table)
            self._base_index = feature_color_indices(points).astype(np.intp)
            self._offset = None
            colors = table[self._base_index]
        else:
            colors = point_colors(points, {**p, "color_by": color_by or "height"})
        self.gpu.set_points(points, pack_colors(colors))

    def _use_frame(self, index: int) -> None:
        if self.sequence is None:
            return
        k, points, colors = self.sequence.load(index)
        if k != self._file_index:
            self._upload(points, colors)
            self._file_index = k

    def draw(self, command_encoder, frame: FrameInfo, target) -> None:
        self._use_frame(frame.index)
        if self._feature is not None:
            value = self.ctx.params.value(self._feature, frame.position) if self.ctx.features is not None else 0.0
            offset = feature_color_offset(value)
            if offset != self._offset:
                self.gpu.set_colors(self._packed_table[self._base_index + offset])
                self._offset = offset
        angle = self.value("rotation", frame) + self.value("spin", frame) * frame.time
        scale = self.value("scale", frame)
        model = rotation_y(angle) @ scaling(scale)
        size, softness = self.value("size", frame), self.value("softness", frame)
        self._bounds = box_bounds(self.ctx.view_proj(frame) @ model, self._box, self.ctx.width, self.ctx.height,
                                  0.5 * max(size, 0.0) + 2.0)
        brightness = self.value("brightness", frame)
        antialias = getattr(self.ctx, "antialias", True)
        if self.layer.params["draw"] == "depth":
            # the sprite's solid core, as depth-tested sprites drew it (a soft rim cannot be sorted)
            core = max(size, 0.0) * (1.0 - 0.5 * min(max(softness, 0.0), 1.0))
            self.gpu.set_antialias(antialias)
            self.gpu.set_uniforms(self.ctx.view_proj(frame) @ model, core, brightness)
            self.gpu.draw(command_encoder, target)
            return
        self.gpu.set_uniforms(self.ctx.view_proj(frame), model, self.ctx.width, self.ctx.height,
                              size, softness, brightness, antialias)
        self.gpu.draw(command_encoder, target, self.ctx.width, self.ctx.height)

    def describe(self, frame):
        self._use_frame(frame.index)
        return {"points": self.n_points}

    def bounds(self, frame: FrameInfo):
        return self._bounds


def box_bounds(transform, box, width: int, height: int, margin: float):
    """The pixels ``(left, top, right, bottom)`` (y down) a box ``(lows, highs)`` of model space covers
    seen through ``transform`` (clip from model), ``margin`` pixels wider (a sprite's reach); empty
    for no box, None when it is not wholly in front of the camera. The projection of the box's
    corners holds every point in it."""
    if box is None:
        return (0, 0, 0, 0)
    lo, hi = box
    corners = np.array([[x, y, z, 1.0] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    clip = corners @ np.asarray(transform, np.float64).T
    if (clip[:, 3] <= 1e-6).any():
        return None
    ndc = clip[:, :2] / clip[:, 3:4]
    x = (ndc[:, 0] * 0.5 + 0.5) * width
    y = (0.5 - ndc[:, 1] * 0.5) * height
    return (x.min() - margin, y.min() - margin, x.max() + margin, y.max() + margin)
