"""The ``analyze`` command writes every feature (and its settings) to an .npz, and a plot."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner
from PIL import Image

from gpurender.audio.features import feature_names
from gpurender.cli import main


def test_analyze_writes_npz_and_plot(tmp_path, song):
    out, plot = tmp_path / "features.npz", tmp_path / "features.png"
    result = CliRunner().invoke(main, ["analyze", str(song), "--fps", "60", "-o", str(out), "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    data = np.load(out)
    n = int(data["n_frames"])
    assert n == int(2.0 * 60) + 1  # frames 0..120 of a 2 s track
    assert int(data["sample_rate"]) == 44100 and float(data["fps"]) == 60
    for name in feature_names():
        assert data[name].shape == (n,), name
        assert np.isfinite(data[name]).all()
    assert data["bands"].shape == (n, 64)
    # The kick every half second shows as beats near 0.5 s steps.
    beats = np.flatnonzero(data["beat"] >= 0.999) / 60
    assert len(beats) >= 3
    assert Image.open(plot).size[0] > 100


def test_analyze_webaudio_mode(tmp_path, song):
    out = tmp_path / "wa.npz"
    result = CliRunner().invoke(main, ["analyze", str(song), "--fps", "30", "-o", str(out), "--mode", "webaudio",
                                       "--fft-size", "1024"])
    assert result.exit_code == 0, result.output
    data = np.load(out)
    assert data["byte_frequency"].dtype == np.uint8 and data["byte_frequency"].shape[1] == 512


def test_analyze_bad_inputs(tmp_path, song):
    runner = CliRunner()
    missing = runner.invoke(main, ["analyze", str(tmp_path / "none.wav"), "-o", str(tmp_path / "f.npz")])
    assert missing.exit_code != 0 and missing.output.startswith("error: ")
    bad_fft = runner.invoke(main, ["analyze", str(song), "-o", str(tmp_path / "f.npz"), "--fft-size", "1000"])
    assert bad_fft.exit_code != 0 and bad_fft.output.startswith("error: ") and len(bad_fft.output.splitlines()) == 1
    assert not (tmp_path / "f.npz").exists()
