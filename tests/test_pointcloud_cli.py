"""``gpurender points`` with every input format, and ``gpurender points-example``."""

from __future__ import annotations

import os

import av
import numpy as np
import pytest
from click.testing import CliRunner

from gpurender.cli import main
from gpurender.pointcloud import example_sequence, write_sequence

SMALL = ["--fps", "5", "--resolution", "64x48", "--quiet"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def frame_count(path):
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def _npz_numbered(tmp_path):
    write_sequence(example_sequence("sphere", 3, 400, colors="float"), tmp_path / "seq.npz")
    return [tmp_path / "seq.npz"]


def _npz_stacked(tmp_path):
    np.savez(tmp_path / "stacked.npz", points=np.stack([f["points"] for f in example_sequence("torus", 3, 400)]))
    return [tmp_path / "stacked.npz"]


def _npy_stacked(tmp_path):
    np.save(tmp_path / "stacked.npy", np.stack([f["points"] for f in example_sequence("torus", 3, 400)]))
    return [tmp_path / "stacked.npy"]


def _folder(fmt):
    def make(tmp_path):
        write_sequence(example_sequence("helix", 3, 400, colors="uint8"), tmp_path / "frames", fmt)
        return [tmp_path / "frames"]
    return make


def _glob(tmp_path):
    write_sequence(example_sequence("helix", 3, 400), tmp_path / "frames", "ply")
    return [str(tmp_path / "frames" / "frame_*.ply")]


def _expanded(tmp_path):  # what the shell passes for an unquoted glob
    paths = write_sequence(example_sequence("helix", 3, 400), tmp_path / "frames", "csv")
    return list(reversed(paths))


@pytest.mark.parametrize("make", [_npz_numbered, _npz_stacked, _npy_stacked, _folder("ply"), _folder("npy"),
                                  _folder("csv"), _glob, _expanded],
                         ids=["npz", "npz-stacked", "npy-stacked", "ply-folder", "npy-folder", "csv-folder", "glob",
                              "file-list"])
def test_every_input_format_renders(tmp_path, make):
    inputs = make(tmp_path)
    out = tmp_path / "out.mp4"
    result = run("points", *inputs, "-o", out, *SMALL)
    assert result.exit_code == 0, result.output
    assert "3 frames, 64x48 at 5 fps, 0.600 s" in result.output
    assert frame_count(out) == 3


def test_options_reach_the_export(tmp_path):
    inputs = _npz_numbered(tmp_path)
    out = tmp_path / "out.mkv"
    result = run("points", *inputs, "-o", out, "--camera", "orbit", "--elevation", "60", "--up", "z", "--no-title",
                 "--colormap", "magma", "--background", "#202020", "--point-size", "2", "--draw", "blend",
                 "--bounds", "-2,-2,-2,2,2,2", "--codec", "h264", *SMALL)
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        first = next(c.decode(video=0)).to_ndarray(format="rgb24")
    assert abs(int(first[0, 0].mean()) - 0x20) <= 3  # the background colour


def test_bad_frame_is_one_line_naming_file_and_frame_and_no_output(tmp_path):
    folder = tmp_path / "frames"
    write_sequence(example_sequence("sphere", 4, 300), folder, "npy")
    bad = np.load(folder / "frame_0002.npy")
    bad[5, 1] = np.nan
    np.save(folder / "frame_0002.npy", bad)
    out = tmp_path / "out.mp4"
    result = run("points", folder, "-o", out, *SMALL)
    assert result.exit_code == 2
    assert "frame_0002.npy" in result.output and "frame 2" in result.output and "NaN" in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert not out.exists() and not [p for p in os.listdir(tmp_path) if p.startswith(".")]


def test_bad_options_are_one_line(tmp_path):
    inputs = _npz_numbered(tmp_path)
    for extra, words in [(["--bounds", "1,2,3"], "--bounds"), (["--target", "a,b,c"], "--target"),
                         (["--resolution", "65x48"], "resolution")]:
        result = run("points", *inputs, "-o", tmp_path / "o.mp4", "--fps", "5", "--quiet", *extra)
        assert result.exit_code == 2 and words in result.output, result.output
    result = run("points", tmp_path / "missing.npz", "-o", tmp_path / "o.mp4", *SMALL)
    assert result.exit_code == 2 and "does not exist" in result.output


@pytest.mark.parametrize("fmt, written", [("npz", "seq.npz"), ("csv", "4 files")])
def test_points_example_writes_a_sequence_that_renders(tmp_path, fmt, written):
    target = tmp_path / ("seq.npz" if fmt == "npz" else "frames")
    result = run("points-example", "torus", "-o", target, "--frames", "4", "--points", "500", "--format", fmt,
                 "--colors", "uint8")
    assert result.exit_code == 0 and written in result.output, result.output
    out = tmp_path / "torus.mp4"
    result = run("points", target, "-o", out, *SMALL)
    assert result.exit_code == 0, result.output
    assert frame_count(out) == 4
