"""Shared fixtures: small audio files made in the test, and the adapter in the pytest header."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")


def pytest_report_header(config):
    try:
        from gpurender.render.device import adapter_info

        return f"wgpu adapter: {adapter_info().summary()}"
    except Exception as exc:  # the header must never break collection
        return f"wgpu adapter: unavailable ({exc})"


@pytest.fixture(scope="session")
def device():
    """The process-wide wgpu device; GPU tests skip cleanly when no adapter exists."""
    from gpurender.errors import RenderError
    from gpurender.render.device import get_device

    try:
        return get_device()
    except RenderError as exc:
        pytest.skip(f"no wgpu adapter: {exc}")


@pytest.fixture(scope="session")
def features():
    """The 1 s demo track's features at 30 fps, without per-bin spectra (what a scene render
    analyses); a module that needs another length or rate defines its own ``features``."""
    from gpurender.audio import AnalysisSettings, analyze, demo_track

    return analyze(demo_track(1.0), 30, settings=AnalysisSettings(keep_spectrum=False))


@pytest.fixture
def song(tmp_path):
    """A 2-second stereo 44.1 kHz WAV with a kick every half second over a tone."""
    from media import write_song

    return write_song(tmp_path / "song.wav")


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
