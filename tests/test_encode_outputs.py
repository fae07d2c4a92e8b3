"""Every output, reopened: codec, codec tag, pixel format, alpha present (or warned about), bit depth,
frame count; through the writer, the audio mux and the segment join. Small frames, a few each."""

from __future__ import annotations

import av
import numpy as np
import pytest

from gpurender.encode import (
    CODECS,
    FORMATS,
    PROFILES,
    EncodeSettings,
    VideoWriter,
    alpha_plan,
    choose_encoder,
    concat_segments,
    mux_audio,
)
from gpurender.encode.encoders import CPU_ENCODER, NVENC, probe_encoder
from gpurender.encode.formats import ALPHA, COMPATIBLE
from gpurender.errors import EncodeError
from gpurender.render.convert import rgb_to_yuv420_cpu

W, H, FPS = 64, 48, 30
SR = 48000


class Tone:
    """Half a second of quiet stereo, for the mux."""

    sample_rate = SR
    samples = (0.1 * np.sin(np.linspace(0, 400, SR // 2, dtype=np.float32)))[:, None].repeat(2, 1)


def rgba_frames(n, seed=0):
    """Straight RGBA with every alpha from clear to opaque: a ramp across, a square moving."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        rgba = np.zeros((H, W, 4), np.uint8)
        rgba[..., :3] = rng.integers(40, 216, 3, dtype=np.uint8)
        rgba[..., 3] = np.linspace(0, 255, W).round().astype(np.uint8)[None, :]
        rgba[8:24, 4 + 4 * i:20 + 4 * i] = (250, 250, 250, 255)
        frames.append(rgba)
    return frames


def yuv10_frames(n, seed=0, layout="yuv420p10le", smooth=False):
    """10-bit frames: random codes (lossless tests), or gentle moving gradients (lossy ones)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W] / 64.0
    frames = []
    for i in range(n):
        if smooth:
            rgb = np.dstack([0.5 + 0.3 * np.sin(2 * xx + i / 3 + k) * np.cos(3 * yy) for k in range(3)])
        else:
            rgb = rng.random((H, W, 3)) * 0.5 + 0.25
        frames.append(rgb_to_yuv420_cpu(rgb, layout))
    return frames


def write(path, settings, frames, **kwargs):
    with VideoWriter(path, settings, **kwargs) as writer:
        for frame in frames:
            writer.write(frame.copy())
    return writer


def video_info(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        return {"codec": ctx.name, "tag": ctx.codec_tag, "profile": ctx.profile, "pix_fmt": ctx.format.name,
                "metadata": dict(stream.metadata), "audio": len(container.streams.audio),
                "frames": sum(1 for p in container.demux(stream) if p.size)}


def decode_vp9_alpha(path):
    """Frames decoded by FFmpeg's libvpx-vp9 decoder, which reads the alpha the native vp9 decoder ignores."""
    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        ctx = av.CodecContext.create("libvpx-vp9", "r")
        for packet in container.demux(stream):
            frames.extend(ctx.decode(packet))
    return frames


def alpha_mode_element(path) -> bool:
    """Whether the Matroska track header says AlphaMode 1 (what browsers look for)."""
    return b"\x53\xc0\x81\x01" in open(path, "rb").read(4096)


# -- the tables and the plan ------------------------------------------------------------------------


def test_every_codec_has_profiles_and_every_pair_a_default():
    for codec in CODECS:
        assert CPU_ENCODER[codec] in PROFILES
        assert PROFILES[CPU_ENCODER[codec]].codec == codec
    assert set(NVENC) == {"h264", "hevc", "av1"} and all(PROFILES[n].hardware for n in NVENC.values())
    for fmt, codecs in ALPHA.items():
        assert set(codecs) <= set(COMPATIBLE[fmt])
        for codec in codecs:
            assert PROFILES[CPU_ENCODER[codec]].pix_fmt_alpha, f"{codec} keeps alpha in {fmt} but has no alpha format"


@pytest.mark.parametrize("fmt, codec, keeps", [
    ("webm", None, True), ("mkv", "vp9", True), ("mov", None, True), ("mkv", "prores", True), ("png", None, True),
    ("mkv", "ffv1", True), ("mp4", None, False), ("mp4", "vp9", False), ("webm", "av1", False), ("mov", "h264", False),
    ("mkv", "hevc", False),
])
def test_alpha_plan(fmt, codec, keeps):
    alpha, warning = alpha_plan(fmt, codec, True)
    assert alpha is keeps
    if keeps:
        assert warning is None
    else:
        assert "alpha" in warning and "\n" not in warning
        for keeper in ("webm", "mov", "png"):
            assert keeper in warning
    assert alpha_plan(fmt, codec, False) == (False, None)


# -- VP9 with alpha in WebM: writer, mux with audio, segment join ---------------------------------------


def test_vp9_alpha_survives_writer_mux_and_join(tmp_path):
    source = rgba_frames(6)
    settings = EncodeSettings(W, H, FPS, format="webm", alpha=True)
    writer = write(tmp_path / "v.webm", settings, source, input_format="rgba")
    assert writer.choice.pix_fmt == "yuva420p" and "alpha" in writer.choice.output

    mux_audio(tmp_path / "v.webm", Tone(), tmp_path / "muxed.webm", duration=6 / FPS, format="webm")
    # a second copy (the output routine joins, then muxes) reads the flag back as a tag: still kept
    mux_audio(tmp_path / "muxed.webm", None, tmp_path / "twice.webm", format="webm")
    # chunk segments are Matroska files with closed GOPs, joined by stream copy
    seg = EncodeSettings(W, H, FPS, format="mkv", codec="vp9", alpha=True, gop=3)
    write(tmp_path / "s0.mkv", seg, source[:3], input_format="rgba")
    write(tmp_path / "s1.mkv", seg, source[3:], input_format="rgba")
    concat_segments([tmp_path / "s0.mkv", tmp_path / "s1.mkv"], tmp_path / "joined.webm", fps=FPS)

    for name in ("v.webm", "muxed.webm", "twice.webm", "joined.webm"):
        path = tmp_path / name
        info = video_info(path)
        assert info["codec"] == "vp9" and info["frames"] == 6, name
        assert alpha_mode_element(path), f"{name}: the track lost AlphaMode"
        assert info["audio"] == (1 if name == "muxed.webm" else 0)
        frames = decode_vp9_alpha(path)
        assert len(frames) == 6 and all(f.format.name == "yuva420p" for f in frames), name
        for frame, rgba in zip(frames, source):
            alpha = frame.to_ndarray(format="rgba")[..., 3].astype(int)
            assert np.abs(alpha - rgba[..., 3]).mean() < 3, name  # lossy, but the ramp is there
            assert alpha[:, 0].mean() < 20 and alpha[:, -1].mean() > 235


def test_vp9_lossless_alpha_is_exact(tmp_path):
    source = rgba_frames(3)
    settings = EncodeSettings(W, H, FPS, format="webm", alpha=True, lossless=True)
    write(tmp_path / "l.webm", settings, source, input_format="rgba")
    for frame, rgba in zip(decode_vp9_alpha(tmp_path / "l.webm"), source):
        np.testing.assert_array_equal(frame.to_ndarray(format="rgba")[..., 3], rgba[..., 3])


# -- ProRes: tagged by profile, kept through mux and join ---------------------------------------------


@pytest.mark.parametrize("alpha, tag, profile, pix", [(True, "ap4h", "4444", "yuva444p"), (False, "apch", "HQ", "yuv422p")])
def test_prores_tag_matches_what_it_holds(tmp_path, alpha, tag, profile, pix):
    settings = EncodeSettings(W, H, FPS, format="mov", alpha=alpha)
    frames = rgba_frames(3) if alpha else [rgb_to_yuv420_cpu(f / 255.0, "yuv420p") for f in rgba_frames(3)]
    writer = write(tmp_path / "p.mov", settings, frames, input_format="rgba" if alpha else "yuv420p")
    assert writer.choice.codec_tag == tag and tag in writer.choice.notice
    mux_audio(tmp_path / "p.mov", Tone(), tmp_path / "muxed.mov", duration=3 / FPS, format="mov")
    seg = EncodeSettings(W, H, FPS, format="mkv", codec="prores", alpha=alpha, gop=3)
    write(tmp_path / "s0.mkv", seg, frames, input_format=writer.input_format)
    write(tmp_path / "s1.mkv", seg, frames, input_format=writer.input_format)
    concat_segments([tmp_path / "s0.mkv", tmp_path / "s1.mkv"], tmp_path / "joined.mov", fps=FPS)
    for name, count in (("p.mov", 3), ("muxed.mov", 3), ("s0.mkv", 3), ("joined.mov", 6)):
        info = video_info(tmp_path / name)
        assert (info["codec"], info["tag"], info["profile"], info["frames"]) == ("prores", tag, profile, count), name
        assert info["pix_fmt"].startswith(pix), name
    with av.open(str(tmp_path / "joined.mov")) as container:
        frame = next(container.decode(video=0))
    assert frame.format.name.startswith("yuva" if alpha else "yuv4")
    if alpha:
        assert np.abs(frame.to_ndarray(format="rgba")[..., 3].astype(int) - frames[0][..., 3]).max() <= 1


# -- no alpha where the container cannot carry it ---------------------------------------------------------


@pytest.mark.parametrize("fmt, codec", [("mp4", "h264"), ("mp4", "vp9"), ("webm", "av1"), ("mov", "h264")])
def test_alpha_in_a_codec_without_it_is_refused_by_the_encoder_settings(fmt, codec):
    with pytest.raises(EncodeError, match="alpha") as info:
        EncodeSettings(W, H, FPS, format=fmt, codec=codec, alpha=True)
    assert "webm" in str(info.value) and "\n" not in str(info.value)


# -- RGB-exact archive: FFV1 in MKV ---------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [False, True])
def test_ffv1_keeps_the_rendered_rgb_exactly(tmp_path, alpha):
    source = rgba_frames(4, seed=5)
    if not alpha:
        for frame in source:
            frame[..., 3] = 255
    settings = EncodeSettings(W, H, FPS, format="mkv", codec="ffv1", alpha=alpha)
    writer = write(tmp_path / "a.mkv", settings, source, input_format="auto")
    assert writer.input_format == "rgba" and writer.choice.pix_fmt == ("bgra" if alpha else "bgr0")
    assert "exactly" in writer.choice.notice and "lossless FFV1" in writer.choice.notice
    mux_audio(tmp_path / "a.mkv", Tone(), tmp_path / "muxed.mkv", duration=4 / FPS, format="mkv")
    with av.open(str(tmp_path / "muxed.mkv")) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 4
    for frame, rgba in zip(frames, source):
        got = frame.to_ndarray(format="rgba")
        np.testing.assert_array_equal(got[..., :3], rgba[..., :3])
        if alpha:
            np.testing.assert_array_equal(got[..., 3], rgba[..., 3])


def test_lossless_says_what_it_produced():
    choice = choose_encoder(EncodeSettings(W, H, FPS, lossless=True, encoder="cpu"))
    assert "lossless H.264 (yuv420p, 8-bit 4:2:0 chroma)" in choice.notice
    assert "ffv1" in choice.notice  # and where the RGB-exact archive is
    lossy = choose_encoder(EncodeSettings(W, H, FPS, format="webm"))
    assert "VP9 high (crf" in lossy.notice


# -- 10-bit ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, codec, profile", [("mp4", "hevc", "Main 10"), ("mkv", "av1", "Main"),
                                                 ("mp4", "h264", "High 10")])
def test_10bit_lossy_is_10bit_with_bt709_tags(tmp_path, fmt, codec, profile):
    source = yuv10_frames(5, smooth=True)
    settings = EncodeSettings(W, H, FPS, format=fmt, codec=codec, bit_depth=10, encoder="cpu")
    writer = write(tmp_path / f"t.{fmt}", settings, source, input_format="auto")
    assert writer.input_format == "yuv420p10le" and "10-bit" in writer.choice.notice
    with av.open(str(tmp_path / f"t.{fmt}")) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        assert (ctx.name if codec != "av1" else "av1") == codec or ctx.codec.name in ("libdav1d", "av1")
        assert ctx.profile == profile
        assert (ctx.color_primaries, ctx.color_trc, ctx.colorspace, ctx.color_range) == (1, 1, 1, 1)
        frames = list(container.decode(stream))
    assert len(frames) == 5 and all(f.format.name == "yuv420p10le" for f in frames)
    # near the source: within a couple of 10-bit codes on average on gentle gradients
    got = _samples16(frames[2])
    assert np.abs(got.astype(int) - source[2]).mean() < 3


def _samples16(frame) -> np.ndarray:
    out = []
    sizes = ((H, W), (H // 2, W // 2), (H // 2, W // 2))
    for plane, (rows, cols) in zip(frame.planes, sizes):
        out.append(np.frombuffer(plane, np.uint16).reshape(-1, plane.line_size // 2)[:rows, :cols].ravel())
    return np.concatenate(out)


@pytest.mark.parametrize("fmt, codec", [("mkv", "hevc"), ("mkv", "av1"), ("mkv", "h264")])
@pytest.mark.parametrize("layout", ["yuv420p10le", "p010le"])
def test_10bit_lossless_round_trip_is_exact(tmp_path, fmt, codec, layout):
    source = yuv10_frames(3, seed=3, layout=layout)
    settings = EncodeSettings(W, H, FPS, format=fmt, codec=codec, bit_depth=10, lossless=True, encoder="cpu")
    write(tmp_path / f"l.{fmt}", settings, source, input_format=layout)
    with av.open(str(tmp_path / f"l.{fmt}")) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 3
    planar = yuv10_frames(3, seed=3)  # the same codes, planar
    for frame, want in zip(frames, planar):
        assert frame.format.name == "yuv420p10le"
        np.testing.assert_array_equal(_samples16(frame), want)


def test_10bit_segments_join_and_mux(tmp_path):
    source = yuv10_frames(4)
    seg = EncodeSettings(W, H, FPS, format="mkv", codec="hevc", bit_depth=10, gop=2, encoder="cpu")
    write(tmp_path / "s0.mkv", seg, source[:2], input_format="yuv420p10le")
    write(tmp_path / "s1.mkv", seg, source[2:], input_format="yuv420p10le")
    concat_segments([tmp_path / "s0.mkv", tmp_path / "s1.mkv"], tmp_path / "v.mp4", fps=FPS)
    mux_audio(tmp_path / "v.mp4", Tone(), tmp_path / "out.mp4", duration=4 / FPS, format="mp4")
    info = video_info(tmp_path / "out.mp4")
    assert (info["codec"], info["tag"], info["profile"], info["pix_fmt"], info["frames"], info["audio"]) == \
        ("hevc", "hvc1", "Main 10", "yuv420p10le", 4, 1)


@pytest.mark.parametrize("kwargs, words", [
    ({"format": "webm"}, "VP9 in this build is 8-bit only"),
    ({"format": "png"}, "PNG here is 8-bit only"),
    ({"format": "mkv", "codec": "ffv1"}, "FFV1 here is 8-bit only"),
    ({"bit_depth": 12}, "use 8 or 10"),
])
def test_10bit_where_a_codec_cannot_is_one_clear_line(kwargs, words):
    kwargs = {"bit_depth": 10, **kwargs}
    with pytest.raises(EncodeError, match=words) as info:
        EncodeSettings(W, H, FPS, **kwargs)
    assert "\n" not in str(info.value)
    if kwargs["bit_depth"] == 10:
        assert "hevc or av1" in str(info.value)


def test_prores_is_10bit_either_way():
    for depth in (8, 10):
        choice = choose_encoder(EncodeSettings(W, H, FPS, format="mov", bit_depth=depth))
        assert choice.pix_fmt == "yuv422p10le"
        assert choice.input_format == ("yuv420p10le" if depth == 10 else "yuv420p")


nvenc_hevc = probe_encoder("hevc_nvenc")


@pytest.mark.skipif(not nvenc_hevc[0], reason=f"hevc_nvenc does not open here: {nvenc_hevc[1]}")
def test_nvenc_10bit_takes_p010_from_the_gpu(tmp_path):
    settings = EncodeSettings(256, 144, FPS, format="mp4", codec="hevc", bit_depth=10, encoder="gpu")
    choice = choose_encoder(settings)
    assert choice.pix_fmt == choice.input_format == "p010le"
    rng = np.random.default_rng(1)
    frames = [rgb_to_yuv420_cpu(rng.random((144, 256, 3)), "p010le") for _ in range(4)]
    write(tmp_path / "n.mp4", settings, frames, input_format="auto")
    info = video_info(tmp_path / "n.mp4")
    assert (info["codec"], info["profile"], info["pix_fmt"], info["frames"]) == ("hevc", "Main 10", "yuv420p10le", 4)


def test_formats_table_unchanged_for_the_cli():
    assert FORMATS == ("mp4", "webm", "mov", "mkv", "png")
    assert "ffv1" in CODECS and COMPATIBLE["mkv"] == CODECS
