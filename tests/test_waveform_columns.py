"""The waveform layer shades only the columns of pixels near the wave (issue 14), with exactly the
picture of the fullscreen pass it replaced (which shaded every pixel of the frame)."""

from __future__ import annotations

import numpy as np
import pytest

from gpurender.render.layers.waveform import WaveformRenderer
from gpurender.render.renderer import FrameRenderer
from gpurender.scene import scene_from_dict

W, H = 160, 90
FPS = 30  # the rate of conftest's features


CASES = {
    "line": {"style": "line", "thickness": 2},
    "thick-line": {"style": "line", "thickness": 14, "gain": 3},
    "hairline": {"style": "line", "thickness": 0.6, "height": 0.9},
    "filled-outline": {"style": "filled", "thickness": 3, "gain": 4},
    "filled-no-outline": {"style": "filled", "thickness": 0},
    "part-of-the-frame": {"style": "filled", "thickness": 2, "x": 0.15, "width": 0.5, "y": 0.7, "height": 0.3,
                          "gain": 6},
    "clipped-gain": {"style": "line", "thickness": 4, "gain": 40, "height": 0.5},
    "translucent-screen": {"style": "filled", "thickness": 2, "blend": "screen", "opacity": 0.6},
}


def render(scene, features, columns, monkeypatch, index=11, **kw):
    monkeypatch.setattr(WaveformRenderer, "columns", columns)
    renderer = FrameRenderer(scene_from_dict(scene), features, W, H, FPS, **kw)
    [(_, i420)] = list(renderer.frames(index, 1))
    return renderer.render_rgba(index), np.asarray(i420).copy()


@pytest.mark.parametrize("antialias", [True, False], ids=["aa", "hard"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_columns_give_the_fullscreen_picture_exactly(name, antialias, features, monkeypatch):
    scene = {"background": "#101828", "antialias": antialias,
             "layers": [{"type": "waveform", "color": "#60f0c0", "fill_color": "#3060ff80", **CASES[name]}]}
    rgba, i420 = render(scene, features, True, monkeypatch)
    ref_rgba, ref_i420 = render(scene, features, False, monkeypatch)
    assert np.array_equal(rgba, ref_rgba), f"{name}: {np.abs(rgba.astype(int) - ref_rgba).max()}/255 off"
    assert np.array_equal(i420, ref_i420)
    assert (rgba != rgba[0, 0]).any(axis=-1).sum() > 50  # the wave was drawn


def test_columns_with_supersampling_and_under_another_layer(features, monkeypatch):
    scene = {"background": "#000000", "supersample": 2,
             "layers": [{"type": "spectrum", "bars": 12, "opacity": 0.8},
                        {"type": "waveform", "style": "filled", "thickness": 3, "gain": 3, "blend": "multiply"}]}
    rgba, _ = render(scene, features, True, monkeypatch)
    ref, _ = render(scene, features, False, monkeypatch)
    assert np.array_equal(rgba, ref)


def test_without_audio_the_layer_still_draws_its_flat_line(monkeypatch):
    scene = {"background": "#000000", "layers": [{"type": "waveform", "thickness": 3}]}
    rgba, _ = render(scene, None, True, monkeypatch, index=0)
    ref, _ = render(scene, None, False, monkeypatch, index=0)
    assert np.array_equal(rgba, ref) and rgba[..., :3].max() > 0
