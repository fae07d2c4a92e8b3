"""Encode stage: audio mux (trim, sync, codecs, faststart) and segment concatenation."""

from __future__ import annotations

import os
from fractions import Fraction
from types import SimpleNamespace

import av
import numpy as np
import pytest
import soundfile

from gpurender.encode import EncodeSettings, VideoWriter, concat_segments, mux_audio
from gpurender.errors import AudioError, EncodeError

W, H, FPS = 64, 48, 30


def i420_frames(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, W * H * 3 // 2, dtype=np.uint8) for _ in range(n)]


def write_video(path, frames, **settings):
    with VideoWriter(path, EncodeSettings(W, H, FPS, **settings)) as writer:
        for frame in frames:
            writer.write(frame.copy())
    return path


def burst_track(sr=44100, seconds=3.0, onset=1.0, channels=2):
    """Silence, then a loud tone from ``onset`` on: the onset shows where the audio sits in time."""
    t = np.arange(int(sr * seconds)) / sr
    tone = 0.5 * np.sin(2 * np.pi * 440 * t) * (t >= onset)
    return np.stack([tone * (1 - 0.3 * c) for c in range(channels)], 1).astype(np.float32)


def decode_audio(path):
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        info = {
            "codec": stream.codec_context.name,
            "rate": stream.codec_context.sample_rate,
            "channels": stream.codec_context.layout.nb_channels,
            "duration": float(stream.duration * stream.time_base) if stream.duration else None,
        }
        chunks = []
        for frame in container.decode(stream):
            array = frame.to_ndarray()
            chunks.append(array if frame.format.is_planar else array.reshape(-1, info["channels"]).T)
    samples = np.concatenate(chunks, axis=1)  # [channels, n]
    return info, samples


def video_frame_count(path):
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def onset(samples, threshold=0.1):
    return int(np.argmax(np.abs(samples[0]) > threshold))


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    frames = i420_frames(45)  # 1.5 s at 30 fps
    return {
        "mp4": write_video(folder / "v.mp4", frames),
        "webm": write_video(folder / "v.webm", frames, format="webm"),
        "mkv": write_video(folder / "v.mkv", frames, format="mkv"),
        "mov": write_video(folder / "v.mov", frames, format="mov", codec="h264"),
    }


@pytest.mark.parametrize(
    "fmt, codec, frame", [("mp4", "aac", 1024), ("mov", "aac", 1024), ("mkv", "aac", 1024), ("webm", "opus", 960)]
)
def test_mux_trims_the_source_to_the_span_in_sync(tmp_path, clips, fmt, codec, frame):
    sr = 44100
    audio = SimpleNamespace(samples=burst_track(sr), sample_rate=sr)
    out = tmp_path / f"with_sound.{fmt}"
    mux_audio(clips[fmt], audio, out, start_time=0.5, duration=1.5, format=fmt)
    info, samples = decode_audio(out)
    rate = 48000 if codec == "opus" else sr
    assert info["codec"] == codec and info["rate"] == rate and info["channels"] == 2
    expected = round(2.0 * rate) - round(0.5 * rate)
    # the container hides the encoder's priming; at most one frame of end padding remains
    assert expected <= samples.shape[1] < expected + frame
    if info["duration"] is not None and fmt in ("mp4", "mov"):
        assert info["duration"] == pytest.approx(1.5, abs=1e-6)
    # the tone starts 1.0 s into the source, so 0.5 s into the trimmed track
    assert abs(onset(samples) - round(0.5 * rate)) <= 0.004 * rate
    assert video_frame_count(out) == 45
    assert [n for n in os.listdir(tmp_path) if n.startswith(".")] == []


def test_mp4_and_mov_outputs_have_the_index_first(tmp_path, clips):
    audio = SimpleNamespace(samples=burst_track(), sample_rate=44100)
    for fmt in ("mp4", "mov"):
        out = tmp_path / f"a.{fmt}"
        mux_audio(clips[fmt], audio, out, start_time=0.0, duration=1.5, format=fmt)
        data = out.read_bytes()
        assert 0 <= data.find(b"moov") < data.find(b"mdat")


def test_audio_from_a_wav_path_keeps_mono_and_rate(tmp_path, clips):
    wav = tmp_path / "song.wav"
    soundfile.write(wav, burst_track(22050, channels=1)[:, 0], 22050, subtype="FLOAT")
    out = tmp_path / "mono.mp4"
    mux_audio(clips["mp4"], wav, out, start_time=0.25, duration=1.5, format="mp4")
    info, samples = decode_audio(out)
    assert info["channels"] == 1 and info["rate"] == 22050
    assert abs(onset(samples) - round(0.75 * 22050)) <= 0.004 * 22050


def test_audio_soundfile_cannot_read_goes_through_pyav(tmp_path, clips):
    first = tmp_path / "first.mp4"
    mux_audio(
        clips["mp4"],
        SimpleNamespace(samples=burst_track(), sample_rate=44100),
        first,
        start_time=0,
        duration=1.5,
        format="mp4",
    )
    out = tmp_path / "second.webm"
    mux_audio(clips["webm"], first, out, start_time=0.5, duration=1.0, format="webm")
    info, samples = decode_audio(out)
    assert info["codec"] == "opus"
    assert 48000 <= samples.shape[1] < 48000 + 960
    assert abs(onset(samples) - round(0.5 * 48000)) <= 0.004 * 48000
    # no duration: to the end of the source (1.5 s of AAC, so about 1.0 s after the start)
    rest = tmp_path / "rest.mkv"
    mux_audio(clips["mkv"], first, rest, start_time=0.5, format="mkv", audio_codec="flac")
    info, samples = decode_audio(rest)
    assert info["codec"] == "flac"
    assert 44100 <= samples.shape[1] <= 44100 + 1024


def test_pcm_audio_matches_the_source_sample_for_sample(tmp_path, clips):
    source = burst_track(48000) * np.float32(0.9)
    out = tmp_path / "exact.mkv"
    mux_audio(
        clips["mkv"],
        SimpleNamespace(samples=source, sample_rate=48000),
        out,
        start_time=0.7,
        duration=1.5,
        format="mkv",
        audio_codec="pcm_f32le",
    )
    _, samples = decode_audio(out)
    first, end = round(0.7 * 48000), round(2.2 * 48000)
    np.testing.assert_array_equal(samples.T, source[first:end])


def test_no_audio_just_remuxes(tmp_path, clips):
    out = tmp_path / "silent.mp4"
    mux_audio(clips["mkv"], None, out, start_time=0, duration=1.5, format="mp4")
    with av.open(str(out)) as container:
        assert not container.streams.audio
    assert video_frame_count(out) == 45


def test_audio_errors(tmp_path, clips):
    short = SimpleNamespace(samples=burst_track(seconds=1.0), sample_rate=44100)
    with pytest.raises(EncodeError, match="audio ends"):
        mux_audio(clips["mp4"], short, tmp_path / "x.mp4", start_time=0.0, duration=1.5, format="mp4")
    with pytest.raises(AudioError, match="does not exist"):
        mux_audio(clips["mp4"], tmp_path / "missing.wav", tmp_path / "x.mp4", start_time=0, duration=1, format="mp4")
    with pytest.raises(EncodeError, match="webm cannot hold aac"):
        mux_audio(
            clips["webm"], short, tmp_path / "x.webm", start_time=0, duration=0.5, format="webm", audio_codec="aac"
        )
    assert os.listdir(tmp_path) == []


# -- segments ---------------------------------------------------------------------------------------


def write_segments(folder, frames, sizes, suffix, **settings):
    paths, start = [], 0
    for i, size in enumerate(sizes):
        paths.append(write_video(folder / f"seg{i}.{suffix}", frames[start : start + size], gop=4, **settings))
        start += size
    return paths


def test_concat_gives_exact_count_and_continuous_timestamps(tmp_path):
    frames = i420_frames(21)
    segments = write_segments(tmp_path, frames, [7, 5, 9], "mp4")  # x264 with B-frames
    out = tmp_path / "joined.mp4"
    concat_segments(segments, out)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        keyframes = [round(p.pts * p.time_base * FPS) for p in packets if p.is_keyframe]
        container.seek(0)
        decoded = list(container.decode(stream))
    assert len(decoded) == 21
    assert {0, 7, 12} <= set(keyframes)  # every segment still opens on its keyframe
    times = [float(f.pts * f.time_base) for f in decoded]
    assert times == pytest.approx([i / FPS for i in range(21)], abs=1e-9)
    dts = [p.dts for p in packets]
    assert dts == sorted(dts) and len(set(dts)) == len(dts)
    data = out.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")


def test_chunked_lossless_equals_single_pass(tmp_path):
    frames = i420_frames(14, seed=5)
    single = write_video(tmp_path / "single.mkv", frames, format="mkv", lossless=True, gop=4)
    segments = write_segments(tmp_path, frames, [4, 6, 4], "mkv", format="mkv", lossless=True)
    joined = tmp_path / "joined.mkv"
    concat_segments(segments, joined)
    with av.open(str(single)) as a, av.open(str(joined)) as b:
        one = list(a.decode(video=0))
        other = list(b.decode(video=0))
    assert len(one) == len(other) == 14
    for x, y, planes in zip(one, other, frames):
        assert x.pts == y.pts
        np.testing.assert_array_equal(y.to_ndarray().reshape(-1), planes)
        np.testing.assert_array_equal(x.to_ndarray(), y.to_ndarray())


def test_concat_then_mux_audio(tmp_path):
    frames = i420_frames(30)
    segments = write_segments(tmp_path, frames, [10, 10, 10], "webm", format="webm")
    joined = tmp_path / "joined.webm"
    concat_segments(segments, joined)
    out = tmp_path / "final.webm"
    mux_audio(
        joined,
        SimpleNamespace(samples=burst_track(48000), sample_rate=48000),
        out,
        start_time=0.0,
        duration=1.0,
        format="webm",
    )
    info, samples = decode_audio(out)
    assert 48000 <= samples.shape[1] < 48000 + 960
    assert video_frame_count(out) == 30


def test_mismatched_segments_are_refused(tmp_path):
    a = write_video(tmp_path / "a.mkv", i420_frames(3), format="mkv", gop=4)
    b = write_video(tmp_path / "b.mkv", i420_frames(3), format="mkv", gop=4, codec="hevc")
    with pytest.raises(EncodeError, match="does not match"):
        concat_segments([a, b], tmp_path / "j.mkv")
    with pytest.raises(EncodeError, match="no segments"):
        concat_segments([], tmp_path / "j.mkv")
    assert sorted(os.listdir(tmp_path)) == ["a.mkv", "b.mkv"]


def test_matroska_segments_join_into_mp4_on_exact_frame_times(tmp_path):
    # Matroska stores milliseconds (33, 67, ...); the joined MP4 must still show frame k at k/fps.
    segments = write_segments(tmp_path, i420_frames(12), [5, 7], "mkv", format="mkv")
    out = tmp_path / "joined.mp4"
    concat_segments(segments, out)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        joined = list(container.decode(stream))
        assert stream.average_rate == FPS
    assert [f.pts * f.time_base for f in joined] == [Fraction(i, FPS) for i in range(12)]
    # the copied packets decode to the very pictures the segments decode to
    separate = []
    for segment in segments:
        with av.open(str(segment)) as container:
            separate += [f.to_ndarray() for f in container.decode(video=0)]
    for a, b in zip(joined, separate):
        np.testing.assert_array_equal(a.to_ndarray(), b)


@pytest.mark.parametrize("channels, layout", [(6, "5.1"), (8, "7.1")])
def test_surround_channels_are_kept(tmp_path, clips, channels, layout):
    samples = burst_track(32000, channels=channels)
    out = tmp_path / "surround.mp4"
    mux_audio(
        clips["mp4"],
        SimpleNamespace(samples=samples, sample_rate=32000),
        out,
        start_time=0.5,
        duration=1.0,
        format="mp4",
    )
    with av.open(str(out)) as container:
        assert container.streams.audio[0].codec_context.layout.name == layout
        assert container.streams.audio[0].codec_context.sample_rate == 32000
