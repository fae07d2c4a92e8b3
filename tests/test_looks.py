"""Tone mapping, exposure, supersampling and motion blur: the scene's top-level looks (issue 13).

Reference images at small sizes (``tests/reference/looks_*.png``; regenerate with
``GPURENDER_REGENERATE=1`` after looking at them), the curves against NumPy, supersampling against a
box filter of the big picture, motion blur against its definition (sub-frame times, a constant
picture unchanged, samples = 1 the frame itself), chunked == single pass with motion blur in
lossless video, and ``--motion-blur`` on the command line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gpurender.audio import AnalysisSettings, analyze, demo_track, load_audio
from gpurender.render.renderer import FrameRenderer, subframe_position
from gpurender.scene import scene_from_dict
from media import assert_same_frames, decoded, write_song
from refimage import assert_matches_reference

ROOT = Path(__file__).resolve().parents[1]
FPS = 30
W, H = 96, 64


@pytest.fixture(scope="module")
def features():
    return analyze(demo_track(2.0), FPS, settings=AnalysisSettings(keep_spectrum=False))


def render(scene: dict, features, index=20, w=W, h=H, **kw) -> np.ndarray:
    return FrameRenderer(scene_from_dict(scene), features, w, h, FPS, **kw).render_rgba(index)


# Light past white: a radial spectrum added twice over a bright sphere of additive sprites.
HDR = {
    "background": "#101018",
    "camera": {"distance": 3.0, "orbit_speed": 40},
    "layers": [
        {"type": "points", "shape": "sphere", "count": 300, "size": 6, "draw": "additive", "colormap": "plasma",
         "brightness": 0.6, "blend": "add"},
        {"type": "spectrum", "bars": 24, "style": "radial", "color": "#ff8040", "color_top": "#ffe080",
         "radius": 0.2, "height": 0.35, "gain": 1.5, "blend": "add"},
        {"type": "spectrum", "bars": 24, "style": "radial", "color": "#2040ff", "color_top": "#ff40c0",
         "radius": 0.3, "height": 0.3, "gain": 1.2, "blend": "add", "opacity": 0.8},
    ],
}


@pytest.mark.parametrize("tonemap", ["none", "reinhard", "aces"])
def test_tonemap_references(tonemap, features):
    assert_matches_reference(f"looks_tonemap_{tonemap}", render({**HDR, "tonemap": tonemap}, features))


def test_exposure_reference(features):
    assert_matches_reference("looks_exposure_aces_minus1", render({**HDR, "tonemap": "aces", "exposure": -1},
                                                                  features))


def _srgb_to_linear(v):
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(x):
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)


CURVES = {
    "none": lambda x: x,
    "reinhard": lambda x: x * (1 + x / 16.0) / (1 + x),
    "aces": lambda x: (x * (2.51 * x + 0.03)) / (x * (2.43 * x + 0.59) + 0.14),
}


@pytest.mark.parametrize("tonemap", sorted(CURVES))
@pytest.mark.parametrize("exposure", [0.0, 1.5])
def test_tone_curves_match_their_formulas(tonemap, exposure, features):
    # A flat grey background and twice a flat grey added over it (a shader's colours are 0..1):
    # colour values from 0.1 to 2.6.
    grid = []
    for level in (0.1, 0.4, 0.8, 1.0):
        for extra in (0.0, 0.25, 0.65):
            add = {"type": "shader", "blend": "add",
                   "code": f"fn shade(uv: vec2<f32>, px: vec2<f32>) -> vec4<f32> {{ return vec4<f32>(vec3<f32>({extra}), 1.0); }}"}
            scene = {"background": [level] * 3, "tonemap": tonemap, "exposure": exposure, "layers": [add, add]}
            got = render(scene, None, index=0, w=8, h=8)[4, 4, 0]
            value = np.float64(level + 2 * extra)
            if tonemap == "none" and exposure == 0.0:
                want = min(value, 1.0)
            else:
                lin = _srgb_to_linear(value) * 2.0 ** exposure
                want = _linear_to_srgb(np.clip(CURVES[tonemap](lin), 0.0, 1.0))
            grid.append((level, extra, int(got), float(want) * 255))
    worst = max(abs(g - w) for _, _, g, w in grid)
    assert worst <= 1.0, grid  # 8-bit rounding of the float32 evaluation
    if tonemap != "none":
        # highlights roll off: brighter inputs stay brighter (not clipped flat)
        values = sorted((lv + 2 * ex, g) for lv, ex, g, _ in grid)
        assert all(b[1] >= a[1] for a, b in zip(values, values[1:]))


def test_tonemap_none_clips_as_plain_compositing_does(features):
    # colours in 0..1: tone mapping none is the picture of before (the reference tests hold it too)
    scene = {"background": "#204060", "layers": [{"type": "spectrum", "bars": 8, "blend": "screen"}]}
    assert np.array_equal(render(scene, features), render({**scene, "tonemap": "none", "exposure": 0}, features))


SUPER = {
    "background": "#0a0a14",
    "camera": {"distance": 2.6, "orbit_speed": 30},
    "layers": [
        {"type": "spectrum", "bars": 20, "style": "radial", "radius": 0.22, "height": 0.3, "color": "#40a0ff",
         "color_top": "#ffffff", "gap": 0.4},
        {"type": "points", "shape": "torus", "count": 3000, "size": 2.5, "softness": 0.0, "blend": "screen",
         "colormap": "magma"},
        {"type": "text", "text": "Ag", "size": 14, "x": 0.05, "y": 0.85, "anchor": "top-left"},
    ],
}


def test_supersample_reference(features):
    assert_matches_reference("looks_supersample_3", render({**SUPER, "supersample": 3, "antialias": False},
                                                           features))


@pytest.mark.parametrize("k", [2, 3])
def test_supersampling_is_a_box_filter_of_the_big_picture(k, features):
    # The same scene drawn k times larger (sizes in pixels scaled by k) and averaged over each
    # k x k block (premultiplied), against the supersampled render of it.
    big_scene = {**SUPER, "layers": [dict(SUPER["layers"][0]),
                                     {**SUPER["layers"][1], "size": SUPER["layers"][1]["size"] * k},
                                     {**SUPER["layers"][2], "size": SUPER["layers"][2]["size"] * k}]}
    big = render(big_scene, features, w=W * k, h=H * k).astype(np.float64) / 255.0
    pre = np.concatenate([big[..., :3] * big[..., 3:], big[..., 3:]], axis=-1)
    box = pre.reshape(H, k, W, k, 4).mean(axis=(1, 3))
    alpha = box[..., 3:]
    want = np.concatenate([np.where(alpha > 0, box[..., :3] / np.maximum(alpha, 1e-9), 0), alpha], -1) * 255.0
    got = render({**SUPER, "supersample": k}, features).astype(np.float64)
    # Both round to 8 bits; the big picture was rounded before averaging.
    assert np.abs(got - want).max() <= 1.5


def test_supersampling_smooths_edges(features):
    scene = {"background": "#000000", "antialias": False,
             "layers": [{"type": "spectrum", "bars": 12, "style": "radial", "color": "#ffffff",
                         "color_top": "#ffffff", "height": 0.3}]}
    hard = render(scene, features)
    smooth = render({**scene, "supersample": 4}, features)
    partial = lambda img: ((img[..., 0] > 10) & (img[..., 0] < 245)).sum()  # noqa: E731
    assert partial(hard) == 0 and partial(smooth) > 50


MOVING = {
    "background": "#000000",
    "camera": {"distance": 3.0, "orbit_speed": 0},
    "layers": [
        {"type": "points", "shape": "torus", "count": 3000, "size": 3, "spin": 240, "colormap": "viridis"},
        {"type": "shader", "code": "fn shade(uv: vec2<f32>, px: vec2<f32>) -> vec4<f32> { "
                                   "let x = fract(inputs.time * 6.0); "
                                   "let bar = step(abs(uv.x - x), 0.02); "
                                   "return vec4<f32>(1.0, 0.8, 0.2, bar); }", "blend": "screen"},
    ],
}


def test_motion_blur_reference(features):
    scene = {**MOVING, "motion_blur": {"samples": 8, "shutter": 1.0}}
    assert_matches_reference("looks_motion_blur_8", render(scene, features, index=9))


def test_subframe_times_are_centred_on_the_frame():
    for n, shutter in ((1, 0.5), (4, 0.5), (5, 1.0), (8, 0.25)):
        positions = [subframe_position(30, k, n, shutter) for k in range(n)]
        assert np.isclose(np.mean(positions), 30.0)
        assert np.allclose(np.diff(positions), shutter / n) if n > 1 else positions == [30.0]
        assert np.isclose(positions[-1] - positions[0], shutter * (n - 1) / n)


def test_motion_blur_averages_the_subframes(features):
    # The moving bar of the shader at each sub-frame's time: the blurred frame is their mean.
    bar = {"background": "#000000", "layers": [MOVING["layers"][1]]}
    blurred = render({**bar, "motion_blur": {"samples": 4, "shutter": 1.0}}, features, index=10)
    columns = (blurred[..., 0].astype(int) > 0).any(axis=0).sum()
    sharp = (render(bar, features, index=10)[..., 0].astype(int) > 0).any(axis=0).sum()
    assert columns > 3 * sharp  # the bar is smeared over the shutter (0.2 of the width a frame)
    # one sample is the frame itself, bit for bit; a still picture stays as it is
    assert np.array_equal(render({**bar, "motion_blur": {"samples": 1}}, features, index=10),
                          render(bar, features, index=10))
    still = {"background": "#203040", "layers": [{"type": "text", "text": "still", "size": 20}]}
    assert np.abs(render({**still, "motion_blur": {"samples": 5}}, features).astype(int)
                  - render(still, features)).max() <= 1


def test_motion_blur_interpolates_the_audio(features):
    # A spectrum's bar heights follow the bands between frames: blurred, a bar's top is soft.
    scene = {"background": "#000000", "antialias": False,
             "layers": [{"type": "spectrum", "bars": 4, "color": "#ffffff", "color_top": "#ffffff",
                         "height": {"feature": "bass", "scale": 0.8}}]}
    sharp = render(scene, features, index=15)
    blurred = render({**scene, "motion_blur": {"samples": 6, "shutter": 1.0}}, features, index=15)
    grey = lambda img: ((img[..., 0] > 5) & (img[..., 0] < 250)).sum()  # noqa: E731
    assert grey(sharp) == 0 and grey(blurred) > 0


def test_motion_blur_chunked_equals_single_pass(tmp_path):
    from gpurender.farm import JobOptions
    from gpurender.pipeline import render_video
    from gpurender.settings import RenderSettings

    song = write_song(tmp_path / "song.wav", seconds=1.5)
    audio = load_audio(song)
    scene = scene_from_dict({
        **MOVING,
        "motion_blur": {"samples": 3, "shutter": 0.6},
        "layers": MOVING["layers"] + [{"type": "particles", "count": 800, "rate": 600, "size": 4, "blend": "add",
                                       "burst": 100, "burst_on": "beat"}],
    })
    settings = RenderSettings(width=64, height=48, fps=12, lossless=True)
    single, chunked = tmp_path / "single.mkv", tmp_path / "chunked.mkv"
    render_video(scene, audio, single, settings)
    render_video(scene, audio, chunked, settings, job=JobOptions(chunk_frames=5))
    frames = decoded(single)
    assert len(frames) == 18 and not np.array_equal(frames[4], frames[12])
    assert_same_frames(decoded(chunked), frames)


def test_motion_blur_a_render_starting_mid_track_equals_one_passing_through(features):
    # A fresh renderer seeks to its first frame (particles stepped at every sub-frame, nothing
    # drawn): the frames are those of a renderer that drew every frame from 0.
    scene = scene_from_dict({"background": "#000000", "motion_blur": {"samples": 3, "shutter": 0.8},
                             "layers": [{"type": "particles", "count": 600, "rate": 900, "size": 5, "speed": 2,
                                         "burst": 80, "burst_on": "beat", "blend": "add"}]})
    through = FrameRenderer(scene, features, W, H, FPS)
    frames = [rgba for _, rgba in through.frames(0, 12, output="rgba")]
    fresh = FrameRenderer(scene, features, W, H, FPS)
    assert np.array_equal(fresh.render_rgba(9), frames[9])
    assert not np.array_equal(frames[9], frames[4])


def test_motion_blur_on_the_command_line(tmp_path):
    from gpurender.cli import main

    scene = tmp_path / "scene.toml"
    scene.write_text('background = "#000000"\n[[layers]]\ntype = "points"\nshape = "torus"\ncount = 2000\n'
                     'size = 3\nspin = 300\n')
    outs = {}
    for blur in (None, "6"):
        out = tmp_path / f"still-{blur}.png"
        args = ["still", str(scene), "-o", str(out), "-r", "96x64", "-t", "0.5", "--quiet"]
        if blur:
            args += ["--motion-blur", blur]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        from PIL import Image

        outs[blur] = np.asarray(Image.open(out))
    assert not np.array_equal(outs[None], outs["6"])
    result = CliRunner().invoke(main, ["still", str(scene), "-o", str(tmp_path / "x.png"), "--motion-blur", "0"])
    assert result.exit_code != 0 and "0" in result.output
