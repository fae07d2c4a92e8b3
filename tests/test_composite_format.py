"""An 8-bit composite for one-layer 8-bit scenes (issue 14): the same picture, half the bytes.

A scene of one layer that cannot leave 0..1 composites in ``rgba8unorm`` (the layer's blend onto
the background is rounded once, to the 8-bit steps of the output); everything else keeps half
floats. Each case renders the frame both ways (the 8-bit target, and half floats forced by
patching the format) and compares RGBA and I420.
"""

from __future__ import annotations

import numpy as np
import pytest

from gpurender.render import compositor
from gpurender.render.renderer import FrameRenderer
from gpurender.scene import scene_from_dict

W, H = 64, 48
FPS = 30  # the rate of conftest's features


ONE_LAYER = {
    "spectrum-bars": {"type": "spectrum", "bars": 12, "color": "#3080ff", "color_top": "#ff4080", "opacity": 0.7,
                      "height": {"feature": "bass", "scale": 0.8, "offset": 0.2}},
    "spectrum-radial-screen": {"type": "spectrum", "bars": 20, "style": "radial", "blend": "screen"},
    "waveform": {"type": "waveform", "style": "filled", "thickness": 2.5, "gain": 3},
    "text": {"type": "text", "text": "{frame} ok", "size": 17, "opacity": 0.8},
    "points-depth": {"type": "points", "shape": "torus", "count": 1500, "size": 5, "draw": "depth"},
    "shader": {"type": "shader", "code": "fn shade(uv: vec2<f32>, px: vec2<f32>) -> vec4<f32> "
                                         "{ return vec4<f32>(uv, features.bass, 0.6); }"},
}


@pytest.mark.parametrize("name", sorted(ONE_LAYER))
def test_one_layer_composites_in_8_bits_with_the_same_picture(name, features, monkeypatch):
    scene = scene_from_dict({"background": "#182030", "layers": [ONE_LAYER[name]]})
    sdr = FrameRenderer(scene, features, W, H, FPS)
    assert sdr.compositor.format == "rgba8unorm"
    rgba = sdr.render_rgba(9)
    [(_, i420)] = list(sdr.frames(9, 1))
    monkeypatch.setattr(compositor, "SDR_COMPOSITE_FORMAT", compositor.COMPOSITE_FORMAT)
    hdr = FrameRenderer(scene, features, W, H, FPS)
    assert hdr.compositor.format == "rgba16float"
    rgba_f = hdr.render_rgba(9)
    [(_, i420_f)] = list(hdr.frames(9, 1))
    assert np.abs(rgba.astype(int) - rgba_f.astype(int)).max() <= 1, name
    codes = np.abs(np.asarray(i420).astype(int) - np.asarray(i420_f).astype(int))
    assert codes.max() <= 1, name
    assert rgba[..., :3].std() > 0  # something was drawn


@pytest.mark.parametrize("scene", [
    {"layers": [ONE_LAYER["waveform"], ONE_LAYER["text"]]},  # each further layer would round again
    {"layers": [{**ONE_LAYER["spectrum-bars"], "blend": "add"}]},  # plus-lighter goes past 1
    {"layers": [ONE_LAYER["waveform"]], "exposure": 0.5},
    {"layers": [ONE_LAYER["waveform"]], "tonemap": "aces"},
    {"layers": [{"type": "bloom"}]},
    # overlapping sprites would each round onto an 8-bit composite
    {"layers": [{"type": "points", "shape": "torus", "count": 1500, "size": 5}]},
    # premultiplied in 8 bits, a faint pixel keeps too few colour steps to be un-premultiplied
    {"layers": [{**ONE_LAYER["waveform"], "opacity": 0.3}], "background": "#00000000"},
    {"layers": [{**ONE_LAYER["text"], "opacity": 0.2}], "background": "#ff008040"},
], ids=["two-layers", "add", "exposure", "tonemap", "effect", "overlapping-sprites", "transparent", "translucent"])
def test_scenes_that_may_leave_0_to_1_or_stack_layers_keep_half_floats(scene, features):
    renderer = FrameRenderer(scene_from_dict({"background": "#102030", **scene}), features, W, H, FPS)
    assert renderer.compositor.format == "rgba16float"


def test_negative_brightness_is_clamped_like_the_half_float_composite(features, monkeypatch):
    # A depth-splat points layer is one fragment per pixel, so it gets the 8-bit composite; a
    # negative brightness must not subtract from the background in one format and not the other.
    layer = {"type": "points", "shape": "sphere", "count": 800, "size": 6, "draw": "depth", "brightness": -1.0}
    scene = scene_from_dict({"background": "#808080", "layers": [layer]})
    sdr = FrameRenderer(scene, features, W, H, FPS)
    assert sdr.compositor.format == "rgba8unorm"
    rgba = sdr.render_rgba(4)
    monkeypatch.setattr(compositor, "SDR_COMPOSITE_FORMAT", compositor.COMPOSITE_FORMAT)
    rgba_f = FrameRenderer(scene, features, W, H, FPS).render_rgba(4)
    assert np.abs(rgba.astype(int) - rgba_f.astype(int)).max() <= 1


def test_10_bit_output_composites_in_half_floats(features):
    scene = scene_from_dict({"background": "#102030", "layers": [ONE_LAYER["spectrum-bars"]]})
    renderer = FrameRenderer(scene, features, W, H, FPS)
    assert renderer.compositor.format == "rgba8unorm"
    list(renderer.frames(3, 1, output="yuv420p10le"))
    assert renderer.compositor.format == "rgba16float"
    list(renderer.frames(3, 1, output="yuv420p"))  # and back for 8-bit output
    assert renderer.compositor.format == "rgba8unorm"
