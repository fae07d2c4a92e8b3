"""Shared fixtures: small audio files made in the test, and the adapter in the pytest header."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")


def pytest_report_header(config):
    try:
        from gpurender.render.device import adapter_info

        return f"wgpu adapter: {adapter_info().summary()}"
    except Exception as exc:  # the header must never break collection
        return f"wgpu adapter: unavailable ({exc})"


@pytest.fixture
def song(tmp_path):
    """A 2-second stereo 44.1 kHz WAV with a kick every half second over a tone."""
    import soundfile as sf

    sr = 44100
    t = np.arange(int(2.0 * sr)) / sr
    tone = 0.2 * np.sin(2 * np.pi * 440 * t)
    kick = np.zeros_like(t)
    for start in np.arange(0, 2.0, 0.5):
        i = int(start * sr)
        n = int(0.1 * sr)
        kick[i:i + n] += 0.6 * np.sin(2 * np.pi * 60 * t[:n]) * np.exp(-t[:n] * 30)
    stereo = np.stack([tone + kick, 0.5 * tone + kick], axis=1).astype(np.float32)
    path = tmp_path / "song.wav"
    sf.write(path, stereo, sr)
    return path


@pytest.fixture
def small_scene(tmp_path):
    path = tmp_path / "scene.toml"
    path.write_text(
        'background = "#101020"\n'
        "[camera]\norbit_speed = 30\n"
        '[[layers]]\ntype = "spectrum"\nbars = 16\n'
        '[[layers]]\ntype = "points"\nshape = "sphere"\ncount = 500\nblend = "add"\n'
        'size = { feature = "bass", scale = 4, offset = 2 }\n'
    )
    return path
