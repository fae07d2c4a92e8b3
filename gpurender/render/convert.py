"""Converts the composited RGBA frame to Y'CbCr 4:2:0 for the encoder, on the GPU or in NumPy.

The GPU path (:class:`YuvConverter`) records one WGSL compute pass that writes planar 4:2:0 into a
storage buffer, so readback moves 1.5 bytes per pixel (8-bit I420) or 3 (10-bit) instead of 4 (or
8 for a float frame) and the encoder needs no CPU conversion. Layouts (:data:`LAYOUTS`):

* ``yuv420p``: 8-bit I420;
* ``yuv420p10le``: the same planes, 10-bit codes in little-endian 16-bit samples (libx265, SVT-AV1);
* ``p010le``: 10-bit, the Y plane then one plane of interleaved Cb Cr, codes in the top 10 bits of
  each 16-bit sample (NVENC's 10-bit input).

:func:`rgba_to_i420_cpu` is the 8-bit conversion in NumPy, the CPU baseline and the fallback;
:func:`rgb_to_yuv420_cpu` computes any layout from float R'G'B' (the reference for 10-bit). All
follow one convention, stated here once:

* BT.709 coefficients, limited ("TV") range: Y in 16..235, Cb/Cr in 16..240 (10-bit: four times
  those codes, Y 64..940, Cb/Cr 64..960).
* The RGBA values are sRGB-encoded and used as R'G'B' directly; alpha is ignored (the frame is
  shown over nothing).
* Chroma comes from the mean R'G'B' of each 2x2 block, converted afterwards (equal to averaging
  the unrounded per-pixel chroma, because the conversion is affine); the sample sits at the
  centre of the block.
* Every code value is rounded to nearest, halves up.
* Output layout: Y (W*H samples), then U (W/2 x H/2), then V, tightly packed, no row padding.
"""

from __future__ import annotations


import numpy as np

from ..errors import RenderError
from .shaderlib import load_wgsl, params_buffer, per_device
from .structs import YUV

#: BT.709 luma coefficients (red, blue; green is the rest).
KR = 0.2126
KB = 0.0722
KG = 1.0 - KR - KB

_WORKGROUP = 64  # must match @workgroup_size in rgba_to_yuv.wgsl
_MAX_GROUPS = 65535  # WebGPU's guaranteed maxComputeWorkgroupsPerDimension
_VIEW_CACHE = 4  # bind groups kept for recently seen source textures (double buffering etc.)
# (kernel, bytes per sample) -> entry point of rgba_to_yuv.wgsl
_ENTRY_POINTS = {("tiles", 1): "main_tiles", ("bytes", 1): "main_bytes",
                 ("tiles", 2): "main_tiles16", ("bytes", 2): "main_words16", ("rgba", 1): "main_rgba"}


#: What the converter writes, and the bytes per sample of each.
LAYOUTS = {"yuv420p": 1, "yuv420p10le": 2, "p010le": 2}


def i420_size(width: int, height: int) -> int:
    """Bytes of one I420 frame of ``width`` x ``height`` (both even)."""
    return width * height * 3 // 2


def yuv_size(width: int, height: int, layout: str = "yuv420p") -> int:
    """Bytes of one 4:2:0 frame of ``layout`` (see :data:`LAYOUTS`)."""
    return i420_size(width, height) * LAYOUTS[layout]


def _check_size(width: int, height: int) -> None:
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise RenderError(
            f"YUV 4:2:0 needs an even frame size, got {width}x{height}; "
            "choose an even width and height (e.g. 1280x720)"
        )


def rgba_to_i420_cpu(rgba: np.ndarray) -> np.ndarray:
    """Convert ``rgba`` (``[h, w, 4]`` uint8, sRGB-encoded, straight alpha) to I420 in NumPy.

    Returns a flat uint8 array of ``w*h*3//2`` bytes: Y, then U, then V planes (see the module
    docstring for the colour convention). Matches :class:`YuvConverter` to within one code value.
    """
    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[2] < 3 or rgba.dtype != np.uint8:
        raise ValueError(f"expected an [h, w, 4] uint8 array, got {rgba.dtype} {rgba.shape}")
    h, w = rgba.shape[:2]
    _check_size(w, h)
    f32 = np.float32
    n_y = w * h
    n_c = n_y // 4
    out = np.empty(n_y + 2 * n_c, np.uint8)

    # Multiply straight out of the interleaved array (dtype= avoids deinterleaving copies); the
    # +0.5 offset and the truncating float->uint8 store together round to nearest, since every
    # value is positive.
    s = 219.0 / 255.0
    y = np.multiply(rgba[..., 0], f32(KR * s), dtype=f32)
    y += np.multiply(rgba[..., 1], f32(KG * s), dtype=f32)
    y += np.multiply(rgba[..., 2], f32(KB * s), dtype=f32)
    y += f32(16.5)
    out[:n_y].reshape(h, w)[...] = y

    # Sum each 2x2 block in integers (exact), fold the 1/4 and 1/255 into the coefficients.
    q = rgba.reshape(h // 2, 2, w // 2, 2, rgba.shape[2])
    blk = q[:, 0, :, 0, :3].astype(np.uint16)
    blk += q[:, 0, :, 1, :3]
    blk += q[:, 1, :, 0, :3]
    blk += q[:, 1, :, 1, :3]
    cb_row = np.array([-KR, -KG, 1.0 - KB]) * (112.0 / (1.0 - KB) / 255.0 / 4.0)
    cr_row = np.array([1.0 - KR, -KG, -KB]) * (112.0 / (1.0 - KR) / 255.0 / 4.0)
    for row, start in ((cb_row, n_y), (cr_row, n_y + n_c)):
        c = np.multiply(blk[..., 0], f32(row[0]), dtype=f32)
        c += np.multiply(blk[..., 1], f32(row[1]), dtype=f32)
        c += np.multiply(blk[..., 2], f32(row[2]), dtype=f32)
        c += f32(128.5)
        out[start : start + n_c].reshape(h // 2, w // 2)[...] = c
    return out


def rgb_to_yuv420_cpu(rgb: np.ndarray, layout: str = "yuv420p10le") -> np.ndarray:
    """Convert float R'G'B' ``[h, w, 3+]`` in 0..1 to a flat frame of ``layout``, in float64.

    The reference for the 10-bit GPU outputs (and, with ``layout="yuv420p"``, for the 8-bit one):
    ``uint8`` for yuv420p, else ``uint16`` samples (P010's codes shifted into the top bits).
    """
    rgb = np.asarray(rgb, dtype=np.float64)[..., :3]
    h, w = rgb.shape[:2]
    _check_size(w, h)
    scale = 1.0 if layout == "yuv420p" else 4.0
    top = 255 if layout == "yuv420p" else 1023

    def luma(x):
        return KR * x[..., 0] + KG * x[..., 1] + KB * x[..., 2]

    def code(v):
        return np.floor(scale * v + 0.5).clip(0, top).astype(np.uint16)

    y = code(16.0 + 219.0 * luma(rgb))
    block = rgb.reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))
    lb = luma(block)
    cb = code(128.0 + 112.0 * (block[..., 2] - lb) / (1.0 - KB))
    cr = code(128.0 + 112.0 * (block[..., 0] - lb) / (1.0 - KR))
    if layout == "yuv420p":
        return np.concatenate([p.ravel() for p in (y, cb, cr)]).astype(np.uint8)
    if layout == "p010le":
        return np.concatenate([y.ravel(), np.stack([cb, cr], axis=-1).ravel()]) << 6
    if layout == "yuv420p10le":
        return np.concatenate([p.ravel() for p in (y, cb, cr)])
    raise ValueError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")


def split_i420(data: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of the Y ``[h, w]``, U and V ``[h/2, w/2]`` planes of a flat I420 frame."""
    n_y = width * height
    n_c = n_y // 4
    data = np.asarray(data)[: n_y + 2 * n_c]
    return (
        data[:n_y].reshape(height, width),
        data[n_y : n_y + n_c].reshape(height // 2, width // 2),
        data[n_y + n_c :].reshape(height // 2, width // 2),
    )


#: Tone curves by name; the index is TONEMAP in ``shaders/tonemap.wgsl``.
TONEMAPS = ("none", "reinhard", "aces")


class _Shared:
    """The conversion's shader module, layouts and pipelines on one device, made once per process:
    a pipeline that composites layers takes a software rasterizer a few tenths of a second to compile,
    and a process (a batch, the tests) makes many converters of the same kinds."""

    def __init__(self, device):
        import wgpu

        from .compositor import stack_bind_layout

        self.device = device
        self.module = device.create_shader_module(label="rgba_to_yuv", code=load_wgsl("rgba_to_yuv.wgsl"))
        self.layout = device.create_bind_group_layout(
            label="gpurender conversion",
            entries=[
                {"binding": 0, "visibility": wgpu.ShaderStage.COMPUTE, "buffer": {"type": "storage"}},
                {"binding": 1, "visibility": wgpu.ShaderStage.COMPUTE, "buffer": {"type": "read-only-storage"}},
            ],
        )
        self.pipeline_layout = device.create_pipeline_layout(bind_group_layouts=[self.layout, stack_bind_layout(device)])
        self._pipelines: dict = {}

    def pipeline(self, entry: str, constants: dict):
        key = (entry, tuple(sorted(constants.items())))
        pipeline = self._pipelines.get(key)
        if pipeline is None:
            pipeline = self._pipelines[key] = self.device.create_compute_pipeline(
                label=f"gpurender {entry}", layout=self.pipeline_layout,
                compute={"module": self.module, "entry_point": entry, "constants": constants},
            )
        return pipeline


_shared = per_device(_Shared)


class YuvConverter:
    """GPU conversion of a frame to Y'CbCr 4:2:0 or straight RGBA8, for frames of one size and layout.

    ``self.buffer`` (usage STORAGE | COPY_SRC, size rounded up to a multiple of 4) receives the
    frame's bytes; ``self.nbytes`` of them are meaningful. Pipelines, uniforms and bind groups are
    created once; each frame only calls :meth:`encode`. ``layout`` is one of :data:`LAYOUTS` or
    ``"rgba"`` (``width * height`` words of R, G, B, A bytes, straight alpha).

    The source is a texture holding a finished picture with straight alpha (the default), or, with
    ``premultiplied``, the frame loop's composite: premultiplied, HDR, ``supersample`` times the
    output size in each direction, with a run of layers composited on the fly
    (:class:`gpurender.render.compositor.Run`), exposed and mapped by ``tonemap``
    (:data:`TONEMAPS`; ``linear`` forces the linear-light path for an exposure other than 0).

    ``kernel`` picks the YUV entry point: "tiles" (one invocation per 8x2 pixel tile, needs a
    width that is a multiple of 8) or "bytes" (one invocation per output word, any even size).
    The default takes "tiles" when it can; both give identical bytes.
    """

    def __init__(self, device, width: int, height: int, kernel: str | None = None, layout: str = "yuv420p", *,
                 premultiplied: bool = False, supersample: int = 1, tonemap: str = "none", linear: bool = False,
                 levels: float | None = None):
        import wgpu

        if layout != "rgba":
            _check_size(width, height)  # 4:2:0 needs even sizes; RGBA takes any
        elif width <= 0 or height <= 0:
            raise RenderError(f"frame size must be positive, got {width}x{height}")
        if layout not in LAYOUTS and layout != "rgba":
            raise ValueError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}, rgba")
        if tonemap not in TONEMAPS:
            raise ValueError(f"tonemap {tonemap!r} is not one of {', '.join(TONEMAPS)}")
        if supersample != 1 and not premultiplied:
            raise ValueError("supersampling filters the frame loop's (premultiplied) composite only")
        self.device = device
        self.width = int(width)
        self.height = int(height)
        self.layout = layout
        self.supersample = int(supersample)
        if layout == "rgba":
            self.nbytes = 4 * self.width * self.height
            kernel = "rgba"
        else:
            self.nbytes = yuv_size(self.width, self.height, layout)
            tiles_ok = self.width % 8 == 0
            if kernel is None:
                kernel = "tiles" if tiles_ok else "bytes"
            if kernel not in ("tiles", "bytes") or (kernel == "tiles" and not tiles_ok):
                raise ValueError(f"kernel {kernel!r} cannot convert {self.width}x{self.height} frames")
        self.n_words = (self.nbytes + 3) // 4
        self.kernel = kernel
        invocations = self.width * self.height // 16 if kernel == "tiles" else self.n_words
        groups = (invocations + _WORKGROUP - 1) // _WORKGROUP
        gx = min(groups, _MAX_GROUPS)
        self._dispatch = (gx, (groups + gx - 1) // gx, 1)
        depth = 2 if layout in LAYOUTS and LAYOUTS[layout] == 2 else 1
        self.levels = float(levels if levels is not None else (1023.0 if depth == 2 else 255.0))
        self._constants = {"PREMULTIPLIED": bool(premultiplied), "SUPERSAMPLE": self.supersample,
                           "TONEMAP": TONEMAPS.index(tonemap), "LINEAR": bool(linear or tonemap != "none")}

        self.buffer = device.create_buffer(
            label=f"gpurender {layout}",
            size=4 * self.n_words,
            usage=wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC,
        )
        self._params = params_buffer(device, YUV.size, f"gpurender {layout} params")
        self._gain = None
        self._write_params(1.0)
        shared = _shared(device)
        self._group = device.create_bind_group(layout=shared.layout, entries=[
            {"binding": 0, "resource": {"buffer": self.buffer, "offset": 0, "size": self.buffer.size}},
            {"binding": 1, "resource": {"buffer": self._params, "offset": 0, "size": self._params.size}},
        ])
        self._shared = shared
        self._entry = _ENTRY_POINTS[kernel, LAYOUTS.get(layout, 1)]
        # Source object -> (source, bind group) for sources given without a compositor's stack.
        self._plain_groups: dict[int, tuple[object, object]] = {}
        self._dummy = None

    def _write_params(self, gain: float) -> None:
        if gain == self._gain:
            return
        params = YUV.pack(width=self.width, height=self.height, n_words=self.n_words, n_bytes=self.nbytes,
                          p010=int(self.layout == "p010le"), gain=float(gain))
        self.device.queue.write_buffer(self._params, 0, params)
        self._gain = gain

    def _pipeline(self, run):
        constants = dict(self._constants)
        constants.update(run.constants(self.levels))
        return self._shared.pipeline(self._entry, constants)

    def _plain_group_for(self, source):
        """A stack bind group over a texture given on its own (no layers, an empty stack)."""
        entry = self._plain_groups.get(id(source))
        if entry is not None and entry[0] is source:
            return entry[1]
        import wgpu

        from .compositor import stack_bind_layout
        from .structs import STACK

        # A texture (rather than a view) gets one view made for it, once.
        view = source.create_view() if hasattr(source, "create_view") else source
        self._check_source(view)
        if self._dummy is None:
            layers = self.device.create_texture(size=(1, 1, 1), format="rgba16float",
                                                usage=wgpu.TextureUsage.TEXTURE_BINDING)
            self._dummy = (layers.create_view(dimension="2d-array"), params_buffer(self.device, STACK.size))
        group = self.device.create_bind_group(layout=stack_bind_layout(self.device), entries=[
            {"binding": 0, "resource": view},
            {"binding": 1, "resource": self._dummy[0]},
            {"binding": 2, "resource": {"buffer": self._dummy[1]}},
        ])
        if len(self._plain_groups) >= _VIEW_CACHE:
            self._plain_groups.pop(next(iter(self._plain_groups)))
        self._plain_groups[id(source)] = (source, group)
        return group

    def _check_source(self, view) -> None:
        size = getattr(view, "size", None)
        if size is None:
            size = getattr(getattr(view, "texture", None), "size", None)
        k = self.supersample
        if size is not None and (size[0], size[1]) != (self.width * k, self.height * k):
            raise RenderError(
                f"colour conversion was set up for {self.width * k}x{self.height * k} but got a "
                f"{size[0]}x{size[1]} texture; create a YuvConverter for the frame's size"
            )

    def encode(self, command_encoder, source=None, *, run=None, stack_group=None, gain: float = 1.0) -> None:
        """Record the conversion into ``self.buffer``.

        Either ``source``, a texture view (or a texture) of the picture on its own, or the frame
        loop's ``stack_group`` (:meth:`gpurender.render.compositor.Compositor.stack_group` of the
        composite) with the ``run`` of layers composited on the fly. ``gain`` is 2^exposure. The
        parameters are written to the queue now: submit before the next :meth:`encode`.
        """
        from .compositor import Run

        run = run if run is not None else Run()
        if stack_group is None:
            if run.modes or run.from_background:
                raise ValueError("a run of layers needs the compositor's stack_group")
            stack_group = self._plain_group_for(source)
        self._write_params(gain)
        cpass = command_encoder.begin_compute_pass(label=f"gpurender -> {self.layout}")
        cpass.set_pipeline(self._pipeline(run))
        cpass.set_bind_group(0, self._group)
        cpass.set_bind_group(1, stack_group)
        cpass.dispatch_workgroups(*self._dispatch)
        cpass.end()

    def record_copy(self, command_encoder, destination) -> None:
        """Copy the frame's bytes into ``destination`` (e.g. a readback-ring slot)."""
        command_encoder.copy_buffer_to_buffer(self.buffer, 0, destination, 0, self.buffer.size)
