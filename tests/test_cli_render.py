"""End-to-end renders through the CLI on the software adapter, at small sizes."""

from __future__ import annotations

import os

import av
import numpy as np
import pytest
from click.testing import CliRunner

from gpurender.cli import main
from media import decoded

SMALL = ["--resolution", "96x64", "--fps", "12", "--quiet"]


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result


def test_render_mp4_reopens_with_exact_frames_and_audio(tmp_path, small_scene, song):
    out = tmp_path / "clip.mp4"
    result = run("render", small_scene, "--audio", song, "-o", out, "--start", "0.25", "--duration", "1.0", *SMALL)
    assert result.exit_code == 0, result.output
    assert "12 frames" in result.output
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        a = c.streams.audio[0]
        assert v.codec_context.name == "h264"
        assert (v.codec_context.width, v.codec_context.height) == (96, 64)
        assert v.average_rate == 12
        n = sum(1 for _ in c.decode(video=0))
        assert n == 12
        assert a.codec_context.name == "aac"
        assert a.sample_rate == 44100
    with av.open(str(out)) as c:
        samples = sum(f.samples for f in c.decode(audio=0))
    # AAC pads to whole 1024-sample frames; the container's duration trims it back.
    assert abs(samples - 44100) <= 2048
    with av.open(str(out)) as c:
        a = c.streams.audio[0]
        assert abs(float(a.duration * a.time_base) - 1.0) < 0.03
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]


def test_render_webm_has_vp9_and_opus(tmp_path, small_scene, song):
    out = tmp_path / "clip.webm"
    result = run("render", small_scene, "--audio", song, "-o", out, "--duration", "0.5", *SMALL)
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "vp9"
        assert c.streams.audio[0].codec_context.name == "opus"
        assert sum(1 for _ in c.decode(video=0)) == 6


def test_two_renders_are_identical(tmp_path, small_scene, song):
    outs = [tmp_path / "a.mp4", tmp_path / "b.mp4"]
    for out in outs:
        assert run("render", small_scene, "--audio", song, "-o", out, "--duration", "0.5", *SMALL).exit_code == 0
    a, b = (decoded(o) for o in outs)
    assert len(a) == len(b) == 6
    for fa, fb in zip(a, b):
        np.testing.assert_array_equal(fa, fb)
    # Frames differ over time (the camera orbits), so the comparison is not vacuous.
    assert not np.array_equal(a[0], a[-1])


def test_demo_command_small(tmp_path):
    out = tmp_path / "demo.mp4"
    result = run("demo", "-o", out, "--duration", "0.5", *SMALL)
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 6
        assert len(c.streams.audio) == 1


@pytest.mark.parametrize("case", [
    "missing_audio", "corrupt_audio", "empty_audio", "bad_scene_syntax", "unknown_layer", "unknown_blend",
    "unknown_feature", "bad_resolution", "odd_resolution", "bad_fps", "zero_fps", "bad_duration",
    "past_end", "missing_dir",
])
def test_bad_input_one_line_nonzero_no_output(tmp_path, small_scene, song, case):
    import soundfile as sf

    scene, audio, out = small_scene, song, tmp_path / "out.mp4"
    extra = []
    if case == "missing_audio":
        audio = tmp_path / "nope.wav"
    elif case == "corrupt_audio":
        audio = tmp_path / "corrupt.wav"
        audio.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 10)
    elif case == "empty_audio":
        audio = tmp_path / "empty.wav"
        sf.write(audio, np.zeros((0, 2), np.float32), 44100)
    elif case == "bad_scene_syntax":
        scene = tmp_path / "bad.toml"
        scene.write_text("[[layers]\n")
    elif case == "unknown_layer":
        scene = tmp_path / "bad.toml"
        scene.write_text('[[layers]]\ntype = "blob"\n')
    elif case == "unknown_blend":
        scene = tmp_path / "bad.toml"
        scene.write_text('[[layers]]\ntype = "points"\nblend = "mix"\n')
    elif case == "unknown_feature":
        scene = tmp_path / "bad.toml"
        scene.write_text('[[layers]]\ntype = "points"\nsize = { feature = "loudness" }\n')
    elif case == "bad_resolution":
        extra = ["--resolution", "big"]
    elif case == "odd_resolution":
        extra = ["--resolution", "97x64"]
    elif case == "bad_fps":
        extra = ["--fps", "29.5"]  # not an NTSC rate: give it as a ratio
    elif case == "zero_fps":
        extra = ["--fps", "0"]
    elif case == "bad_duration":
        extra = ["--duration", "-1"]
    elif case == "past_end":
        extra = ["--start", "1.5", "--duration", "1"]
    elif case == "missing_dir":
        out = tmp_path / "no" / "such" / "dir" / "out.mp4"
    args = ["render", scene, "--audio", audio, "-o", out, "--resolution", "96x64", "--fps", "12", "--quiet", *extra]
    if "--resolution" in extra:
        args = ["render", scene, "--audio", audio, "-o", out, "--fps", "12", "--quiet", *extra]
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert not out.exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]


def test_doctor_lists_adapter_and_encoders():
    result = run("doctor")
    assert result.exit_code == 0, result.output
    assert "wgpu adapter:" in result.output and "libx264" in result.output and "fallbacks in force" in result.output


def test_still_and_sheet(tmp_path, small_scene, song):
    from PIL import Image

    out = tmp_path / "still.png"
    result = run("still", small_scene, "--audio", song, "--time", "0.5", "-o", out, "--resolution", "96x64", "--quiet")
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (96, 64)
    sheet = tmp_path / "sheet.png"
    result = run("still", small_scene, "--audio", song, "--sheet", "3x2", "-o", sheet, "--resolution", "96x64", "--quiet")
    assert result.exit_code == 0, result.output
    assert Image.open(sheet).size == (288, 128)
