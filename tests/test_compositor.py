"""The WGSL compositor against the W3C Compositing and Blending formulas, written out here in NumPy.

Random 8-bit straight-alpha images (with many exact 0 and 255 values, so that the special cases
of color-dodge and color-burn and fully transparent or opaque pixels all occur) are uploaded as
premultiplied half-float layer slices, composited on the software adapter the way a scene's top
layers are (by the colour conversion, to straight RGBA8), read back and compared with a float64
evaluation of the specification on the original 8-bit values. Drawing layers straight into the
composite instead is checked against this path in tests/test_direct.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gpurender.errors import SceneError
from gpurender.render.compositor import BLEND_MODES, Compositor, Run, check_blend_mode
from gpurender.render.convert import YuvConverter

W, H = 37, 23
TOL = 1.0 / 255.0
OUTPUT_DIR = Path(__file__).parent / "output"


# ---- the specification in float64, straight colours [..., 3] in 0..1 ----

def _lum(c):
    return 0.3 * c[..., 0] + 0.59 * c[..., 1] + 0.11 * c[..., 2]


def _clip_color(c):
    c = c.copy()
    l = _lum(c)[..., None]
    n = c.min(axis=-1, keepdims=True)
    x = c.max(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        low = l + (c - l) * l / (l - n)
        c = np.where(n < 0, low, c)
        high = l + (c - l) * (1 - l) / (x - l)
        c = np.where(x > 1, high, c)
    return c


def _set_lum(c, l):
    return _clip_color(c + (l - _lum(c))[..., None])


def _sat(c):
    return c.max(axis=-1) - c.min(axis=-1)


def _set_sat(c, s):
    # The specification's Cmax / Cmid / Cmin bookkeeping, done by sorting each pixel's channels.
    order = np.argsort(c, axis=-1, kind="stable")
    srt = np.take_along_axis(c, order, axis=-1)
    cmin, cmid, cmax = srt[..., 0], srt[..., 1], srt[..., 2]
    out = np.zeros_like(srt)
    spread = cmax > cmin
    with np.errstate(divide="ignore", invalid="ignore"):
        out[..., 1] = np.where(spread, (cmid - cmin) * s / (cmax - cmin), 0.0)
    out[..., 2] = np.where(spread, s, 0.0)
    result = np.empty_like(c)
    np.put_along_axis(result, order, out, axis=-1)
    return result


def _hard_light(cb, cs):
    return np.where(cs <= 0.5, cb * 2 * cs, cb + (2 * cs - 1) - cb * (2 * cs - 1))


def _blend(mode, cb, cs):
    """B(Cb, Cs) of the specification for one mode."""
    if mode == "normal":
        return cs
    if mode == "multiply":
        return cb * cs
    if mode == "screen":
        return cb + cs - cb * cs
    if mode == "overlay":
        return _hard_light(cs, cb)
    if mode == "darken":
        return np.minimum(cb, cs)
    if mode == "lighten":
        return np.maximum(cb, cs)
    if mode == "color-dodge":
        with np.errstate(divide="ignore", invalid="ignore"):
            inner = np.minimum(1.0, cb / (1.0 - cs))
        return np.where(cb == 0, 0.0, np.where(cs == 1, 1.0, inner))
    if mode == "color-burn":
        with np.errstate(divide="ignore", invalid="ignore"):
            inner = 1.0 - np.minimum(1.0, (1.0 - cb) / cs)
        return np.where(cb == 1, 1.0, np.where(cs == 0, 0.0, inner))
    if mode == "hard-light":
        return _hard_light(cb, cs)
    if mode == "soft-light":
        d = np.where(cb <= 0.25, ((16 * cb - 12) * cb + 4) * cb, np.sqrt(cb))
        return np.where(cs <= 0.5, cb - (1 - 2 * cs) * cb * (1 - cb), cb + (2 * cs - 1) * (d - cb))
    if mode == "difference":
        return np.abs(cb - cs)
    if mode == "exclusion":
        return cb + cs - 2 * cb * cs
    if mode == "hue":
        return _set_lum(_set_sat(cs, _sat(cb)), _lum(cb))
    if mode == "saturation":
        return _set_lum(_set_sat(cb, _sat(cs)), _lum(cb))
    if mode == "color":
        return _set_lum(cs, _lum(cb))
    if mode == "luminosity":
        return _set_lum(cb, _lum(cs))
    raise KeyError(mode)


def _exact(c):
    # Float64 rounding must not decide the equality branches of color-dodge / color-burn.
    c = np.where(np.abs(c - 1.0) < 1e-12, 1.0, c)
    return np.where(np.abs(c) < 1e-12, 0.0, c)


def reference_composite(background, layers):
    """Straight RGBA float64 ``[h, w, 4]`` of ``layers`` ((uint8 image, mode, opacity), bottom
    first) over the straight ``background`` colour.

    The composite is HDR (shaders/blend.wgsl): ``add`` does not clip between layers, and normal,
    screen and multiply take their premultiplied closed forms, which extend the specification past
    1 (in 0..1 every formula is the specification's: see test_reference_known_values); the other
    modes blend the backdrop clipped to 0..1. The result is clipped at the end, as tonemap = "none".
    """
    bg = np.asarray(background, np.float64)
    ab = np.full((H, W, 1), bg[3])
    cb_pre = np.broadcast_to(bg[:3] * bg[3], (H, W, 3)).copy()  # premultiplied backdrop
    for image, mode, opacity in layers:
        img = image.astype(np.float64) / 255.0
        cs, a_s = img[..., :3], img[..., 3:] * opacity
        s = a_s * cs
        if mode == "add":
            cb_pre = s + cb_pre
            ab = np.minimum(1.0, a_s + ab)
            continue
        if mode == "normal":
            cb_pre = s + cb_pre * (1 - a_s)
        elif mode == "screen":
            cb_pre = s + cb_pre - s * cb_pre
        elif mode == "multiply":
            cb_pre = s * (1 - ab) + s * cb_pre + cb_pre * (1 - a_s)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                cb = _exact(np.clip(np.where(ab > 0, cb_pre / ab, 0.0), 0.0, 1.0))
            mixed = (1 - ab) * cs + ab * _blend(mode, cb, cs)
            cb_pre = a_s * mixed + cb_pre * (1 - a_s)
        ab = a_s + ab * (1 - a_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        straight = np.clip(np.where(ab > 0, cb_pre / ab, 0.0), 0.0, 1.0)
    return np.concatenate([straight, ab], axis=-1)


def w3c_composite(background, layers):
    """The same stack by the specification's own steps (add clips at 1), for 0..1 checks."""
    bg = np.asarray(background, np.float64)
    ab = np.full((H, W, 1), bg[3])
    cb_pre = np.broadcast_to(bg[:3] * bg[3], (H, W, 3)).copy()
    for image, mode, opacity in layers:
        img = image.astype(np.float64) / 255.0
        cs, a_s = img[..., :3], img[..., 3:] * opacity
        if mode == "add":
            cb_pre = np.minimum(1.0, a_s * cs + cb_pre)
            ab = np.minimum(1.0, a_s + ab)
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            cb = _exact(np.where(ab > 0, cb_pre / ab, 0.0))
        mixed = (1 - ab) * cs + ab * _blend(mode, cb, cs)
        cb_pre = a_s * mixed + cb_pre * (1 - a_s)
        ab = a_s + ab * (1 - a_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        straight = np.where(ab > 0, cb_pre / ab, 0.0)
    return np.concatenate([straight, ab], axis=-1)


# ---- GPU side ----

@pytest.fixture(scope="module")
def compositor(device):
    # One slot per mode, so a stack of every mode fits.
    return Compositor(device, W, H, len(BLEND_MODES))


@pytest.fixture(scope="module")
def converter(device):
    return YuvConverter(device, W, H, layout="rgba", premultiplied=True)


def random_image(rng, w=W, h=H):
    """8-bit straight RGBA that visits the formulas' sensitive spots: many exact 0 and 255 values
    (the special cases of color-dodge and color-burn, transparent and opaque pixels), values one
    step from them (where dodge and burn divide by small differences) and near-grey colours (where
    hue and saturation divide by a small channel spread)."""
    img = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    grey = rng.random((h, w)) < 0.15
    near = np.clip(img[..., :1].astype(int) + rng.integers(-3, 4, (h, w, 3)), 0, 255)
    img[..., :3][grey] = near[grey]
    pick = rng.random((h, w, 4))
    img[pick < 0.15] = 0
    img[pick > 0.85] = 255
    edge = (pick >= 0.15) & (pick < 0.2)
    img[edge] = np.where(rng.random(int(edge.sum())) < 0.5, 1, 254)
    return img


def write_slot(device, comp, slot, data16):
    h, w = data16.shape[:2]
    device.queue.write_texture({"texture": comp.layer_texture, "origin": (0, 0, slot)}, data16.tobytes(),
                               {"bytes_per_row": 8 * w, "rows_per_image": h}, (w, h, 1))


def upload_layer(device, comp, slot, image):
    """Layer slot ``slot`` of ``comp`` filled with the straight uint8 ``image``, premultiplied."""
    f = image.astype(np.float64) / 255.0
    pre = np.concatenate([f[..., :3] * f[..., 3:], f[..., 3:]], axis=-1).astype(np.float16)
    write_slot(device, comp, slot, pre)


def read_rgba(device, conv):
    return np.frombuffer(device.queue.read_buffer(conv.buffer), np.uint8)[: conv.nbytes].reshape(H, W, 4).copy()


def convert_stack(device, comp, conv, background, modes, opacities, middle=False):
    """The stack of slots 0.. with ``modes`` over ``background``, converted to straight RGBA8: the
    top run of a scene, composited by the conversion itself (or, ``middle``, first written into a
    composite target by the compositor pass, as a run in the middle of a scene is)."""
    comp.write_stack(background, {i: (m, o) for i, (m, o) in enumerate(zip(modes, opacities))})
    run = Run(0, tuple(modes), from_background=True)
    enc = device.create_command_encoder()
    if middle:
        comp.composite(enc, run, None, comp.target_views[1])
        conv.encode(enc, stack_group=comp.stack_group(comp.target_views[1]), run=Run())
    else:
        conv.encode(enc, stack_group=comp.stack_group(None), run=run)
    device.queue.submit([enc.finish()])
    return read_rgba(device, conv)


def composite(device, comp, conv, background, layers, middle=False):
    """Upload ``layers`` ((uint8 image, mode, opacity)), composite, return the uint8 output."""
    for i, (img, _, _) in enumerate(layers):
        upload_layer(device, comp, i, img)
    return convert_stack(device, comp, conv, background, [check_blend_mode(m) for _, m, _ in layers],
                         [op for _, _, op in layers], middle)


def assert_matches_spec(name, got, want):
    """Colour within 1/255 where the output is visible; alpha within 1/255 everywhere."""
    g = got.astype(np.float64) / 255.0
    err_a = np.abs(g[..., 3] - want[..., 3])
    # Where the 8-bit alpha rounds to 0 the stored colour is meaningless.
    visible = got[..., 3] > 0
    err_c = np.where(visible[..., None], np.abs(g[..., :3] - want[..., :3]), 0.0)
    worst = max(err_a.max(), err_c.max())
    # Within 1/255 alone would let truncation, a bias or lost input precision pass: nearly every
    # value must be the correctly rounded one (either neighbour of an exact half; 1e-3 of a step
    # allows for float32 arithmetic on the GPU).
    rounded = np.abs(got - want * 255.0) <= 0.5 + 1e-3
    exact = np.concatenate([rounded[..., :3][visible].ravel(), rounded[..., 3].ravel()])
    if worst > TOL + 1e-9 or exact.mean() < 0.999:
        OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
        from PIL import Image

        diff = np.concatenate([err_c, err_a[..., None]], axis=-1).max(axis=-1)
        Image.fromarray(np.clip(diff * 255 * 32, 0, 255).astype(np.uint8)).resize((W * 8, H * 8), 0).save(
            OUTPUT_DIR / f"compositor-{name}-diff.png"
        )
        y, x = np.unravel_index(np.argmax(np.maximum(err_c.max(-1), err_a)), err_a.shape)
        raise AssertionError(
            f"{name}: max error {worst * 255:.2f}/255 at ({x}, {y}), {exact.mean():.2%} correctly rounded: got {got[y, x]}, "
            f"want {np.round(want[y, x] * 255, 2)}; diff image in {OUTPUT_DIR}"
        )


BACKGROUNDS = {
    "opaque": (0.2, 0.6, 1.0, 1.0),
    "grey": (0.5, 0.5, 0.5, 1.0),  # mixed with near-grey layers it gives near-grey backdrops
    "translucent": (1.0, 0.0, 0.35, 0.4),
    "transparent": (0.0, 0.0, 0.0, 0.0),
}


@pytest.mark.parametrize("mode", BLEND_MODES)
def test_one_layer_matches_spec(device, compositor, converter, mode):
    rng = np.random.default_rng(BLEND_MODES.index(mode))
    for bg_name, bg in BACKGROUNDS.items():
        for opacity in (1.0, 0.6):
            image = random_image(rng)
            got = composite(device, compositor, converter, bg, [(image, mode, opacity)])
            assert_matches_spec(f"{mode}-{bg_name}-{opacity}", got, reference_composite(bg, [(image, mode, opacity)]))


@pytest.mark.parametrize("mode", BLEND_MODES)
def test_two_layers_match_spec(device, compositor, converter, mode):
    # The lower layer is random, drawn normally or in another mode, so the top layer blends onto
    # a backdrop that has its own alpha and non-8-bit colours.
    rng = np.random.default_rng(100 + BLEND_MODES.index(mode))
    for bg_name, bg in BACKGROUNDS.items():
        lower_mode = BLEND_MODES[int(rng.integers(len(BLEND_MODES)))] if bg_name == "opaque" else "normal"
        layers = [(random_image(rng), lower_mode, 0.8), (random_image(rng), mode, 0.7)]
        got = composite(device, compositor, converter, bg, layers)
        assert_matches_spec(f"{lower_mode}+{mode}-{bg_name}", got, reference_composite(bg, layers))


def test_reference_known_values():
    # Hand-checked points of the formulas, so the reference itself can fail.
    cb = np.array([[0.0, 1.0, 0.5]])
    cs = np.array([[1.0, 0.0, 0.5]])
    assert np.allclose(_blend("color-dodge", cb, cs), [[0.0, 1.0, 1.0]])
    assert np.allclose(_blend("color-burn", cb, cs), [[0.0, 1.0, 0.0]])
    assert np.allclose(_blend("screen", cb, cs), [[1.0, 1.0, 0.75]])
    assert np.allclose(_blend("soft-light", np.array([[0.25]]), np.array([[1.0]])), [[0.5]])
    red, grey = np.array([[1.0, 0.0, 0.0]]), np.array([[0.5, 0.5, 0.5]])
    assert np.allclose(_lum(_blend("luminosity", red, grey)), 0.5)
    assert np.allclose(_blend("hue", grey, red), grey)  # a grey backdrop has no saturation to give
    assert np.allclose(_sat(_blend("saturation", red, grey)), 0.0)
    # Source-over of opaque white at half opacity on opaque black.
    out = reference_composite((0, 0, 0, 1), [(np.full((H, W, 4), 255, np.uint8), "normal", 0.5)])
    assert np.allclose(out[0, 0], [0.5, 0.5, 0.5, 1.0])
    # The closed forms are the specification's formulas in 0..1, whatever the alphas.
    rng = np.random.default_rng(7)
    for mode in ("normal", "screen", "multiply"):
        for bg in ((0.2, 0.6, 1.0, 1.0), (1.0, 0.0, 0.35, 0.4), (0, 0, 0, 0)):
            layers = [(random_image(rng), "normal", 0.8), (random_image(rng), mode, 0.7)]
            assert np.allclose(reference_composite(bg, layers), w3c_composite(bg, layers), atol=1e-9)
    # Add past 1 keeps its light for what follows (HDR); without an add the two agree.
    white = np.full((H, W, 4), 255, np.uint8)
    half = np.full((H, W, 4), 128, np.uint8)
    hdr = reference_composite((0.5, 0.5, 0.5, 1), [(white, "add", 1.0), (half, "multiply", 1.0)])
    assert np.allclose(hdr[0, 0, :3], 1.0)  # 1.5 * (128/255) + 0 = 0.75 + ... clipped light
    assert w3c_composite((0.5, 0.5, 0.5, 1), [(white, "add", 1.0), (half, "multiply", 1.0)])[0, 0, 0] < 0.76


def test_no_layers_gives_background(device, compositor, converter):
    got = composite(device, compositor, converter, (1.0, 0.5, 0.0, 1.0), [])
    assert (got == [255, 128, 0, 255]).all()


def test_zero_opacity_layers_leave_the_background(device, compositor, converter):
    image = random_image(np.random.default_rng(9))
    got = composite(device, compositor, converter, (0.2, 0.4, 0.6, 0.8), [(image, mode, 0.0) for mode in BLEND_MODES])
    assert (got == np.floor(np.array([0.2, 0.4, 0.6, 0.8]) * 255 + 0.5)).all()


def test_layer_brighter_than_its_alpha_keeps_its_light(device, compositor, converter):
    # Additive drawing can leave premultiplied colour above alpha; "add" onto black must show it.
    texel = np.array([0.6, 0.3, 1.5, 0.2], np.float16)  # blue beyond 1: clipped at the end
    write_slot(device, compositor, 0, np.broadcast_to(texel, (H, W, 4)).copy())
    got = convert_stack(device, compositor, converter, (0, 0, 0, 1), [check_blend_mode("add")], [1.0])
    assert (np.abs(got.astype(int) - [153, 77, 255, 255]) <= 1).all()


def test_transparent_background_keeps_alpha(device, compositor, converter):
    image = np.zeros((H, W, 4), np.uint8)
    image[..., :3] = (255, 128, 0)
    image[:, : W // 2, 3] = 0
    image[:, W // 2 :, 3] = 64
    got = composite(device, compositor, converter, (0.3, 0.3, 0.3, 0.0), [(image, "normal", 1.0)])
    assert (got[:, : W // 2] == 0).all()
    assert (got[:, W // 2 :] == [255, 128, 0, 64]).all()


def test_unknown_mode_raises_scene_error():
    with pytest.raises(SceneError, match="valid: .*color-dodge"):
        check_blend_mode("vivid-light", "layer 2")


@pytest.mark.parametrize("mode", ["normal", "screen", "multiply", "overlay", "color-burn", "hue", "add"])
def test_a_run_in_the_middle_of_a_scene_gives_the_same_picture(device, compositor, converter, mode):
    # Written into a (half-float) composite target by the compositor pass and converted from there,
    # the picture is the one the conversion composites on the fly, within 1/255.
    rng = np.random.default_rng(200 + BLEND_MODES.index(mode))
    layers = [(random_image(rng), "normal", 0.8), (random_image(rng), mode, 0.7)]
    for bg in BACKGROUNDS.values():
        fused = composite(device, compositor, converter, bg, layers)
        written = composite(device, compositor, converter, bg, layers, middle=True)
        visible = (fused[..., 3] > 0) & (written[..., 3] > 0)
        diff = np.abs(fused.astype(int) - written.astype(int))
        assert diff[..., 3].max() <= 1 and diff[..., :3][visible].max(initial=0) <= 1, (mode, bg)


def test_more_layers_than_specialised_slots_match_spec(device, compositor, converter):
    # The first eight layers' modes are pipeline constants; later ones come from the stack buffer.
    rng = np.random.default_rng(11)
    modes = ["normal", "screen", "multiply", "overlay", "hue", "add", "darken", "color-burn",
             "color-dodge", "difference", "luminosity", "soft-light"]
    layers = [(random_image(rng), mode, float(rng.uniform(0.2, 0.7))) for mode in modes]
    background = (0.3, 0.5, 0.7, 1.0)
    got = composite(device, compositor, converter, background, layers)
    assert_matches_spec("twelve-layers", got, reference_composite(background, layers))


def test_consecutive_frames_use_their_own_stack(device, compositor, converter):
    rng = np.random.default_rng(5)
    a, b = random_image(rng), random_image(rng)
    first = composite(device, compositor, converter, (0, 0, 0, 1), [(a, "multiply", 0.25)])
    second = composite(device, compositor, converter, (1, 1, 1, 1), [(b, "screen", 0.9)])
    assert_matches_spec("first-of-two", first, reference_composite((0, 0, 0, 1), [(a, "multiply", 0.25)]))
    assert_matches_spec("second-of-two", second, reference_composite((1, 1, 1, 1), [(b, "screen", 0.9)]))
