"""export_point_cloud_video end to end on the software adapter, at small sizes.

Small (6 frames of a sphere and a torus), medium (30 frames of a helix) and large (48 frames of
50,000 points) sequences; colours as floats and bytes; frames that change size; invalid frames
from sequences and from one-shot iterators; the encoder fallback; the audio track; the splat's
depth test; bounded memory; the example script.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import av
import numpy as np
import pytest

import gpurender
from gpurender import output
from gpurender.errors import EncodeError, SceneError
from gpurender.pointcloud import example_sequence
from gpurender.progress import Progress
from media import refuse_encoder

SMALL = {"fps": 5, "resolution": "128x96", "progress": False}
ROOT = Path(__file__).resolve().parents[1]


def decoded(path, fmt="rgb24"):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format=fmt) for f in c.decode(video=0)]


def leftovers(folder):
    return [p for p in os.listdir(folder) if p.startswith(".")]


@pytest.mark.parametrize("shape", ["sphere", "torus"])
def test_small_sequence_reopens_with_exact_frames_and_duration(tmp_path, shape):
    out = tmp_path / f"{shape}.mp4"
    log = io.StringIO()
    result = gpurender.export_point_cloud_video(example_sequence(shape, 6, 2000), out, fps=5,
                                                resolution="128x96", progress=Progress(stream=log, live=False))
    assert result.frames == 6 and result.max_points == 2000
    assert result.duration == pytest.approx(1.2, abs=0.01)
    assert result.size_bytes == out.stat().st_size > 0
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert (v.codec_context.width, v.codec_context.height, v.codec_context.name) == (128, 96, "h264")
        assert v.average_rate == 5
    frames = decoded(out)
    assert len(frames) == 6
    assert all(f.max() > 100 for f in frames)  # the points are drawn ...
    assert frames[0][48 - 10:48 + 10, 64 - 10:64 + 10].mean() > frames[0][:, :8].mean()  # ... in the middle
    assert not np.array_equal(frames[0], frames[3])  # and they move
    text = log.getvalue()
    assert "6/6 frames" in text and "[verifying]" in text and "encoder: libx264" in text
    assert leftovers(tmp_path) == []


def test_title_overlay_can_be_templated_or_turned_off(tmp_path):
    seq = example_sequence("sphere", 2, 500)
    common = dict(SMALL, resolution="256x96", camera={"distance": 60.0, "target": (0, 0, 0)})  # cloud tiny, centred
    on = decoded(gpurender.export_point_cloud_video(seq, tmp_path / "on.mp4", **common).path)
    off = decoded(gpurender.export_point_cloud_video(seq, tmp_path / "off.mp4", title=None, **common).path)
    other = decoded(gpurender.export_point_cloud_video(seq, tmp_path / "other.mp4", title="{points}", **common).path)
    corner = (slice(0, 14), slice(0, 120))
    assert off[0][corner].max() < 40
    assert on[0][corner].max() > 150
    assert (on[0][corner] > 100).sum() > 2 * (other[0][corner] > 100).sum() > 0  # "Frame 1/2 | 500 points" vs "500"


def test_colours_as_floats_and_as_bytes_give_the_same_video(tmp_path):
    rng = np.random.default_rng(1)
    pts = [rng.normal(size=(3000, 3)) for _ in range(3)]
    rgb = [rng.integers(0, 256, (3000, 3)).astype(np.uint8) for _ in range(3)]
    as_bytes = [{"points": p, "colors": c} for p, c in zip(pts, rgb)]
    as_floats = [{"points": p, "colors": c / 255.0} for p, c in zip(pts, rgb)]
    a = gpurender.export_point_cloud_video(as_bytes, tmp_path / "a.mp4", lossless=True, **SMALL)
    b = gpurender.export_point_cloud_video(as_floats, tmp_path / "b.mp4", lossless=True, **SMALL)
    for x, y in zip(decoded(a.path, "yuv420p"), decoded(b.path, "yuv420p")):
        np.testing.assert_array_equal(x, y)


def test_given_colours_are_the_colours_drawn(tmp_path):
    frames = [{"points": np.random.default_rng(k).normal(size=(4000, 3)), "colors": np.tile([1.0, 0.0, 0.0], (4000, 1))}
              for k in range(2)]
    out = gpurender.export_point_cloud_video(frames, tmp_path / "red.mp4", title=None, **SMALL).path
    img = decoded(out)[1].astype(int)
    lit = img.sum(axis=2) > 120
    assert lit.sum() > 200
    r, g, b = (img[..., k][lit].mean() for k in range(3))
    assert r > 150 and g < 60 and b < 60


def test_medium_helix_with_changing_point_counts_and_an_orbit(tmp_path):
    out = tmp_path / "helix.webm"
    seq = example_sequence("helix", 30, 3000)
    result = gpurender.export_point_cloud_video(seq, out, camera="orbit", fps=10, resolution="96x64", progress=False)
    assert (result.frames, result.min_points, result.max_points) == (30, 1550, 3000)
    assert result.encoder == "libvpx-vp9"
    assert result.duration == pytest.approx(3.0, abs=0.01)
    assert len(decoded(out)) == 30


def test_large_lazy_sequence_keeps_memory_bounded(tmp_path):
    n_frames, n_points = 48, 50_000
    rng = np.random.default_rng(2)
    base = rng.normal(size=(n_points, 3))

    def frames():
        for k in range(n_frames):  # a fresh 1.2 MB frame each time, never kept by the caller
            yield {"points": base * (1.0 + 0.01 * k)}

    def export_(gen, count):
        return gpurender.export_point_cloud_video(gen, tmp_path / "large.mp4", fps=24, resolution="64x48",
                                                  progress=False, bounds=((-6, -6, -6), (6, 6, 6)), n_frames=count)

    export_(iter([{"points": base}]), 1)  # imports and first-use caches are not the frames' memory
    tracemalloc.start()
    try:
        result = export_(frames(), n_frames)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.frames == n_frames and result.max_points == n_points
    all_frames = n_frames * n_points * 3 * 8
    assert peak < all_frames / 6, f"peak {peak / 1e6:.1f} MB for {all_frames / 1e6:.1f} MB of frames"


def test_iterator_of_unknown_length_is_rendered_to_its_end(tmp_path):
    gen = (f for f in example_sequence("sphere", 7, 500))
    result = gpurender.export_point_cloud_video(gen, tmp_path / "gen.mp4", bounds=((-1.2,) * 3, (1.2,) * 3), **SMALL)
    assert result.frames == 7 and len(decoded(result.path)) == 7


def test_bad_frame_in_a_sequence_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    frames = list(example_sequence("torus", 6, 500))
    frames[4] = {"points": frames[4]["points"], "colors": np.zeros((499, 3))}
    opened = []
    monkeypatch.setattr(output, "open_writer", lambda *a, **k: opened.append(a))
    with pytest.raises(SceneError, match=r"frame 4: 499 colours for 500 points"):
        gpurender.export_point_cloud_video(frames, tmp_path / "bad.mp4", **SMALL)
    assert opened == [] and os.listdir(tmp_path) == []


def test_bad_frame_from_an_iterator_aborts_and_leaves_nothing(tmp_path):
    def frames():
        for k, f in enumerate(example_sequence("torus", 6, 500)):
            if k == 3:
                f["points"][10, 2] = np.inf
            yield f

    with pytest.raises(SceneError, match=r"frame 3: points contain NaN or infinite values \(first at point 10"):
        gpurender.export_point_cloud_video(frames(), tmp_path / "bad.mp4", bounds=((-2,) * 3, (2,) * 3), **SMALL)
    assert os.listdir(tmp_path) == []


def test_iterator_needs_bounds_for_a_fitted_camera_and_must_match_its_count(tmp_path):
    gen = iter(example_sequence("sphere", 4, 100))
    with pytest.raises(SceneError, match="bounds"):
        gpurender.export_point_cloud_video(gen, tmp_path / "x.mp4", **SMALL)
    gen = iter(example_sequence("sphere", 4, 100))
    with pytest.raises(SceneError, match="gave 4 frames but 5"):
        gpurender.export_point_cloud_video(gen, tmp_path / "x.mp4", n_frames=5, bounds=((-2,) * 3, (2,) * 3), **SMALL)
    with pytest.raises(SceneError, match="has no frames"):
        gpurender.export_point_cloud_video([], tmp_path / "x.mp4", **SMALL)
    assert os.listdir(tmp_path) == []


def test_settings_are_checked_before_the_frames(tmp_path):
    seq = example_sequence("sphere", 2, 100)
    with pytest.raises(EncodeError, match="video file"):
        gpurender.export_point_cloud_video(seq, tmp_path / "frame.png", **SMALL)
    with pytest.raises(SceneError, match="colormap"):
        gpurender.export_point_cloud_video(seq, tmp_path / "x.mp4", colormap="rainbow", **SMALL)
    with pytest.raises(gpurender.GpurenderError, match="resolution"):
        gpurender.export_point_cloud_video(seq, tmp_path / "x.mp4", fps=5, resolution="127x96", progress=False)
    with pytest.raises(SceneError, match=r"title: unknown placeholder \{count\}; valid: fps, frame"):
        gpurender.export_point_cloud_video(seq, tmp_path / "x.mp4", title="{count} points", **SMALL)
    assert os.listdir(tmp_path) == []


def test_encoder_fallback_when_the_preferred_one_will_not_open(tmp_path, monkeypatch):
    refuse_encoder(monkeypatch, "libx264")
    log = io.StringIO()
    result = gpurender.export_point_cloud_video(example_sequence("sphere", 3, 300), tmp_path / "fb.mp4", fps=5,
                                                resolution="128x96", progress=Progress(stream=log, live=False))
    assert result.encoder not in ("libx264", "h264_nvenc")
    assert "falling back from libx264" in result.encoder_notice and result.encoder in log.getvalue()
    with av.open(result.path) as c:
        assert c.streams.video[0].codec_context.name == {"libx265": "hevc", "libsvtav1": "av1",
                                                         "libvpx-vp9": "vp9"}[result.encoder]
    assert len(decoded(result.path)) == 3

    from gpurender.encode import writer

    monkeypatch.setattr(writer._ContainerSink, "open", lambda sink: (_ for _ in ()).throw(EncodeError("no")))
    with pytest.raises(EncodeError, match="no video encoder would open"):
        gpurender.export_point_cloud_video(example_sequence("sphere", 3, 300), tmp_path / "none.mp4", **SMALL)
    assert sorted(os.listdir(tmp_path)) == ["fb.mp4"]


def test_audio_track_is_trimmed_to_the_video(tmp_path, song):
    result = gpurender.export_point_cloud_video(example_sequence("torus", 6, 500), tmp_path / "a.mp4", audio=song,
                                                **SMALL)
    with av.open(result.path) as c:
        assert c.streams.audio and c.streams.audio[0].codec_context.name == "aac"
        a = c.streams.audio[0]
        assert float(a.duration * a.time_base) == pytest.approx(1.2, abs=0.05)
    assert len(decoded(result.path)) == 6
    assert leftovers(tmp_path) == []


def test_verification_refuses_a_file_with_the_wrong_frame_count(tmp_path):
    result = gpurender.export_point_cloud_video(example_sequence("sphere", 3, 100), tmp_path / "v.mp4", **SMALL)
    assert output.verify_video(result.path, 3, 5, 128, 96, audio=False) == pytest.approx(0.6, abs=0.01)
    with pytest.raises(EncodeError, match="has 3 frames, not 4"):
        output.verify_video(result.path, 4, 5, 128, 96, audio=False)
    with pytest.raises(EncodeError, match="lost its sound"):
        output.verify_video(result.path, 3, 5, 128, 96, audio=True)


def test_same_input_same_frames(tmp_path):
    seq = example_sequence("torus", 3, 5000, colors="float")
    a = gpurender.export_point_cloud_video(seq, tmp_path / "a.mp4", lossless=True, **SMALL)
    b = gpurender.export_point_cloud_video(seq, tmp_path / "b.mp4", lossless=True, **SMALL)
    for x, y in zip(decoded(a.path, "yuv420p"), decoded(b.path, "yuv420p")):
        np.testing.assert_array_equal(x, y)


def _layer_image(points, colors, size=3.0, draw="depth", width=64, height=48):
    from gpurender.pointcloud.frames import ColorMapper, FrameFeed, Normalizer
    from gpurender.render.layers import pointseq  # noqa: F401
    from gpurender.render.renderer import FrameRenderer
    from gpurender.scene.model import Camera, Layer, Scene

    feed = FrameFeed([{"points": points, "colors": colors}], Normalizer((0, 0, 0), 1.0), ColorMapper("viridis", None), 1)
    layer = Layer(type="pointseq", params={"feed": feed, "size": size, "softness": 0.0, "brightness": 1.0, "draw": draw})
    scene = Scene(camera=Camera(distance=3.0, elevation=0.0, azimuth=0.0, orbit_speed=0.0), layers=(layer,))
    return FrameRenderer(scene, None, width, height, 10).render_rgba(0)


def test_splat_nearest_point_wins_whatever_the_order():
    near_red = ([0.0, 0.0, 0.5], [255, 0, 0])
    far_blue = ([0.0, 0.0, -0.5], [0, 0, 255])
    for order in ([near_red, far_blue], [far_blue, near_red]):
        pts = np.array([p for p, _ in order], np.float32)
        cols = np.array([c for _, c in order], np.uint8)
        img = _layer_image(pts, cols, size=6.0)
        centre = img[22:26, 30:34]
        assert (centre[..., 0] == 255).all() and (centre[..., 2] == 0).all()


def test_splat_depth_levels_still_separate_close_points_among_many():
    # 200,000 points need 18 index bits, leaving 14 for depth: a gap of 1% of the depth range
    # (the cloud spans -1..1 in z) must still decide which point is seen
    rng = np.random.default_rng(3)
    crowd = np.c_[rng.uniform(-1, 1, (200_000, 2)), np.full(200_000, -1.0)]
    crowd[:, 2][:2] = (1.0, 0.98)  # two points in the middle, the blue one 1% nearer
    crowd[:2, :2] = 0.0
    cols = np.zeros((200_000, 3), np.uint8)
    cols[0], cols[1] = (0, 0, 255), (255, 0, 0)
    img = _layer_image(crowd.astype(np.float32), cols, size=5.0)
    assert tuple(img[24, 32, :3]) == (0, 0, 255)
    img = _layer_image(crowd[::-1].astype(np.float32), cols[::-1], size=5.0)
    assert tuple(img[24, 32, :3]) == (0, 0, 255)


def test_splat_disc_area_follows_the_point_size():
    for size in (3.0, 9.0):
        img = _layer_image(np.zeros((1, 3), np.float32), np.array([[255, 255, 255]], np.uint8), size=size)
        lit = (img[..., 0] > 128).sum()
        assert abs(lit - np.pi * (size / 2) ** 2) <= size + 2


@pytest.mark.parametrize("draw", ["blend", "additive"])
def test_sprite_draw_modes_still_draw(draw):
    img = _layer_image(np.zeros((1, 3), np.float32), np.array([[0, 255, 0]], np.uint8), size=8.0, draw=draw)
    assert img[24, 32, 1] > 128 and img[0, 0, 1] == 0


def test_example_script_runs_at_a_small_size(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "pointcloud_sequence.py"), "--out-dir", str(tmp_path),
         "--frames", "4", "--points", "1500", "--resolution", "96x64"],
        capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ("torus.npz", "torus.mp4", "swirl.mp4"):
        assert (tmp_path / name).is_file()
    assert "wrote" in proc.stderr and len(decoded(tmp_path / "swirl.mp4")) == 4
