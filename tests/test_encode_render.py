"""Scene renders to each kind of output, reopened: alpha kept (VP9 in WebM, ProRes 4444 in MOV) or
warned about (H.264 in MP4), 10-bit HEVC from the float composite, in one pass and in chunks."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from gpurender.audio import demo_track
from gpurender.farm import JobOptions
from gpurender.pipeline import render_video
from gpurender.progress import Progress
from gpurender.render.convert import rgb_to_yuv420_cpu
from gpurender.scene import scene_from_dict
from gpurender.settings import RenderSettings

W, H, FPS = 64, 48, 12
TRANSPARENT = {"background": "transparent", "layers": [{"type": "spectrum", "bars": 8, "opacity": 0.8}]}
OPAQUE = {"background": "#203040", "layers": [{"type": "spectrum", "bars": 8, "opacity": 0.55}]}


@pytest.fixture(scope="module")
def audio():
    return demo_track(duration=1.0)


def render(scene, audio, path, job=None, **settings):
    stream = io.StringIO()
    result = render_video(scene_from_dict(scene), audio, path,
                          RenderSettings(width=W, height=H, fps=FPS, duration=0.5, **settings),
                          Progress(stream=stream, live=False), job=job)
    return result, stream.getvalue()


def vp9_alpha_frames(path):
    with av.open(str(path)) as container:
        ctx = av.CodecContext.create("libvpx-vp9", "r")
        return [f for p in container.demux(container.streams.video[0]) for f in ctx.decode(p)]


@pytest.mark.parametrize("chunked", [False, True])
def test_transparent_scene_to_webm_is_vp9_with_alpha(tmp_path, audio, chunked):
    job = JobOptions(chunk_frames=3) if chunked else None
    result, log = render(TRANSPARENT, audio, tmp_path / "a.webm", job=job)
    assert "warning" not in log
    if not chunked:
        assert "VP9 high" in log and "with alpha" in log  # the encoder notice names what was written
    frames = vp9_alpha_frames(tmp_path / "a.webm")
    assert len(frames) == result.frames == 6
    assert all(f.format.name == "yuva420p" for f in frames)
    alpha = frames[3].to_ndarray(format="rgba")[..., 3]
    assert alpha.min() < 10 and alpha.max() > 150  # clear background, bars drawn
    with av.open(str(tmp_path / "a.webm")) as container:
        assert container.streams.audio
    assert b"\x53\xc0\x81\x01" in (tmp_path / "a.webm").read_bytes()[:4096]  # the track's AlphaMode 1


def test_transparent_scene_to_mov_is_prores_4444_tagged_ap4h(tmp_path, audio):
    render(TRANSPARENT, audio, tmp_path / "a.mov")
    with av.open(str(tmp_path / "a.mov")) as container:
        ctx = container.streams.video[0].codec_context
        assert (ctx.codec_tag, ctx.profile) == ("ap4h", "4444")
        frame = next(container.decode(video=0))
        assert frame.format.name.startswith("yuva444p")


def test_transparent_scene_to_mp4_warns_about_alpha(tmp_path, audio):
    result, log = render(TRANSPARENT, audio, tmp_path / "a.mp4")
    warnings = [line for line in log.splitlines() if "alpha" in line]
    assert len(warnings) == 1 and "webm" in warnings[0] and "mov" in warnings[0] and "png" in warnings[0]
    with av.open(str(tmp_path / "a.mp4")) as container:
        assert container.streams.video[0].codec_context.format.name == "yuv420p"
    assert result.frames == 6


@pytest.mark.parametrize("chunked", [False, True])
def test_10bit_hevc_render_is_main10_from_the_float_composite(tmp_path, audio, chunked):
    job = JobOptions(chunk_frames=3) if chunked else None
    result, log = render(OPAQUE, audio, tmp_path / "t.mp4", job=job, codec="hevc", bit_depth=10, encoder="cpu",
                         lossless=True)
    with av.open(str(tmp_path / "t.mp4")) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        assert (ctx.name, ctx.codec_tag, ctx.profile, ctx.format.name) == ("hevc", "hvc1", "Main 10", "yuv420p10le")
        assert (ctx.color_primaries, ctx.color_trc, ctx.colorspace) == (1, 1, 1)
        frames = list(container.decode(stream))
    assert len(frames) == 6
    y = np.frombuffer(frames[2].planes[0], np.uint16).reshape(H, -1)[:, :W]
    assert y.min() >= 64 and y.max() <= 940
    # the 55%-opacity bars over the background blend to codes between 8-bit steps
    assert (y % 4 != 0).mean() > 0.2


def test_10bit_vp9_is_refused_before_any_work(tmp_path, audio):
    from gpurender.errors import EncodeError

    with pytest.raises(EncodeError, match="8-bit only"):
        render(OPAQUE, audio, tmp_path / "t.webm", bit_depth=10)
    assert not list(tmp_path.iterdir())


def test_lossless_render_names_what_it_produced(tmp_path, audio):
    result, log = render(OPAQUE, audio, tmp_path / "l.mkv", lossless=True, encoder="cpu")
    assert "lossless H.264 (yuv420p, 8-bit 4:2:0 chroma)" in log


def test_ffv1_render_is_the_rendered_rgb_exactly(tmp_path, audio):
    from gpurender.render.renderer import FrameRenderer
    from gpurender.audio import analyze

    render(OPAQUE, audio, tmp_path / "a.mkv", codec="ffv1")
    with av.open(str(tmp_path / "a.mkv")) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    renderer = FrameRenderer(scene_from_dict(OPAQUE), analyze(audio, FPS), W, H, FPS)
    expected = [rgba[..., :3] for _, rgba in renderer.frames(0, 6, output="rgba")]
    assert len(frames) == 6
    for got, want in zip(frames, expected):
        np.testing.assert_array_equal(got, want)
    # the 8-bit conversion of those frames is what an 8-bit encoder gets: FFV1 skips it
    assert rgb_to_yuv420_cpu(expected[0] / 255.0, "yuv420p").size == W * H * 3 // 2


def test_cli_bit_depth_and_choices_from_the_tables(tmp_path, small_scene, song):
    from click.testing import CliRunner

    from gpurender.cli import main

    small = ["--resolution", "64x48", "--fps", "12", "--duration", "0.5", "--quiet"]
    out = tmp_path / "t.mkv"
    result = CliRunner().invoke(main, ["render", str(small_scene), "-a", str(song), "-o", str(out), "--codec", "hevc",
                                       "--bit-depth", "10", *small])
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as container:
        ctx = container.streams.video[0].codec_context
        assert (ctx.profile, ctx.format.name) == ("Main 10", "yuv420p10le")
    refused = CliRunner().invoke(main, ["render", str(small_scene), "-a", str(song), "-o", str(tmp_path / "t.webm"),
                                        "--bit-depth", "10", *small])
    assert refused.exit_code != 0 and "8-bit only" in refused.output
    assert len([line for line in refused.output.splitlines() if line.strip()]) == 1
    assert not (tmp_path / "t.webm").exists()
    helptext = CliRunner().invoke(main, ["render", "--help"]).output
    assert "ffv1" in helptext and "--bit-depth" in helptext
