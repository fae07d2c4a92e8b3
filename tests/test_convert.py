"""RGBA -> I420 conversion (GPU compute pass and NumPy) against a float64 reference."""

from __future__ import annotations

import numpy as np
import pytest

from gpurender.errors import RenderError
from gpurender.render.convert import YuvConverter, i420_size, rgb_to_yuv420_cpu, rgba_to_i420_cpu, split_i420, yuv_size


def reference_i420(rgba: np.ndarray) -> np.ndarray:
    """BT.709 limited range in float64, written out independently of the module under test."""
    kr, kb = 0.2126, 0.0722
    kg = 1.0 - kr - kb
    rgb = rgba[..., :3].astype(np.float64) / 255.0
    h, w = rgb.shape[:2]

    def luma(x):
        return kr * x[..., 0] + kg * x[..., 1] + kb * x[..., 2]

    y = 16.0 + 219.0 * luma(rgb)
    block = rgb.reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))
    lb = luma(block)
    cb = 128.0 + 224.0 * (block[..., 2] - lb) / (2.0 * (1.0 - kb))
    cr = 128.0 + 224.0 * (block[..., 0] - lb) / (2.0 * (1.0 - kr))
    planes = [np.floor(p + 0.5).clip(0, 255).astype(np.uint8).ravel() for p in (y, cb, cr)]
    return np.concatenate(planes)


def _solid(h, w, rgb):
    img = np.empty((h, w, 4), np.uint8)
    img[..., :3] = rgb
    img[..., 3] = 255
    return img


def _images():
    rng = np.random.default_rng(1234)
    out = {}
    for w, h in [(2, 2), (6, 4), (10, 6), (64, 36), (34, 2), (8, 2), (24, 6)]:
        out[f"random-{w}x{h}"] = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    out["black"] = _solid(4, 6, (0, 0, 0))
    out["white"] = _solid(4, 6, (255, 255, 255))
    for name, rgb in {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}.items():
        out[name] = _solid(6, 10, rgb)
    gx = np.linspace(0, 255, 64).round().astype(np.uint8)
    grad = np.zeros((36, 64, 4), np.uint8)
    grad[..., 0] = gx[None, :]
    grad[..., 1] = np.linspace(0, 255, 36).round().astype(np.uint8)[:, None]
    grad[..., 2] = 255 - gx[None, :]
    grad[..., 3] = 0  # fully transparent: alpha must not matter
    out["gradient"] = grad
    # Every 8-bit grey level, each in its own 2x2 block.
    grey = np.repeat(np.repeat(np.arange(256, dtype=np.uint8).reshape(16, 16), 2, 0), 2, 1)
    out["greys"] = np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    return out


IMAGES = _images()


def gpu_i420(device, rgba: np.ndarray, converter: YuvConverter | None = None, kernel=None) -> np.ndarray:
    import wgpu

    h, w = rgba.shape[:2]
    tex = device.create_texture(
        size=(w, h, 1),
        format="rgba8unorm",
        usage=wgpu.TextureUsage.TEXTURE_BINDING | wgpu.TextureUsage.COPY_DST | wgpu.TextureUsage.COPY_SRC,
    )
    device.queue.write_texture(
        {"texture": tex}, np.ascontiguousarray(rgba), {"bytes_per_row": 4 * w, "rows_per_image": h}, (w, h, 1)
    )
    conv = converter or YuvConverter(device, w, h, kernel=kernel)
    enc = device.create_command_encoder()
    conv.encode(enc, tex.create_view())
    device.queue.submit([enc.finish()])
    data = np.frombuffer(device.queue.read_buffer(conv.buffer), np.uint8)
    return data[: conv.nbytes].copy()


def _assert_close(got: np.ndarray, want: np.ndarray, exact_fraction: float = 0.99) -> None:
    assert got.shape == want.shape and got.dtype == np.uint8
    diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
    assert diff.max() <= 1, f"max difference {diff.max()} at byte {int(diff.argmax())}"
    # Within-1 alone would accept truncation instead of rounding; a systematic bias shows here.
    assert (diff == 0).mean() >= exact_fraction, f"only {(diff == 0).mean():.3f} exact"


def test_reference_matches_published_bt709_codes():
    # Limited-range BT.709 codes of the primaries, as tabulated for 8-bit video.
    for rgb, ycbcr in {
        (255, 0, 0): (63, 102, 240),
        (0, 255, 0): (173, 42, 26),
        (0, 0, 255): (32, 240, 118),
        (0, 0, 0): (16, 128, 128),
        (255, 255, 255): (235, 128, 128),
    }.items():
        ref = reference_i420(_solid(2, 2, rgb))
        assert tuple(int(v) for v in ref[[0, 4, 5]]) == ycbcr


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_cpu_matches_reference(name):
    img = IMAGES[name]
    _assert_close(rgba_to_i420_cpu(img), reference_i420(img))


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_gpu_matches_reference(device, name):
    img = IMAGES[name]
    _assert_close(gpu_i420(device, img), reference_i420(img))


@pytest.mark.parametrize("name", sorted(n for n, img in IMAGES.items() if img.shape[1] % 8 == 0))
def test_both_gpu_kernels_give_the_same_bytes(device, name):
    img = IMAGES[name]
    tiles = gpu_i420(device, img, kernel="tiles")
    np.testing.assert_array_equal(tiles, gpu_i420(device, img, kernel="bytes"))
    _assert_close(tiles, reference_i420(img))


def test_kernel_choice(device):
    assert YuvConverter(device, 64, 36).kernel == "tiles"
    assert YuvConverter(device, 10, 6).kernel == "bytes"
    with pytest.raises(ValueError):
        YuvConverter(device, 10, 6, kernel="tiles")


def test_larger_random_frame_gpu_and_cpu(device):
    img = np.random.default_rng(7).integers(0, 256, (90, 160, 4), dtype=np.uint8)
    ref = reference_i420(img)
    _assert_close(gpu_i420(device, img, kernel="tiles"), ref)
    _assert_close(gpu_i420(device, img, kernel="bytes"), ref)
    _assert_close(rgba_to_i420_cpu(img), ref)


def test_solid_colours_are_exact(device):
    expected = {(0, 0, 0): (16, 128, 128), (255, 255, 255): (235, 128, 128), (255, 0, 0): (63, 102, 240)}
    for rgb, (y, u, v) in expected.items():
        for data in (gpu_i420(device, _solid(6, 10, rgb)), rgba_to_i420_cpu(_solid(6, 10, rgb))):
            yp, up, vp = split_i420(data, 10, 6)
            assert (yp == y).all() and (up == u).all() and (vp == v).all()


def test_plane_layout(device):
    # Width 10 makes the chroma rows 5 bytes long, so planes and rows straddle u32 words.
    w, h = 10, 6
    img = _solid(h, w, (0, 0, 0))
    img[:, w // 2 :, :3] = (255, 255, 255)  # right half white (luma only)
    img[:2, :, :3] = (0, 0, 255)  # top block row blue (Cb high)
    img[4:, :2, :3] = (255, 0, 0)  # bottom-left block red (Cr high)
    for data in (gpu_i420(device, img), rgba_to_i420_cpu(img)):
        assert data.size == i420_size(w, h) == w * h * 3 // 2
        yp, up, vp = split_i420(data, w, h)
        assert yp.shape == (h, w) and up.shape == vp.shape == (h // 2, w // 2)
        assert (yp[2:4, :5] == 16).all() and (yp[2:4, 5:] == 235).all()
        assert (yp[:2] == 32).all()
        assert (up[0] == 240).all() and (up[1] == 128).all()
        assert (vp[2, 0] == 240) and (vp[2, 1:] == 128).all() and (vp[0] == 118).all()


def test_converter_buffer_and_reuse(device):
    w, h = 6, 4
    conv = YuvConverter(device, w, h)
    assert conv.nbytes == 36 and conv.buffer.size % 4 == 0 and conv.buffer.size >= conv.nbytes
    rng = np.random.default_rng(3)
    for _ in range(3):  # same converter, new content each frame
        img = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
        _assert_close(gpu_i420(device, img, conv), reference_i420(img), exact_fraction=0.9)


def test_same_view_reused_sees_new_content(device):
    import wgpu

    w, h = 6, 4
    tex = device.create_texture(
        size=(w, h, 1), format="rgba8unorm", usage=wgpu.TextureUsage.TEXTURE_BINDING | wgpu.TextureUsage.COPY_DST
    )
    view = tex.create_view()
    conv = YuvConverter(device, w, h)
    for rgb, y in (((0, 0, 0), 16), ((255, 255, 255), 235)):
        layout = {"bytes_per_row": 4 * w, "rows_per_image": h}
        device.queue.write_texture({"texture": tex}, _solid(h, w, rgb), layout, (w, h, 1))
        enc = device.create_command_encoder()
        conv.encode(enc, view)
        device.queue.submit([enc.finish()])
        data = np.frombuffer(device.queue.read_buffer(conv.buffer), np.uint8)
        assert (data[: w * h] == y).all()


@pytest.mark.parametrize("size", [(5, 4), (6, 3), (0, 2)])
def test_odd_sizes_are_refused(size):
    w, h = size
    with pytest.raises(RenderError, match="even"):
        rgba_to_i420_cpu(np.zeros((h, w, 4), np.uint8))


def test_wrong_texture_size_is_refused(device):
    import wgpu

    conv = YuvConverter(device, 6, 4)
    tex = device.create_texture(size=(8, 4, 1), format="rgba8unorm", usage=wgpu.TextureUsage.TEXTURE_BINDING)
    with pytest.raises(RenderError, match="8x4"):
        conv.encode(device.create_command_encoder(), tex.create_view())


def test_plane_layout_tiles(device):
    # 16 wide: the tile kernel; a distinct colour per 2x2 block tells misplaced words apart.
    w, h = 16, 4
    rng = np.random.default_rng(11)
    blocks = rng.integers(0, 256, (h // 2, w // 2, 4), dtype=np.uint8)
    img = np.repeat(np.repeat(blocks, 2, 0), 2, 1)
    data = gpu_i420(device, img, kernel="tiles")
    yp, up, vp = split_i420(data, w, h)
    _, ur, vr = split_i420(reference_i420(img), w, h)
    assert np.abs(up.astype(int) - ur).max() <= 1 and np.abs(vp.astype(int) - vr).max() <= 1
    assert (yp[0::2] == yp[1::2]).all() and (yp[:, 0::2] == yp[:, 1::2]).all()


# -- 10-bit: yuv420p10le and P010 from a float texture ---------------------------------------------


def gpu_yuv16(device, rgb: np.ndarray, layout: str, kernel=None) -> np.ndarray:
    """Convert float R'G'B' through an rgba16float texture (the 10-bit composite's format)."""
    import wgpu

    h, w = rgb.shape[:2]
    rgba = np.ones((h, w, 4), np.float16)
    rgba[..., :3] = rgb
    tex = device.create_texture(size=(w, h, 1), format="rgba16float",
                                usage=wgpu.TextureUsage.TEXTURE_BINDING | wgpu.TextureUsage.COPY_DST)
    device.queue.write_texture({"texture": tex}, rgba, {"bytes_per_row": 8 * w, "rows_per_image": h}, (w, h, 1))
    conv = YuvConverter(device, w, h, kernel=kernel, layout=layout)
    assert conv.nbytes == yuv_size(w, h, layout) == w * h * 3
    enc = device.create_command_encoder()
    conv.encode(enc, tex.create_view())
    device.queue.submit([enc.finish()])
    return np.frombuffer(device.queue.read_buffer(conv.buffer), "<u2")[: conv.nbytes // 2].copy()


def _float_images():
    rng = np.random.default_rng(99)
    out = {f"random-{w}x{h}": rng.random((h, w, 3)) for w, h in [(2, 2), (6, 4), (10, 6), (16, 4), (64, 36), (24, 6)]}
    ramp = np.linspace(0.45, 0.55, 64)  # a gentle gradient that 8 bits band: 22 codes for 64 columns
    out["ramp"] = np.broadcast_to(ramp[None, :, None], (8, 64, 3)).copy()
    return {name: img.astype(np.float16).astype(np.float64) for name, img in out.items()}  # what the texture holds


FLOAT_IMAGES = _float_images()


@pytest.mark.parametrize("layout", ["yuv420p10le", "p010le"])
@pytest.mark.parametrize("name", sorted(FLOAT_IMAGES))
def test_gpu_10bit_matches_reference(device, name, layout):
    img = FLOAT_IMAGES[name]
    want = rgb_to_yuv420_cpu(img, layout)
    kernels = ["bytes", "tiles"] if img.shape[1] % 8 == 0 else ["bytes"]
    for kernel in kernels:
        got = gpu_yuv16(device, img, layout, kernel=kernel)
        shift = 6 if layout == "p010le" else 0
        if shift:
            assert not (got & 0x3F).any(), "P010 keeps its codes in the top 10 bits"
        diff = np.abs((got >> shift).astype(int) - (want >> shift).astype(int))
        assert diff.max() <= 1 and (diff == 0).mean() >= 0.99, (kernel, diff.max(), (diff == 0).mean())


def test_10bit_codes_and_layouts():
    # BT.709 at 10 bits: black Y 64, white 940, red (Y 250.2, Cb 409.3, Cr 960) in a 4x2 frame
    w, h = 4, 2
    img = np.zeros((h, w, 3))
    img[:, 2:] = (1.0, 0.0, 0.0)
    planar = rgb_to_yuv420_cpu(img, "yuv420p10le")
    assert list(planar[:4]) == [64, 64, 250, 250]
    assert list(planar[8:10]) == [512, 409] and list(planar[10:12]) == [512, 960]  # Cb plane, then Cr
    p010 = rgb_to_yuv420_cpu(img, "p010le") >> 6
    assert list(p010[8:12]) == [512, 512, 409, 960]  # interleaved Cb Cr pairs
    assert list(rgb_to_yuv420_cpu(np.ones((h, w, 3)), "yuv420p10le")[:1]) == [940]
    assert list(rgb_to_yuv420_cpu(img, "yuv420p")[8:12]) == [128, 102, 128, 240]


def test_10bit_ramp_has_finer_steps_than_8bit(device):
    img = FLOAT_IMAGES["ramp"]
    y10 = gpu_yuv16(device, img, "yuv420p10le")[:64]
    y8 = rgb_to_yuv420_cpu(img, "yuv420p")[:64]
    assert len(np.unique(y10)) == 64 > len(np.unique(y8))  # 8 bits: neighbours share a code
    assert len(np.unique(y8)) <= 24
