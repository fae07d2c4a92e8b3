"""The effect layers (bloom, blur, trails, vignette, grain) on the software adapter, kernel by kernel.

Each effect is run on its own (tests/effectkit.py): a source texture made from an array, apply(),
the target read back, so the numbers are the kernels' own. Reference images (``tests/reference/``,
regenerate with ``GPURENDER_REGENERATE=1`` after looking at them), the blur's width, bloom's cost
at every radius, trails' bounded pre-roll (a chunk starting anywhere equals the single pass, bit
for bit), grain's determinism and every numeric parameter following a binding.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from gpurender.errors import SceneError
from gpurender.scene import Binding, scene_from_dict
from gpurender.scene.model import layer_types
from refimage import assert_matches_reference

wgpu = pytest.importorskip("wgpu")
import effectkit as ek  # noqa: E402

EFFECTS = ("bloom", "blur", "trails", "vignette", "grain")
FPS = 30


@pytest.fixture(scope="module")
def features():
    from gpurender.audio import analyze, demo_track

    return analyze(demo_track(duration=2.0), FPS)


def to_png(image: np.ndarray) -> np.ndarray:
    """Premultiplied floats to 8-bit straight RGBA (clipped), as a still would show them."""
    a = np.clip(image[..., 3:4], 0.0, 1.0)
    rgb = np.clip(image[..., :3] / np.maximum(a, 1e-6), 0.0, 1.0)
    return (np.concatenate([rgb, a], -1) * 255.0 + 0.5).astype(np.uint8)


def moments(image: np.ndarray):
    """Total, centre and standard deviation (x, y) of the red channel."""
    v = image[..., 0].astype(np.float64)
    ys, xs = np.mgrid[0:v.shape[0], 0:v.shape[1]]
    total = v.sum()
    cx, cy = (v * xs).sum() / total, (v * ys).sum() / total
    return total, cx, cy, math.sqrt((v * (xs - cx) ** 2).sum() / total), math.sqrt((v * (ys - cy) ** 2).sum() / total)


# ---- declarations ---------------------------------------------------------------------------


def test_effect_types_are_declared_in_order_with_help_defaults_and_limits():
    types = layer_types()
    assert list(types)[-len(EFFECTS):] == list(EFFECTS)
    for name in EFFECTS:
        spec = types[name]
        assert spec.help and spec.renderer.startswith(f"gpurender.render.effects.{name}:")
        for key, p in spec.params.items():
            assert p.help, f"{name}.{key}"
            if p.limits and p.default is not None:
                assert p.limits[0] <= p.default <= p.limits[1], f"{name}.{key}"
        scene_from_dict({"layers": [{"type": name}]})  # the defaults load


@pytest.mark.parametrize("name", EFFECTS)
def test_effect_renderers_are_effects(name):
    from gpurender.render.layers import renderer_class

    cls = renderer_class(name)
    assert cls.effect is True and callable(cls.apply)
    assert cls.stateful is (name == "trails")


def test_bad_effect_parameters_are_refused():
    with pytest.raises(SceneError, match="unknown parameter 'sigma'"):
        scene_from_dict({"layers": [{"type": "blur", "sigma": 3}]})
    with pytest.raises(SceneError, match="radius"):
        scene_from_dict({"layers": [{"type": "bloom", "radius": 2}]})
    with pytest.raises(SceneError, match="only numeric"):
        scene_from_dict({"layers": [{"type": "trails", "mode": {"feature": "bass"}}]})
    with pytest.raises(SceneError, match="screen"):
        scene_from_dict({"layers": [{"type": "trails", "mode": "screen"}]})


# ---- blur -----------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [1.0, 2.5, 6.0, 13.0, 24.0])
def test_blur_radius_is_the_standard_deviation(sigma):
    w, h = 320, 320  # wide enough for the widest level's tails
    r = ek.effect({"type": "blur", "radius": sigma / h}, w, h)
    out = ek.Bench(r, ek.point_image(w, h, [(160, 160)], value=1000.0, background=(0, 0, 0, 0))).apply()
    total, cx, cy, sx, sy = moments(out)
    assert total == pytest.approx(1000.0, rel=0.01)
    assert (cx, cy) == (pytest.approx(160.0, abs=0.02), pytest.approx(160.0, abs=0.02))
    assert sx == pytest.approx(sigma, rel=0.03) and sy == pytest.approx(sigma, rel=0.03)


def test_blur_radius_zero_is_the_picture_itself():
    rng = np.random.default_rng(1)
    img = rng.random((48, 64, 4)).astype(np.float32)
    img[..., :3] *= img[..., 3:4]
    r = ek.effect({"type": "blur", "radius": 0.0}, 64, 48)
    bench = ek.Bench(r, img)
    np.testing.assert_array_equal(bench.apply(), img.astype(np.float16).astype(np.float32))


def test_blur_keeps_an_opaque_picture_opaque_and_a_flat_one_flat():
    img = np.ones((48, 64, 4), np.float32) * np.float32([0.25, 0.5, 0.75, 1.0])
    out = ek.Bench(ek.effect({"type": "blur", "radius": 0.1}, 64, 48), img).apply()
    np.testing.assert_allclose(out, img, atol=2e-3)


# ---- bloom ----------------------------------------------------------------------------------


def bloom_source(w=96, h=64):
    img = np.zeros((h, w, 4), np.float32)
    img[:] = (0.04, 0.03, 0.08, 1.0)
    img[40:44, 10:86] = (0.5, 0.5, 0.5, 1.0)  # below the threshold: no glow
    img[12, 8:60] = (0.3, 1.6, 2.4, 1.0)  # a thin bright (HDR) line
    img[22:26, 70:74] = (8.0, 4.0, 1.0, 1.0)  # a small, very bright square
    return img


def test_bloom_reference_image():
    r = ek.effect({"type": "bloom", "threshold": 0.8, "intensity": 1.0, "radius": 0.15}, 96, 64)
    out = ek.Bench(r, bloom_source()).apply()
    assert_matches_reference("bloom_hdr", to_png(out))


def test_bloom_adds_light_only_around_what_is_above_the_threshold():
    src = bloom_source()
    r = ek.effect({"type": "bloom", "threshold": 0.8, "knee": 0.0, "intensity": 1.0, "radius": 0.1}, 96, 64)
    out = ek.Bench(r, src).apply()
    glow = out - src.astype(np.float16).astype(np.float32)
    assert glow[..., :3].min() >= -1e-3  # only adds
    assert glow[24, 60, 0] > 0.02  # beside the bright square
    assert abs(glow[58, 48, :3]).max() < 0.02  # far below everything bright
    dark = ek.Bench(ek.effect({"type": "bloom", "threshold": 3.0, "knee": 0.0}, 96, 64),
                    np.minimum(src, 1.0)).apply()  # nothing above the threshold
    np.testing.assert_allclose(dark, np.minimum(src, 1.0), atol=1e-3)


def test_bloom_glow_grows_with_the_radius():
    w, h = 192, 144
    spreads = []
    for radius in (0.02, 0.05, 0.15):
        r = ek.effect({"type": "bloom", "threshold": 0.5, "knee": 0.0, "intensity": 1.0, "radius": radius}, w, h)
        src = ek.point_image(w, h, [(96, 72)], value=500.0, background=(0, 0, 0, 1))
        out = ek.Bench(r, src).apply() - src.astype(np.float16).astype(np.float32)
        total, _, _, sx, _ = moments(out)
        assert total == pytest.approx(499.5, rel=0.02)  # intensity 1: the glow holds the light above threshold
        spreads.append(sx)
    assert spreads[0] < spreads[1] < spreads[2]


def test_bloom_cost_does_not_depend_on_the_radius(monkeypatch):
    """The same passes over the same pixels at every radius, and about the same time."""
    from gpurender.render.effects import pyramid

    drawn = []
    original = pyramid.draw_fullscreen

    def counting(encoder, views, pipeline, group, label=""):
        drawn.append((label, tuple(v.texture.size for v in views)))
        original(encoder, views, pipeline, group, label)

    monkeypatch.setattr(pyramid, "draw_fullscreen", counting)
    w, h = 480, 270
    src = bloom_source(w, h)
    radii = (0.005, 0.05, 0.5)
    benches = {radius: ek.Bench(ek.effect({"type": "bloom", "radius": radius}, w, h), src) for radius in radii}
    passes, times = {}, {radius: [] for radius in radii}
    for radius, bench in benches.items():
        bench.apply()
        drawn.clear()
        bench.apply()
        passes[radius] = list(drawn)
    for _ in range(7):  # interleaved, so that the machine's other work falls on every radius alike
        for radius, bench in benches.items():
            t0 = time.perf_counter()
            bench.apply()
            times[radius].append(time.perf_counter() - t0)
    times = {radius: float(np.median(t)) for radius, t in times.items()}
    assert passes[0.005] == passes[0.05] == passes[0.5]
    assert max(times.values()) < 1.6 * min(times.values()), times


# ---- trails ---------------------------------------------------------------------------------


def moving_dot(w, h, index, fps=FPS):
    """A bright dot going round a circle once a second, over a dim blue background."""
    img = np.zeros((h, w, 4), np.float32)
    img[:] = (0.02, 0.02, 0.06, 1.0)
    angle = 2 * math.pi * index / fps
    cx, cy = w / 2 + 0.3 * h * math.cos(angle), h / 2 + 0.3 * h * math.sin(angle)
    ys, xs = np.mgrid[0:h, 0:w]
    d = np.hypot(xs + 0.5 - cx, ys + 0.5 - cy)
    spot = np.clip(2.5 - d, 0.0, 1.0)[..., None]
    return img * (1 - spot) + spot * np.float32([1.0, 0.8, 0.3, 1.0])


def run_trails(layer, w, h, first, last, features=None, renderer=None):
    """Outputs of frames first..last drawn in order by one renderer (a fresh one by default)."""
    r = renderer or ek.effect(layer, w, h, features)
    bench = ek.Bench(r)
    outs = {}
    for i in range(first, last + 1):
        bench.set_source(moving_dot(w, h, i))
        outs[i] = bench.apply(i)
    return r, outs


def test_trails_reference_image():
    layer = {"type": "trails", "decay": 0.15, "zoom": 1.4, "rotate": 40, "offset_y": 0.05}
    _, outs = run_trails(layer, 96, 64, 0, 29)
    assert_matches_reference("trails_zoom_rotate", to_png(outs[29]))


def test_trails_horizon_follows_the_decay():
    from gpurender.render.effects.trails import FORGOTTEN, MAX_HORIZON_SECONDS, horizon, window

    for decay in (0.001, 0.05, 0.1):
        m, r = horizon(decay, FPS)
        assert (decay ** (1 / FPS)) ** m <= FORGOTTEN < (decay ** (1 / FPS)) ** (m - 1)
        period = 2 * (m + r)
        assert period <= MAX_HORIZON_SECONDS * FPS
        for age in range(period):  # the two windows, half a period apart, always sum to 1
            assert window(age, m, r) + window((age + period // 2) % period, m, r) == pytest.approx(1.0)
            assert window(age, m, r) == 0.0 if age < m else window(age, m, r) > 0.0
    m, r = horizon(0.5, FPS)
    assert 2 * (m + r) <= MAX_HORIZON_SECONDS * FPS  # long trails are cut at the longest horizon


@pytest.mark.parametrize("layer", [
    {"type": "trails", "decay": 0.02, "zoom": 1.3, "rotate": 25, "offset_x": 0.1},
    {"type": "trails", "decay": {"feature": "bass", "scale": 0.05, "offset": 0.005}, "mode": "add",
     "zoom": {"feature": "rms", "scale": 2.0, "offset": 0.9}},
])
def test_trails_chunks_from_their_preroll_equal_the_single_pass_bit_for_bit(layer, features):
    w, h = 48, 32
    first = ek.effect(layer, w, h, features)
    period, preroll = first.period, first.preroll_frames
    assert preroll == period - 1 and period <= 6 * FPS
    last = 2 * period + 7
    _, single = run_trails(layer, w, h, 0, last, features, renderer=first)
    assert not np.array_equal(single[last], single[last - 1])  # it moves: the comparison means something
    # chunk starts at awkward places: around both accumulators' restarts, and before a full pre-roll
    for start in sorted({3, period // 2 - 1, period // 2 + 1, period - 1, period + 2, period + period // 2,
                         2 * period - 3}):
        begin = max(0, start - preroll)
        _, chunk = run_trails(layer, w, h, begin, min(start + 9, last), features)
        for i in range(start, min(start + 9, last) + 1):
            np.testing.assert_array_equal(chunk[i], single[i], err_msg=f"chunk from {start}, frame {i}")


def test_a_shorter_preroll_is_not_exact(features):
    """The pre-roll is needed: starting a few frames late differs (so the test above tests something)."""
    layer = {"type": "trails", "decay": 0.05, "zoom": 1.2}
    w, h = 48, 32
    r, single = run_trails(layer, w, h, 0, 2 * 140)
    start = 2 * r.period - 5
    _, late = run_trails(layer, w, h, start - r.preroll_frames // 4, start)
    assert not np.array_equal(late[start], single[start])


def test_trails_look_like_the_unbounded_feedback(monkeypatch):
    """The cross-faded accumulators stay within a small step of one accumulator that never restarts."""
    from gpurender.render.effects import trails

    layer = {"type": "trails", "decay": 0.1, "rotate": 30, "zoom": 1.1}
    w, h = 48, 32
    r, bounded = run_trails(layer, w, h, 0, 200)
    unbounded = ek.effect(layer, w, h)
    monkeypatch.setattr(unbounded, "ages", lambda index: (index + 1, index + 1))  # never restarts, weight 1
    monkeypatch.setattr(trails, "window", lambda age, m, r: 1.0)
    _, free = run_trails(layer, w, h, 0, 200, renderer=unbounded)
    worst = max(float(np.abs(bounded[i] - free[i]).max()) for i in range(200))
    assert worst < 4.0 / 255.0, worst  # FORGOTTEN of a full-brightness trail, plus float16 rounding


def test_trails_max_mode_keeps_a_still_background():
    img = moving_dot(48, 32, 0)
    bench = ek.Bench(ek.effect({"type": "trails", "decay": 0.3}, 48, 32), img)
    for i in range(12):
        out = bench.apply(i)
    np.testing.assert_array_equal(out, img.astype(np.float16).astype(np.float32))


# ---- vignette -------------------------------------------------------------------------------


def test_vignette_darkens_the_corners_and_leaves_the_centre():
    w, h = 96, 64
    img = np.ones((h, w, 4), np.float32) * np.float32([0.8, 0.6, 0.4, 1.0])
    out = ek.Bench(ek.effect({"type": "vignette", "strength": 0.75, "radius": 0.4, "softness": 0.5}, w, h),
                   img).apply()
    np.testing.assert_allclose(out[h // 2, w // 2], img[0, 0], atol=1e-3)
    np.testing.assert_allclose(out[0, 0, :3] / img[0, 0, :3], 0.25, atol=0.01)  # a corner: strength 0.75 of black
    assert out[0, 0, 3] == pytest.approx(1.0)
    tinted = ek.Bench(ek.effect({"type": "vignette", "strength": 1.0, "radius": 0.0, "softness": 0.01,
                                 "color": "#ff0000"}, w, h), img).apply()
    np.testing.assert_allclose(tinted[2, 2], [1.0, 0.0, 0.0, 1.0], atol=1e-3)


# ---- grain ----------------------------------------------------------------------------------


def test_grain_is_the_same_for_the_same_seed_and_frame_and_new_every_frame():
    img = np.ones((64, 96, 4), np.float32) * np.float32([0.5, 0.5, 0.5, 1.0])
    bench = ek.Bench(ek.effect({"type": "grain", "amount": 0.1, "seed": 7}, 96, 64), img)
    again = ek.Bench(ek.effect({"type": "grain", "amount": 0.1, "seed": 7}, 96, 64), img)
    other_seed = ek.Bench(ek.effect({"type": "grain", "amount": 0.1, "seed": 8}, 96, 64), img)
    a, b, c = bench.apply(5), again.apply(5), bench.apply(6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, other_seed.apply(5))
    assert np.corrcoef((a - 0.5)[..., 0].ravel(), (c - 0.5)[..., 0].ravel())[0, 1] < 0.1  # frames independent
    noise = a[..., :3] - 0.5
    assert abs(noise.mean()) < 0.005 and noise.std() == pytest.approx(0.1, rel=0.1)  # amount in mid-tones
    np.testing.assert_array_equal(a[..., 0], a[..., 1])  # color = 0: monochrome
    np.testing.assert_array_equal(a[..., 3], 1.0)


def test_grain_size_and_colour():
    img = np.ones((128, 128, 4), np.float32) * np.float32([0.5, 0.5, 0.5, 1.0])
    fine = ek.Bench(ek.effect({"type": "grain", "amount": 0.1}, 128, 128), img).apply(3)[..., 0] - 0.5
    coarse = ek.Bench(ek.effect({"type": "grain", "amount": 0.1, "size": 60, "color": 1.0}, 128, 128),
                      img).apply(3) - 0.5
    neighbours = lambda n: np.corrcoef(n[:, :-1].ravel(), n[:, 1:].ravel())[0, 1]  # noqa: E731
    assert abs(neighbours(fine)) < 0.1 and neighbours(coarse[..., 0]) > 0.8
    assert coarse[..., :3].std() == pytest.approx(0.1, rel=0.25)  # as strong however large
    assert not np.array_equal(coarse[..., 0], coarse[..., 1])  # color = 1: each channel its own
    clear = np.zeros((16, 16, 4), np.float32)
    np.testing.assert_array_equal(ek.Bench(ek.effect({"type": "grain"}, 16, 16), clear).apply(1), clear)


# ---- bindings -------------------------------------------------------------------------------


def gpu_inputs(r, frame):
    """Everything an effect sends to the GPU for ``frame`` that parameters can change."""
    if hasattr(r, "settings"):
        s = r.settings(frame)
        return [np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in s.values()]
    if r.layer.type == "trails":
        return [r.params_data(frame, False)]
    return [r.params_data(frame)]


@pytest.mark.parametrize("name", EFFECTS)
def test_every_numeric_parameter_follows_a_binding(name, features):
    import dataclasses

    r = ek.effect({"type": name}, 64, 48, features)
    beat = int(np.flatnonzero(np.asarray(features.bass) > 0.2)[0])
    frame = ek.Bench(r).frame(beat)
    numbers = [k for k, p in layer_types()[name].params.items() if p.kind == "number"]
    assert numbers
    original = r.layer
    reference = gpu_inputs(r, frame)
    for key in numbers:
        default = original.params[key]
        spec = layer_types()[name].params[key]
        low, high = spec.limits or (-1e9, 1e9)
        target = min(max(default * 0.5 + 0.01, low), high) if default else min(0.3, high)
        if (name, key) == ("grain", "size"):
            target = 40.0  # pixels of a 1080-line frame: more than one of this 48-line frame's
        # bound so that the value at this frame is `target`, not the default
        bass = float(features.bass[beat])
        binding = Binding(feature="bass", scale=1.0, offset=target - bass)
        r.layer = dataclasses.replace(original, params={**original.params, key: binding})
        assert r.value(key, frame) == pytest.approx(target)
        changed = gpu_inputs(r, frame)
        assert any(not np.array_equal(a, b) for a, b in zip(reference, changed)), f"{name}.{key}"
    r.layer = original


def subframes(index, count, fps=FPS):
    """The FrameInfo of each motion-blur sub-frame of frame ``index`` (sub-frames spread over the frame)."""
    from gpurender.render.layers.base import FrameInfo

    return [FrameInfo(index=index, time=(index + s / count) / fps, fps=float(fps), subframe=s, subframes=count,
                      position=index + s / count, dt=1.0 / (fps * count)) for s in range(count)]


def test_trails_step_at_every_motion_blur_subframe_and_stay_exact_from_their_preroll():
    layer = {"type": "trails", "decay": 0.02, "zoom": 1.2, "rotate": 15}
    w, h = 48, 32

    def run(first, last):
        r = ek.effect(layer, w, h)
        bench = ek.Bench(r)
        outs = {}
        for i in range(first, last + 1):
            for sub in subframes(i, 3):
                bench.set_source(moving_dot(w, h, sub.position))
                encoder = bench.device.create_command_encoder()
                r.apply(encoder, sub, bench.source_view, bench.target_view)
                bench.device.queue.submit([encoder.finish()])
                outs[(i, sub.subframe)] = ek.download(bench.device, bench.target)
        return r, outs

    r, single = run(0, 150)
    start = r.period + 4
    _, chunk = run(start - r.preroll_frames, start + 2)
    for key in [(start, 0), (start, 2), (start + 2, 1)]:
        np.testing.assert_array_equal(chunk[key], single[key])


def test_trails_fade_at_the_same_rate_per_second_whatever_the_step():
    """decay is per second: three sub-frame steps dim a trail as much as one frame step."""
    w, h = 16, 16
    lit = np.zeros((h, w, 4), np.float32)
    lit[8, 8] = (1.0, 1.0, 1.0, 1.0)
    dark = np.zeros((h, w, 4), np.float32)
    values = {}
    for count in (1, 3):
        r = ek.effect({"type": "trails", "decay": 0.05}, w, h)
        bench = ek.Bench(r)
        for i in range(6):
            for sub in subframes(i, count):
                bench.set_source(lit if i == 0 else dark)
                encoder = bench.device.create_command_encoder()
                r.apply(encoder, sub, bench.source_view, bench.target_view)
                bench.device.queue.submit([encoder.finish()])
        values[count] = ek.download(bench.device, bench.target)[8, 8, 0]
    # lit through frame 0, then 5 frames of fading: 5 steps of 1/30 s, or 15 of 1/90 s
    assert values[1] == pytest.approx(0.05 ** (5 / FPS), rel=0.01)
    assert values[3] == pytest.approx(0.05 ** (5 / FPS), rel=0.01)
