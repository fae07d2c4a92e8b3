"""Effect layers on their own: a source texture made from an array, one apply, the target read back.

Used by the effect tests and benchmarks/bench_effects.py; the frame loop is not involved, so an
effect's kernels are checked exactly (float16 in, float16 out).
"""

from __future__ import annotations

import numpy as np


def context(width, height, features=None, fps=30, seed=0):
    from gpurender.render.device import get_device
    from gpurender.render.layers import RenderContext
    from gpurender.scene.evaluate import ParamEvaluator

    return RenderContext(device=get_device(), width=width, height=height, fps=float(fps), features=features,
                         params=ParamEvaluator(features, fps), seed=seed)


def effect(layer: dict, width, height, features=None, fps=30):
    """The renderer of one effect layer given as a scene table, e.g. ``{"type": "bloom"}``."""
    from gpurender.render.layers import create_renderer
    from gpurender.scene import scene_from_dict

    [spec] = scene_from_dict({"layers": [layer]}).layers
    return create_renderer(context(width, height, features, fps), spec)


def texture(device, width, height):
    import wgpu

    usage = (wgpu.TextureUsage.TEXTURE_BINDING | wgpu.TextureUsage.RENDER_ATTACHMENT
             | wgpu.TextureUsage.COPY_DST | wgpu.TextureUsage.COPY_SRC)
    return device.create_texture(size=(width, height, 1), format="rgba16float", usage=usage)


def upload(device, tex, image: np.ndarray) -> None:
    """Write ``[h, w, 4]`` premultiplied floats into an rgba16float texture."""
    h, w, _ = image.shape
    data = np.ascontiguousarray(image, dtype=np.float16)
    device.queue.write_texture({"texture": tex, "mip_level": 0, "origin": (0, 0, 0)}, data,
                               {"offset": 0, "bytes_per_row": w * 8, "rows_per_image": h}, (w, h, 1))


def download(device, tex) -> np.ndarray:
    """An rgba16float texture as ``[h, w, 4]`` float32."""
    w, h = tex.size[0], tex.size[1]
    row = (w * 8 + 255) // 256 * 256
    raw = device.queue.read_texture({"texture": tex, "mip_level": 0, "origin": (0, 0, 0)},
                                    {"offset": 0, "bytes_per_row": row, "rows_per_image": h}, (w, h, 1))
    arr = np.frombuffer(bytes(raw), dtype=np.uint8).reshape(h, -1)[:, : w * 8]
    return np.ascontiguousarray(arr).view(np.float16).reshape(h, w, 4).astype(np.float32)


class Bench:
    """Source and target textures of one size, and apply() of a renderer on them."""

    def __init__(self, renderer, image: np.ndarray | None = None):
        self.renderer = renderer
        self.device = device = renderer.ctx.device
        w, h = renderer.ctx.width, renderer.ctx.height
        self.source, self.target = texture(device, w, h), texture(device, w, h)
        self.source_view, self.target_view = self.source.create_view(), self.target.create_view()
        if image is not None:
            self.set_source(image)

    def set_source(self, image: np.ndarray) -> None:
        upload(self.device, self.source, image)

    def frame(self, index: int):
        from gpurender.render.layers.base import FrameInfo, frame_time

        fps = self.renderer.ctx.fps
        return FrameInfo(index=index, time=frame_time(index, int(fps) if float(fps).is_integer() else fps), fps=fps)

    def apply(self, index: int = 0, read: bool = True):
        encoder = self.device.create_command_encoder()
        self.renderer.apply(encoder, self.frame(index), self.source_view, self.target_view)
        self.device.queue.submit([encoder.finish()])
        return download(self.device, self.target) if read else None


def point_image(width, height, points, value=1.0, background=(0, 0, 0, 1)):
    """An opaque premultiplied image of ``background`` with single bright pixels at ``points``."""
    img = np.zeros((height, width, 4), np.float32)
    img[:] = background
    for x, y in points:
        img[y, x] = (value, value, value, 1.0)
    return img
