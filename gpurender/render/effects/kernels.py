"""What every effect renderer builds its passes from: textures, a sampler, fullscreen pipelines.

An effect reads the premultiplied ``rgba16float`` composite beneath it and fully overwrites a target
of the same size and format (the contract is in :mod:`gpurender.render.effects`); its passes are
fullscreen triangles (``common.wgsl``'s ``fullscreen_position``) over textures of
:data:`EFFECT_FORMAT`. The frame loop alternates its textures between frames, so bind groups that
hold a source view are made per view and the last few kept (:class:`PerView`).
"""

from __future__ import annotations

import wgpu

from . import EFFECT_FORMAT


def effect_texture(device, width: int, height: int, label: str, readable: bool = True):
    """A texture effects draw into and read from (``readable``: copyable out, for tests)."""
    usage = wgpu.TextureUsage.RENDER_ATTACHMENT | wgpu.TextureUsage.TEXTURE_BINDING
    if readable:
        usage |= wgpu.TextureUsage.COPY_SRC
    return device.create_texture(label=label, size=(max(int(width), 1), max(int(height), 1), 1),
                                 format=EFFECT_FORMAT, usage=usage)


def linear_sampler(device):
    """Bilinear, clamped to the edge: reads beyond a border repeat the border texel."""
    return device.create_sampler(mag_filter="linear", min_filter="linear", address_mode_u="clamp-to-edge",
                                 address_mode_v="clamp-to-edge")


def bind_layout(device, textures: int, sampler: bool = True):
    """Binding 0: the parameters (read-only storage); 1..textures: float textures; then a sampler."""
    stage = wgpu.ShaderStage.FRAGMENT
    entries = [{"binding": 0, "visibility": stage, "buffer": {"type": "read-only-storage"}}]
    entries += [{"binding": 1 + i, "visibility": stage, "texture": {"sample_type": "float"}}
                for i in range(textures)]
    if sampler:
        entries.append({"binding": 1 + textures, "visibility": stage, "sampler": {"type": "filtering"}})
    return device.create_bind_group_layout(entries=entries)


def bind_group(device, layout, params, views, sampler=None):
    entries = [{"binding": 0, "resource": {"buffer": params}}]
    entries += [{"binding": 1 + i, "resource": view} for i, view in enumerate(views)]
    if sampler is not None:
        entries.append({"binding": 1 + len(views), "resource": sampler})
    return device.create_bind_group(layout=layout, entries=entries)


def fullscreen_pipeline(device, module, entry_point: str, layout, targets: int = 1, label: str = ""):
    """A pipeline drawing one fullscreen triangle (``vs_main``) into ``targets`` EFFECT_FORMAT views."""
    return device.create_render_pipeline(
        label=label or entry_point,
        layout=device.create_pipeline_layout(bind_group_layouts=[layout]),
        vertex={"module": module, "entry_point": "vs_main"},
        primitive={"topology": wgpu.PrimitiveTopology.triangle_list},
        fragment={"module": module, "entry_point": entry_point,
                  "targets": [{"format": EFFECT_FORMAT}] * targets},
    )


def draw_fullscreen(command_encoder, views, pipeline, group, label: str = "") -> None:
    """One pass drawing every pixel of ``views`` (their old contents are not read)."""
    rpass = command_encoder.begin_render_pass(
        label=label,
        color_attachments=[{"view": v, "clear_value": (0, 0, 0, 0), "load_op": "clear", "store_op": "store"}
                           for v in views],
    )
    rpass.set_pipeline(pipeline)
    rpass.set_bind_group(0, group)
    rpass.draw(3)
    rpass.end()


class PerView:
    """Bind groups made for a source view, kept for the few views a frame loop hands over.

    Keyed by identity, holding the view itself so that its id is not reused while cached.
    """

    def __init__(self, make, keep: int = 4):
        self._make, self._keep = make, keep
        self._cache: dict[tuple, tuple] = {}

    def __call__(self, *views):
        key = tuple(id(v) for v in views)
        hit = self._cache.get(key)
        if hit is None:
            if len(self._cache) >= self._keep:
                self._cache.pop(next(iter(self._cache)))
            hit = (views, self._make(*views))
            self._cache[key] = hit
        return hit[1]


class OnePassEffect:
    """Mixin for an effect that is one full-frame pass over the picture beneath: ``shader`` (a WGSL
    file with ``fs_main`` reading texture 0 and its parameters), ``struct`` (its GpuStruct) and
    ``params_data(frame)`` (the packed parameters of a frame) are all a subclass gives."""

    shader: str
    struct: object
    label: str

    def __init__(self, ctx, layer):
        from ..shaderlib import load_wgsl, params_buffer

        super().__init__(ctx, layer)
        device = ctx.device
        module = device.create_shader_module(label=self.shader, code=load_wgsl(self.shader))
        layout = bind_layout(device, textures=1, sampler=False)
        self.pipeline = fullscreen_pipeline(device, module, "fs_main", layout, label=self.label)
        self.params = params_buffer(device, self.struct.size, f"{self.label} params")
        self.groups = PerView(lambda src: bind_group(device, layout, self.params, (src,)))

    def params_data(self, frame) -> bytes:
        raise NotImplementedError

    def apply(self, command_encoder, frame, source_view, target_view) -> None:
        self.ctx.device.queue.write_buffer(self.params, 0, self.params_data(frame))
        draw_fullscreen(command_encoder, [target_view], self.pipeline, self.groups(source_view), self.label)
