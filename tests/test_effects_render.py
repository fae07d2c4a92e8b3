"""Effect layers through the frame loop: opacity and bindings fade them, they see only what is beneath
them, reference frames, and trails chunked == single pass in lossless video.

(The kernels alone are tested in tests/test_effects.py.) Reference images are in ``tests/reference/``;
regenerate with ``GPURENDER_REGENERATE=1`` after looking at them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gpurender.scene import scene_from_dict
from refimage import assert_matches_reference

wgpu = pytest.importorskip("wgpu")

ROOT = Path(__file__).resolve().parents[1]
FPS = 30
W, H = 96, 54
SPECTRUM = {"type": "spectrum", "bars": 12, "color": "#3080ff", "color_top": "#ff60c0", "height": 0.6}


@pytest.fixture(scope="module")
def features():
    from gpurender.audio import analyze, demo_track

    return analyze(demo_track(duration=3.0), FPS)


def frame(scene, features, index, w=W, h=H):
    from gpurender.render.renderer import FrameRenderer

    if isinstance(scene, dict):
        scene = scene_from_dict(scene)
    try:
        return FrameRenderer(scene, features, w, h, FPS).render_rgba(index).astype(np.int16)
    except TypeError as exc:
        if "frame loop calls apply()" in str(exc):
            pytest.skip("this frame loop does not draw effect layers yet")
        raise


def stack(*layers, background="#101018"):
    return {"background": background, "layers": list(layers)}


def test_opacity_fades_an_effect_in(features):
    vignette = {"type": "vignette", "strength": 1.0, "radius": 0.1, "softness": 0.6, "color": "#ff2000"}
    without = frame(stack(SPECTRUM), features, 20)
    faded = {o: frame(stack(SPECTRUM, {**vignette, "opacity": o}), features, 20) for o in (0.0, 0.5, 1.0)}
    assert np.abs(faded[0.0] - without).max() <= 1
    assert np.abs(faded[1.0] - without).max() > 100  # the corners turn red
    halfway = (faded[0.0] + faded[1.0]) / 2
    assert np.abs(faded[0.5] - halfway).max() <= 2


def test_a_bound_opacity_follows_the_music(features):
    bloom = {"type": "bloom", "threshold": 0.2, "intensity": 3.0, "radius": 0.1,
             "opacity": {"feature": "bass", "scale": 1.0, "min": 0.0, "max": 1.0}}
    bass = np.asarray(features.bass)
    loud, quiet = int(np.argmax(bass[:60])), int(np.argmin(bass[:60]))
    glow = {}
    for index in (loud, quiet):
        plain = frame(stack(SPECTRUM), features, index)
        glow[index] = float(np.abs(frame(stack(SPECTRUM, bloom), features, index) - plain).mean())
    assert glow[loud] > glow[quiet]


def test_an_effect_changes_only_what_is_beneath_it(features):
    """A layer above a blur stays sharp: the blur changes the layers beneath it and nothing above."""
    line = {"type": "waveform", "color": "#ffffff", "thickness": 2.0}
    blur = {"type": "blur", "radius": 0.05}
    alone = frame(stack(line, background="#000000"), features, 10)
    assert np.abs(frame(stack(blur, line, background="#000000"), features, 10) - alone).max() <= 1
    assert np.abs(frame(stack(SPECTRUM, blur), features, 10) - frame(stack(SPECTRUM), features, 10)).max() > 40
    covered = alone[..., :3].min(-1) >= 254  # where the line is opaque, it is all one sees
    assert covered.sum() > 20
    assert (frame(stack(SPECTRUM, blur, line), features, 10)[covered][:, :3] >= 254).all()


# Content drawn by a shader layer (which nothing else in the project changes): bright shapes over a
# dim gradient, and a dot going round a circle once a second.
SHAPES = """
fn disc(px: vec2<f32>, c: vec2<f32>, r: f32) -> f32 { return clamp(r - distance(px, c) + 0.5, 0.0, 1.0); }
fn shade(uv: vec2<f32>, px: vec2<f32>) -> vec4<f32> {
    let h = inputs.resolution.y;
    var c = vec3<f32>(0.02, 0.03, 0.08) * (1.0 + uv.y);
    c = mix(c, vec3<f32>(1.0, 1.0, 1.0), disc(px, vec2<f32>(0.3, 0.45) * inputs.resolution, 0.05 * h));
    c = mix(c, vec3<f32>(1.0, 0.55, 0.1), disc(px, vec2<f32>(0.72, 0.6) * inputs.resolution, 0.02 * h));
    let line = clamp(1.0 - abs(px.y - 0.8 * h), 0.0, 1.0) * step(0.15, uv.x) * step(uv.x, 0.6);
    c = mix(c, vec3<f32>(0.2, 0.9, 1.0), line);
    c = mix(c, vec3<f32>(0.45, 0.45, 0.45), step(0.55, uv.x) * step(0.2, uv.y) * step(uv.y, 0.28));
    return vec4<f32>(c, 1.0);
}
"""
ORBIT = """
fn shade(uv: vec2<f32>, px: vec2<f32>) -> vec4<f32> {
    let h = inputs.resolution.y;
    let a = 6.28318 * inputs.time;
    let centre = 0.5 * inputs.resolution + 0.3 * h * vec2<f32>(cos(a), sin(a));
    let dot = clamp(0.06 * h - distance(px, centre) + 0.5, 0.0, 1.0);
    return vec4<f32>(mix(vec3<f32>(0.02, 0.02, 0.06), vec3<f32>(1.0, 0.8, 0.3), dot), 1.0);
}
"""


@pytest.mark.parametrize("name, layers, index", [
    ("effects_bloom_frame", [{"type": "shader", "code": SHAPES},
                             {"type": "bloom", "threshold": 0.3, "intensity": 3.0, "radius": 0.1},
                             {"type": "vignette", "strength": 0.5}], 3),
    ("effects_trails_frame", [{"type": "shader", "code": ORBIT},
                              {"type": "trails", "decay": 0.1, "zoom": 1.3, "rotate": 30}], 45),
])
def test_effects_through_the_frame_loop_match_their_references(name, layers, index, features):
    image = frame(stack(*layers), features, index, 128, 72).astype(np.uint8)
    assert_matches_reference(name, image)


def test_trails_chunked_lossless_is_bit_identical_to_single_pass(tmp_path):
    """Chunks at awkward places, most of them starting after a full pre-roll, all equal to the single pass."""
    from gpurender.audio import load_audio
    from gpurender.farm import JobOptions
    from gpurender.pipeline import render_video
    from gpurender.settings import RenderSettings

    from media import assert_same_frames, decoded, write_song

    scene = scene_from_dict(stack(
        {"type": "particles", "space": "screen", "count": 400, "rate": 300, "y": -0.6, "speed": 1.2, "size": 3.0},
        {"type": "trails", "decay": {"feature": "bass", "scale": 0.02, "offset": 0.01, "max": 0.03},
         "zoom": 1.25, "rotate": {"feature": "rms", "scale": 40.0}},
        background="#080810"))
    settings = RenderSettings(width=48, height=32, fps=12, lossless=True)
    audio = load_audio(write_song(tmp_path / "song.wav", seconds=8.0))
    single = tmp_path / "single.mkv"
    try:
        render_video(scene, audio, single, settings)
    except TypeError as exc:
        if "frame loop calls apply()" in str(exc):
            pytest.skip("this frame loop does not draw effect layers yet")
        raise
    frames = decoded(single)
    assert len(frames) == 96 and not np.array_equal(frames[60], frames[61])
    from gpurender.render.effects.trails import horizon

    m, r = horizon(0.03, 12)
    preroll = 2 * (m + r) - 1
    assert 17 < preroll < 51  # chunks from frame 51 on pre-roll a whole horizon, the others from frame 0
    chunked = tmp_path / "chunked.mkv"
    result = render_video(scene, audio, chunked, settings, job=JobOptions(chunk_frames=17))
    assert result.chunks == 6
    assert_same_frames(decoded(chunked), frames)


def test_stacked_trails_from_a_fresh_renderer_equal_the_single_pass(tmp_path):
    """Two trails layers: the upper one needs a correct picture beneath it over its whole horizon,
    which the lower one gives only after its own pre-roll, so a renderer starting mid-track (a
    resumed chunk, a farm worker) pre-rolls both (their sum)."""
    from gpurender.audio import analyze, load_audio
    from gpurender.render.renderer import FrameRenderer

    from media import write_song

    scene = scene_from_dict(stack(
        {"type": "particles", "space": "screen", "count": 400, "rate": 300, "y": -0.6, "speed": 1.2, "size": 3.0},
        {"type": "trails", "decay": 0.4, "zoom": 1.25},
        {"type": "trails", "decay": 0.4, "rotate": 30.0},
        background="#080810"))
    features = analyze(load_audio(write_song(tmp_path / "song.wav", seconds=8.0)), 30)
    # each trails pre-rolls 179 frames at 30 fps: a start at frame 190 needs both (358), not one
    single = [data for _, data in FrameRenderer(scene, features, 48, 32, 30).frames(0, 196, output="rgba")][190:]
    fresh = [data for _, data in FrameRenderer(scene, features, 48, 32, 30).frames(190, 6, output="rgba")]
    for k, (a, b) in enumerate(zip(single, fresh)):
        assert np.array_equal(a, b), f"frame {190 + k} differs by up to {np.abs(a.astype(int) - b).max()}"
