"""Exact frame rates: 24000/1001, 30000/1001, 60000/1001 and their decimal names, end to end."""

from __future__ import annotations

from fractions import Fraction

import av
import pytest
from click.testing import CliRunner

from gpurender.cli import main
from gpurender.errors import GpurenderError
from gpurender.settings import check_fps, fps_label, frame_span
from media import assert_same_frames, decoded

NTSC = Fraction(30000, 1001)


@pytest.mark.parametrize("given, exact", [
    ("30", 30), (60, 60), ("24000/1001", Fraction(24000, 1001)), ("30000/1001", NTSC),
    ("60000/1001", Fraction(60000, 1001)), ("23.976", Fraction(24000, 1001)), ("29.97", NTSC),
    ("59.94", Fraction(60000, 1001)), (29.97, NTSC), (Fraction(25, 1), 25), ("50/2", 25), ("120.0", 120),
])
def test_frame_rates_are_read_exactly(given, exact):
    value = check_fps(given)
    assert value == exact and type(value) is type(exact)


@pytest.mark.parametrize("given", ["29.5", "0", "-30", "30/0", "abc", "1001/0", 0, True, 2000, "25.1"])
def test_other_frame_rates_are_refused_in_one_line(given):
    with pytest.raises(GpurenderError, match="fps"):
        check_fps(given)


def test_labels_and_spans_use_the_exact_rate():
    assert fps_label(NTSC) == "29.97" and fps_label(Fraction(24000, 1001)) == "23.976" and fps_label(30) == "30"
    # 10 s at 30000/1001 is 299.7 frames: 300 of them; starting at 1 s is frame round(29.97) = 30
    assert frame_span(0.0, None, NTSC, 10.0) == (0, 300)
    assert frame_span(1.0, 2.0, NTSC, 10.0) == (30, 60)
    # a tie rounds to even, in exact arithmetic (a float product would not be a tie)
    assert frame_span(0.0, 1001 / 2000, NTSC, 10.0) == (0, 15 - 1 + 1)


def test_analysis_windows_end_on_the_exact_grid(song):
    from gpurender.audio import load_audio
    from gpurender.audio.framing import frame_end_samples

    audio = load_audio(song)
    ends = frame_end_samples(60, audio.sample_rate, NTSC)
    assert [int(e) for e in ends[:4]] == [0, 1471, 2943, 4414]  # round(i * 44100 * 1001 / 30000)
    assert all(int(e) == round(Fraction(i * 44100 * 1001, 30000)) for i, e in enumerate(ends))


def _timestamps(path):
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        rate = stream.average_rate
        times = sorted(float(p.pts * stream.time_base) for p in c.demux(stream) if p.pts is not None and p.size)
        audio = c.streams.audio[0]
        audio_seconds = float(audio.duration * audio.time_base) if audio.duration else float(c.duration / av.time_base)
    return rate, times, audio_seconds


@pytest.mark.parametrize("fmt, tolerance", [("mp4", 1e-9), ("mov", 1e-9), ("mkv", 0.0011)])
def test_a_2997_render_has_the_exact_rate_count_timestamps_and_audio_span(tmp_path, small_scene, song, fmt,
                                                                         tolerance):
    out = tmp_path / f"clip.{fmt}"
    codec = ["--codec", "h264"] if fmt == "mov" else []
    result = CliRunner().invoke(main, ["render", str(small_scene), "--audio", str(song), "-o", str(out),
                                       "--resolution", "64x48", "--fps", "29.97", "--quiet", *codec],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rate, times, audio_seconds = _timestamps(out)
    n = round(2.0 * NTSC)  # the song lasts 2 s: 59.94 -> 60 frames
    assert n == 60 and len(times) == n
    if fmt != "mkv":
        assert rate == NTSC
    for i, t in enumerate(times):  # no drift: every frame at i / fps
        assert abs(t - float(i / NTSC)) <= tolerance, (i, t)
    assert abs(audio_seconds - float(n / NTSC)) < 0.03  # trimmed to the video's span (AAC frames of 23 ms)


def test_chunked_2997_render_joins_without_drift(tmp_path, small_scene, song):
    single, chunked = tmp_path / "one.mkv", tmp_path / "many.mkv"
    args = ["render", str(small_scene), "--audio", str(song), "--resolution", "64x48", "--fps", "30000/1001",
            "--lossless", "--quiet"]
    runner = CliRunner()
    assert runner.invoke(main, [*args, "-o", str(single)], catch_exceptions=False).exit_code == 0
    result = runner.invoke(main, [*args, "-o", str(chunked), "--chunks", "3"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert_same_frames(decoded(chunked), decoded(single))
    _, times, _ = _timestamps(chunked)
    assert len(times) == 60
    for i, t in enumerate(times):
        assert abs(t - float(i / NTSC)) <= 0.0011, (i, t)


def test_point_export_at_an_exact_rate(tmp_path):
    import gpurender
    from gpurender.pointcloud import example_sequence

    result = gpurender.export_point_cloud_video(example_sequence("sphere", 6, 200), tmp_path / "p.mp4",
                                                fps="24000/1001", resolution="64x48", progress=False)
    assert result.frames == 6 and "at 23.976 fps" in result.summary()
    with av.open(result.path) as c:
        assert c.streams.video[0].average_rate == Fraction(24000, 1001)
