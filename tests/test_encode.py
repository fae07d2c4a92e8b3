"""Encode stage: encoder choice, the threaded VideoWriter, every codec/format, lossless, alpha, PNG."""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np
import pytest

from gpurender.encode import (
    CODECS,
    FORMATS,
    EncodeSettings,
    VideoWriter,
    choose_encoder,
    default_codec,
    format_from_path,
    probe_encoders,
)
from gpurender.encode.encoders import NVENC, SVTAV1_CRF, VP9_CRF, X264_CRF, X265_CRF, probe_encoder
from gpurender.errors import EncodeError
from media import fail_encoding_at

W, H, FPS = 64, 48, 30


def i420_frames(n, width=W, height=H, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, width * height * 3 // 2, dtype=np.uint8) for _ in range(n)]


def gradient_rgba(n, width=W, height=H):
    yy, xx = np.mgrid[0:height, 0:width]
    return [
        np.dstack([(xx * 4) % 256, (yy * 5) % 256, np.full_like(xx, (i * 40) % 256), (xx * 3 + yy * 2) % 256]).astype(
            np.uint8
        )
        for i in range(n)
    ]


def write_all(path, settings, frames, **kwargs):
    with VideoWriter(path, settings, **kwargs) as writer:
        for frame in frames:
            writer.write(frame.copy())
    return writer


def decode(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        info = {
            "codec": stream.codec_context.codec.canonical_name,
            "size": (stream.codec_context.width, stream.codec_context.height),
            "rate": stream.average_rate,
            "colour": (
                stream.codec_context.color_primaries,
                stream.codec_context.color_trc,
                stream.codec_context.colorspace,
                stream.codec_context.color_range,
            ),
        }
        frames = list(container.decode(stream))
    return info, frames


def leftovers(folder):
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


# -- formats and settings -------------------------------------------------------------------------


def test_format_from_path_and_defaults(tmp_path):
    assert format_from_path("a/b.MP4") == "mp4"
    assert format_from_path("x.webm") == "webm"
    assert format_from_path("x.mov") == "mov"
    assert format_from_path("x.mkv") == "mkv"
    assert format_from_path("x.png") == "png"
    assert format_from_path(str(tmp_path) + "/") == "png"
    assert format_from_path(tmp_path) == "png"
    with pytest.raises(EncodeError, match=r"\.mp4.*\.webm"):
        format_from_path("clip.avi")
    assert [default_codec(f) for f in FORMATS] == ["h264", "vp9", "prores", "h264", "png"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"format": "webm", "codec": "h264"}, "webm cannot hold h264"),
        ({"format": "mp4", "codec": "prores"}, "mp4 cannot hold prores"),
        ({"codec": "mpeg2"}, "codec 'mpeg2' is not known"),
        ({"format": "mp4", "alpha": True}, "transparent background"),
        ({"format": "mov", "lossless": True}, "ProRes is not lossless"),
        ({"encoder": "fast"}, "auto, gpu, cpu"),
        ({"quality": "ultra"}, "high, medium, low"),
        ({"gop": 0}, "keyframe interval"),
    ],
)
def test_bad_settings_are_one_line_errors(kwargs, message):
    with pytest.raises(EncodeError, match=message) as info:
        EncodeSettings(W, H, FPS, **kwargs)
    assert "\n" not in str(info.value)


def test_odd_size_refused_for_video_but_fine_for_png():
    with pytest.raises(EncodeError, match="odd"):
        EncodeSettings(63, 48, FPS)
    EncodeSettings(63, 47, FPS, format="png")


# -- encoder choice ---------------------------------------------------------------------------------

nvenc_opens = probe_encoder("h264_nvenc")[0]


def test_probe_reports_libx264_opening():
    table = {name: (ok, reason) for name, ok, reason in probe_encoders()}
    assert table["libx264"] == (True, "opened")
    assert set(NVENC.values()) <= set(table)
    assert all(isinstance(reason, str) and reason for _, reason in table.values())


def test_quality_maps_to_constant_quality_controls():
    crfs = [
        choose_encoder(EncodeSettings(W, H, FPS, encoder="cpu", quality=q)).options["crf"]
        for q in ("high", "medium", "low")
    ]
    assert crfs == [str(v) for v in X264_CRF] == ["18", "23", "28"]
    for fmt, codec, crfs in (("webm", "vp9", VP9_CRF), ("mkv", "av1", SVTAV1_CRF), ("mkv", "hevc", X265_CRF)):
        opts = [choose_encoder(EncodeSettings(W, H, FPS, format=fmt, codec=codec, quality=q, encoder="cpu")).options
                for q in ("high", "medium", "low")]
        assert [o["crf"] for o in opts] == [str(v) for v in crfs]
        # constant quality: no bitrate cap (VP9's "b" 0 is libvpx's constant-quality mode)
        assert all(o.get("b", "0") == "0" and "maxrate" not in o for o in opts)
    lossless = choose_encoder(EncodeSettings(W, H, FPS, encoder="cpu", lossless=True))
    assert lossless.options.get("qp") == "0" and "crf" not in lossless.options


@pytest.mark.skipif(nvenc_opens, reason="an NVIDIA encoder opens here; the fallback path is not taken")
def test_auto_falls_back_to_cpu_with_a_notice_and_gpu_refuses():
    choice = choose_encoder(EncodeSettings(W, H, FPS))
    assert choice.name == "libx264" and not choice.hardware
    assert "libx264" in choice.notice and "h264_nvenc" in choice.notice and "\n" not in choice.notice
    with pytest.raises(EncodeError, match="--encoder gpu"):
        choose_encoder(EncodeSettings(W, H, FPS, encoder="gpu"))
    assert choose_encoder(EncodeSettings(W, H, FPS, encoder="cpu")).name == "libx264"


@pytest.mark.skipif(not nvenc_opens, reason=f"no NVIDIA encoder opens here: {probe_encoder('h264_nvenc')[1]}")
@pytest.mark.parametrize("codec", ["h264", "hevc", "av1"])
def test_nvenc_writes_a_readable_file(tmp_path, codec):
    if not probe_encoder(NVENC[codec])[0]:
        pytest.skip(f"{NVENC[codec]} does not open: {probe_encoder(NVENC[codec])[1]}")
    settings = EncodeSettings(256, 144, FPS, format="mp4", codec=codec, encoder="gpu")
    writer = write_all(tmp_path / "gpu.mp4", settings, i420_frames(10, 256, 144))
    assert writer.choice.hardware and writer.choice.name == NVENC[codec]
    info, frames = decode(tmp_path / "gpu.mp4")
    assert info["codec"] == codec and len(frames) == 10


# -- every codec and format --------------------------------------------------------------------------

PAIRS = [
    ("mp4", "h264"),
    ("mp4", "hevc"),
    ("mp4", "av1"),
    ("mp4", "vp9"),
    ("webm", "vp9"),
    ("webm", "av1"),
    ("mov", "prores"),
    ("mov", "h264"),
    ("mkv", "h264"),
    ("mkv", "prores"),
    ("mkv", "ffv1"),
]


@pytest.mark.parametrize("fmt, codec", PAIRS)
def test_each_codec_and_format_reopens_exactly(tmp_path, fmt, codec):
    settings = EncodeSettings(W, H, FPS, format=fmt, codec=codec, encoder="cpu")
    path = tmp_path / f"clip.{fmt}"
    writer = write_all(path, settings, i420_frames(13))
    assert writer.frames_written == 13
    info, frames = decode(path)
    assert info["codec"] == codec
    assert info["size"] == (W, H)
    assert info["rate"] == FPS
    assert len(frames) == 13
    # BT.709 primaries, transfer and matrix (1), limited range (1); FFV1 holds R'G'B': matrix RGB (0), full range (2)
    assert info["colour"] == ((1, 1, 0, 2) if codec == "ffv1" else (1, 1, 1, 1))
    assert [round(f.pts * f.time_base * FPS) for f in frames] == list(range(13))
    assert leftovers(tmp_path) == []


def test_codecs_table_is_covered():
    assert {codec for _, codec in PAIRS} == set(CODECS)


def test_mp4_index_is_at_the_front(tmp_path):
    write_all(tmp_path / "a.mp4", EncodeSettings(W, H, FPS), i420_frames(5))
    data = (tmp_path / "a.mp4").read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")


def test_rgba_input_is_converted_with_bt709_limited_range(tmp_path):
    colour = np.zeros((H, W, 4), np.uint8)
    colour[...] = (200, 50, 100, 255)
    settings = EncodeSettings(W, H, FPS, format="mkv", lossless=True, encoder="cpu")
    write_all(tmp_path / "c.mkv", settings, [colour], input_format="rgba")
    _, frames = decode(tmp_path / "c.mkv")
    planes = frames[0].to_ndarray(format="yuv420p")
    r, g, b = 200 / 255, 50 / 255, 100 / 255
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    expected = (16 + 219 * y, 128 + 224 * (b - y) / 1.8556, 128 + 224 * (r - y) / 1.5748)
    got = (planes[0, 0], planes[H, 0], planes[H + H // 4, 0])
    assert np.allclose(got, expected, atol=1.0)


# -- lossless ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, codec", [("mp4", "h264"), ("mkv", "hevc"), ("webm", "vp9"), ("mkv", "av1")])
def test_lossless_round_trip_equals_input_planes(tmp_path, fmt, codec):
    source = i420_frames(5, seed=7)
    settings = EncodeSettings(W, H, FPS, format=fmt, codec=codec, lossless=True, encoder="cpu")
    write_all(tmp_path / f"l.{fmt}", settings, source)
    _, frames = decode(tmp_path / f"l.{fmt}")
    assert len(frames) == len(source)
    for frame, planes in zip(frames, source):
        assert frame.format.name == "yuv420p"
        np.testing.assert_array_equal(frame.to_ndarray().reshape(-1), planes)


def test_height_not_multiple_of_four_is_copied_exactly(tmp_path):
    source = i420_frames(3, 64, 50, seed=3)
    settings = EncodeSettings(64, 50, FPS, format="mkv", lossless=True, encoder="cpu")
    write_all(tmp_path / "odd.mkv", settings, source)
    _, frames = decode(tmp_path / "odd.mkv")
    for frame, planes in zip(frames, source):
        np.testing.assert_array_equal(frame.to_ndarray().reshape(-1), planes)


# -- alpha and PNG sequences -----------------------------------------------------------------------


def test_alpha_survives_in_prores_4444(tmp_path):
    source = gradient_rgba(3)
    settings = EncodeSettings(W, H, FPS, format="mov", codec="prores", alpha=True)
    writer = write_all(tmp_path / "a.mov", settings, source, input_format="rgba")
    assert writer.choice.options["profile"] == "4"
    _, frames = decode(tmp_path / "a.mov")
    assert len(frames) == 3
    for frame, rgba in zip(frames, source):
        assert frame.format.name.startswith("yuva444p")
        out = frame.to_ndarray(format="rgba")
        assert np.abs(out[..., 3].astype(int) - rgba[..., 3]).max() <= 1
        assert np.abs(out[..., :3].astype(int) - rgba[..., :3]).max() <= 3


def test_alpha_needs_rgba_frames(tmp_path):
    settings = EncodeSettings(W, H, FPS, format="mov", alpha=True)
    with pytest.raises(EncodeError, match="RGBA"):
        VideoWriter(tmp_path / "a.mov", settings)


def test_png_sequence_into_a_folder_keeps_alpha(tmp_path):
    source = gradient_rgba(4)
    settings = EncodeSettings(W, H, FPS, format="png", alpha=True)
    write_all(tmp_path / "frames", settings, source, input_format="rgba")
    names = sorted(os.listdir(tmp_path / "frames"))
    assert names == [f"frame_{i:06d}.png" for i in range(4)]
    for name, rgba in zip(names, source):
        with av.open(str(tmp_path / "frames" / name)) as container:
            frame = next(container.decode(video=0))
        assert frame.format.name == "rgba"
        np.testing.assert_array_equal(frame.to_ndarray(), rgba)
    assert leftovers(tmp_path) == []


def test_png_sequence_names(tmp_path):
    settings = EncodeSettings(W, H, FPS, format="png")
    write_all(tmp_path / "take_%03d.png", settings, i420_frames(2))
    write_all(tmp_path / "shot.png", settings, i420_frames(2))
    assert sorted(os.listdir(tmp_path)) == ["shot_000000.png", "shot_000001.png", "take_000.png", "take_001.png"]
    with av.open(str(tmp_path / "take_001.png")) as container:
        assert next(container.decode(video=0)).format.name == "rgb24"


# -- errors, abort, interrupt -----------------------------------------------------------------------


def test_error_inside_the_encoder_thread_surfaces_and_leaves_nothing(tmp_path, monkeypatch):
    fail_encoding_at(monkeypatch, 3)
    target = tmp_path / "broken.mp4"
    with pytest.raises(EncodeError, match="libx264 failed at frame 3: simulated encoder failure"):
        with VideoWriter(target, EncodeSettings(W, H, FPS, encoder="cpu"), queue_size=2) as writer:
            for frame in i420_frames(40):
                writer.write(frame)
    assert not target.exists()
    assert os.listdir(tmp_path) == []


def test_error_surfaces_at_close_too(tmp_path, monkeypatch):
    def failing(self, frame):
        raise RuntimeError("boom")

    monkeypatch.setattr(VideoWriter, "_encode", failing)
    writer = VideoWriter(tmp_path / "x.mkv", EncodeSettings(W, H, FPS, format="mkv"))
    writer.write(i420_frames(1)[0])
    with pytest.raises(EncodeError, match="boom"):
        writer.close()
    assert os.listdir(tmp_path) == []


def test_wrong_frame_size_is_an_encode_error_and_leaves_nothing(tmp_path):
    target = tmp_path / "bad.mp4"
    writer = VideoWriter(target, EncodeSettings(W, H, FPS))
    writer.write(i420_frames(1)[0])
    with pytest.raises(EncodeError, match="frame 1 has 100 bytes"):
        writer.write(np.zeros(100, np.uint8))
    assert os.listdir(tmp_path) == []
    with pytest.raises(EncodeError, match="already closed"):
        writer.write(i420_frames(1)[0])


def test_abort_leaves_nothing(tmp_path):
    writer = VideoWriter(tmp_path / "a.webm", EncodeSettings(W, H, FPS, format="webm"))
    for frame in i420_frames(5):
        writer.write(frame)
    writer.abort()
    writer.abort()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("fmt", ["mp4", "png"])
def test_keyboard_interrupt_leaves_nothing(tmp_path, fmt):
    target = tmp_path / ("out.mp4" if fmt == "mp4" else "frames")
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(target, EncodeSettings(W, H, FPS, format=fmt)) as writer:
            for i, frame in enumerate(i420_frames(6)):
                writer.write(frame)
                if i == 4:
                    raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_missing_output_folder_is_a_clear_error(tmp_path):
    with pytest.raises(EncodeError, match="does not exist"):
        VideoWriter(tmp_path / "nope" / "a.mp4", EncodeSettings(W, H, FPS))


def test_writer_overlaps_and_keeps_order(tmp_path):
    # a tiny queue forces the caller to wait on the thread; frames must still come out in order
    source = i420_frames(20, seed=11)
    settings = EncodeSettings(W, H, FPS, format="mkv", lossless=True, encoder="cpu")
    write_all(tmp_path / "o.mkv", settings, source, queue_size=1)
    _, frames = decode(tmp_path / "o.mkv")
    assert [f.time_base * f.pts for f in frames] == [Fraction(round(i * 1000 / FPS), 1000) for i in range(20)]
    for frame, planes in zip(frames, source):
        np.testing.assert_array_equal(frame.to_ndarray().reshape(-1), planes)
