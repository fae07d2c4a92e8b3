"""The ``points`` layer: a point cloud drawn as round, soft-edged sprites of a size in pixels.

Points and their colours are uploaded once as storage buffers; per frame only a small uniform
(matrices, size) changes. Three drawing modes: ``blend`` (premultiplied over, in buffer order),
``additive`` (glow) and ``depth`` (depth-tested, nearest point wins).
"""

from __future__ import annotations

import numpy as np
import wgpu

from ...errors import SceneError
from ...scene.colors import apply_colormap
from ...scene.shapes import make_shape
from ..camera import rotation_y, scaling, to_wgsl
from ..shaderlib import load_wgsl
from .base import FrameInfo, LayerRenderer, register_renderer

UNIFORM_SIZE = 160
_BLENDS = {
    "blend": {"color": {"src_factor": "one", "dst_factor": "one-minus-src-alpha", "operation": "add"},
              "alpha": {"src_factor": "one", "dst_factor": "one-minus-src-alpha", "operation": "add"}},
    "additive": {"color": {"src_factor": "one", "dst_factor": "one", "operation": "add"},
                 "alpha": {"src_factor": "one", "dst_factor": "one-minus-src-alpha", "operation": "add"}},
    "depth": None,
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
    """Per-point colours from the layer's colour or colormap settings, ``[n, 4]`` float32."""
    if params.get("color") is not None:
        return np.tile(np.asarray(params["color"], np.float32), (len(points), 1))
    if params.get("color_by") == "distance":
        values = np.linalg.norm(points, axis=1)
    else:
        values = points[:, 1]
    return apply_colormap(values, params.get("colormap", "viridis"))


class PointCloudPipeline:
    """Pipelines and buffers to draw one set of points; reused by other point-based layers."""

    def __init__(self, device, draw: str, target_format: str):
        if draw not in _BLENDS:
            raise SceneError(f"unknown draw mode {draw!r}; valid: {', '.join(_BLENDS)}")
        self.device = device
        self.draw_mode = draw
        module = device.create_shader_module(code=load_wgsl("points.wgsl"))
        self.uniforms = device.create_buffer(size=UNIFORM_SIZE, usage=wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST)
        depth = None
        if draw == "depth":
            depth = {"format": "depth32float", "depth_write_enabled": True, "depth_compare": "less"}
        target = {"format": target_format}
        if _BLENDS[draw] is not None:
            target["blend"] = _BLENDS[draw]
        self.pipeline = device.create_render_pipeline(
            layout="auto",
            vertex={"module": module, "entry_point": "vs_main"},
            primitive={"topology": "triangle-list"},
            depth_stencil=depth,
            fragment={"module": module, "entry_point": "fs_depth" if draw == "depth" else "fs_main",
                      "targets": [target]},
        )
        self.count = 0
        self.bind_group = None
        self._capacity = 0
        self._positions = self._colors = None
        self._depth_view = None

    def set_points(self, points: np.ndarray, packed_colors: np.ndarray) -> None:
        """Upload points (``[n, 3]``) and packed colours; buffers grow as needed."""
        n = len(points)
        pos = np.zeros((max(n, 1), 4), dtype=np.float32)
        pos[:n, :3] = points
        cols = np.zeros(max(n, 1), dtype=np.uint32)
        cols[:n] = packed_colors
        if n > self._capacity:
            usage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_DST
            self._positions = self.device.create_buffer(size=pos.nbytes, usage=usage)
            self._colors = self.device.create_buffer(size=cols.nbytes, usage=usage)
            self._capacity = max(n, 1)
            self.bind_group = self.device.create_bind_group(
                layout=self.pipeline.get_bind_group_layout(0),
                entries=[
                    {"binding": 0, "resource": {"buffer": self.uniforms}},
                    {"binding": 1, "resource": {"buffer": self._positions}},
                    {"binding": 2, "resource": {"buffer": self._colors}},
                ],
            )
        self.device.queue.write_buffer(self._positions, 0, pos)
        self.device.queue.write_buffer(self._colors, 0, cols)
        self.count = n

    def set_uniforms(self, view_proj, model, width, height, size, softness, brightness) -> None:
        data = np.zeros(UNIFORM_SIZE // 4, dtype=np.float32)
        data[0:16] = to_wgsl(view_proj).reshape(-1)
        data[16:32] = to_wgsl(model).reshape(-1)
        data[32:37] = (width, height, max(size, 0.0), min(max(softness, 0.0), 1.0), brightness)
        self.device.queue.write_buffer(self.uniforms, 0, data)

    def draw(self, command_encoder, target_view, width, height) -> None:
        attachment = {"view": target_view, "clear_value": (0, 0, 0, 0), "load_op": "clear", "store_op": "store"}
        depth = None
        if self.draw_mode == "depth":
            if self._depth_view is None:
                tex = self.device.create_texture(size=(width, height, 1), format="depth32float",
                                                 usage=wgpu.TextureUsage.RENDER_ATTACHMENT)
                self._depth_view = tex.create_view()
            depth = {"view": self._depth_view, "depth_clear_value": 1.0, "depth_load_op": "clear",
                     "depth_store_op": "discard"}
        rpass = command_encoder.begin_render_pass(color_attachments=[attachment], depth_stencil_attachment=depth)
        if self.count:
            rpass.set_pipeline(self.pipeline)
            rpass.set_bind_group(0, self.bind_group)
            rpass.draw(6, self.count)
        rpass.end()


def load_layer_points(params: dict, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The layer's points and per-file colours (None when the colours come from a colormap)."""
    if params.get("file"):
        try:
            from ...scene.pointfile import load_point_file
        except ImportError:
            raise SceneError("point files are not supported by this build; use a built-in shape") from None
        return load_point_file(params["file"])
    return make_shape(params["shape"], params["count"], seed=params.get("seed", seed)), None


@register_renderer("points")
class PointsRenderer(LayerRenderer):
    def __init__(self, ctx, layer):
        super().__init__(ctx, layer)
        p = layer.params
        points, colors = load_layer_points(p, ctx.seed)
        if colors is None or p.get("color") is not None:
            colors = point_colors(points, p)
        self.n_points = len(points)
        self.gpu = PointCloudPipeline(ctx.device, p["draw"], self.target_format)
        self.gpu.set_points(points, pack_colors(colors))

    def draw(self, command_encoder, frame: FrameInfo, target_view) -> None:
        angle = self.value("rotation", frame) + self.value("spin", frame) * frame.time
        model = rotation_y(angle) @ scaling(self.value("scale", frame))
        self.gpu.set_uniforms(self.ctx.view_proj(frame), model, self.ctx.width, self.ctx.height,
                              self.value("size", frame), self.value("softness", frame),
                              self.value("brightness", frame))
        self.gpu.draw(command_encoder, target_view, self.ctx.width, self.ctx.height)

    def describe(self, frame):
        return {"points": self.n_points}
