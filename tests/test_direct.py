"""Layers drawn straight into the composite give the compositor's picture (issue 14).

Every blend mode is rendered both ways, the frame loop's own choice (``direct=True``: layers in
normal, screen, multiply and add draw straight into the composite where fixed-function blending
is exact) and every layer through the compositor (``direct=False``), over backdrops that vary
across the frame: an opaque or a transparent background, a random 8-bit layer beneath with
transparent, translucent and opaque pixels, and an ``add`` layer beneath that pushes part of the
backdrop past 1 (HDR). The two pictures must agree within 1/255. Real layers (sprites over, sprites
adding up, spectrum bars, text) are checked the same way, and the rules that keep a layer off the
direct path (opacity below 1, overlapping sprites in screen, a transparent backdrop under
multiply, a mode that divides by the backdrop above) are checked to be applied.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gpurender.render.compositor import BLEND_MODES, direct_blend
from gpurender.render.renderer import FrameRenderer
from gpurender.scene import scene_from_dict

W, H = 48, 32
FPS = 30  # the rate of conftest's features


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Random straight RGBA PNGs: the layer under test, the one beneath it, and a bright add layer."""
    folder = tmp_path_factory.mktemp("direct")
    rng = np.random.default_rng(14)
    out = {}
    for name in ("top", "beneath"):
        img = rng.integers(0, 256, (H, W, 4), dtype=np.uint8)
        pick = rng.random((H, W))
        img[pick < 0.2, 3] = 0
        img[pick > 0.75, 3] = 255
        out[name] = img
    bright = np.zeros((H, W, 4), np.uint8)
    bright[:, : W // 2] = (230, 200, 255, 255)  # the left half goes past 1 where added
    out["bright"] = bright
    paths = {}
    for name, img in out.items():
        paths[name] = str(folder / f"{name}.png")
        Image.fromarray(img, "RGBA").save(paths[name])
    return paths


def image_layer(path, blend="normal", opacity=1.0):
    return {"type": "image", "file": path, "fit": "stretch", "filter": "nearest", "blend": blend, "opacity": opacity}


def both_ways(scene_dict, features, index=5):
    scene = scene_from_dict(scene_dict)
    direct = FrameRenderer(scene, features, W, H, FPS)
    picture = direct.render_rgba(index)
    reference = FrameRenderer(scene, features, W, H, FPS, direct=False).render_rgba(index)
    return picture, reference, direct


def assert_same(picture, reference, what):
    diff = np.abs(picture.astype(int) - reference.astype(int))
    visible = (picture[..., 3] > 0) & (reference[..., 3] > 0)
    worst_alpha = int(diff[..., 3].max())
    worst_colour = int(diff[..., :3][visible].max(initial=0))
    assert worst_alpha <= 1 and worst_colour <= 1, f"{what}: differs by {max(worst_alpha, worst_colour)}/255"


BACKGROUNDS = {"opaque": "#3366cc", "transparent": "#00000000", "translucent": "#ff008066"}


@pytest.mark.parametrize("scales", [True, False], ids=["layer-scales-opacity", "compositor-applies-opacity"])
@pytest.mark.parametrize("mode", BLEND_MODES)
def test_every_mode_direct_or_not_gives_the_same_picture(mode, scales, images, features, monkeypatch):
    # The image layer multiplies its own fragments by its opacity (so it draws straight at any
    # opacity); with that turned off, opacity below 1 takes the layer's own texture and a blit.
    from gpurender.render.layers.image import ImageRenderer

    monkeypatch.setattr(ImageRenderer, "scales_opacity", scales)
    drew_direct = blits = 0
    for bg_name, background in BACKGROUNDS.items():
        for opacity in (1.0, 0.6):
            layers = [image_layer(images["beneath"], "normal", 0.9), image_layer(images["bright"], "add", 0.8),
                      image_layer(images["top"], mode, opacity)]
            picture, reference, renderer = both_ways({"background": background, "layers": layers}, features)
            assert_same(picture, reference, f"{mode} at {opacity} over {bg_name}")
            drew_direct += renderer.last_plan[2] == "direct"
            blits += renderer.last_plan[2] == "blit"
    if mode in ("normal", "screen", "multiply", "add"):
        assert drew_direct > 0, f"{mode} never drew straight into the composite"
        if scales and mode in ("normal", "screen"):
            assert drew_direct == 6, f"{mode} at opacity 0.6 did not draw straight"
        elif not scales and mode != "add":
            assert blits > 0, f"{mode} never composited its own texture by fixed function"
    else:
        assert drew_direct == 0 and blits == 0


def test_which_layers_draw_direct():
    # single: quads, bars, fullscreen shaders; over: blended sprites; additive: sprites adding up
    assert direct_blend("normal", "single", 1.0, False) is not None
    assert direct_blend("normal", "over", 1.0, False) is not None
    assert direct_blend("normal", "single", 0.5, True) is None  # group opacity needs the whole layer
    assert direct_blend("normal", "additive", 1.0, True) is None
    assert direct_blend("screen", "single", 1.0, False) is not None
    assert direct_blend("screen", "over", 1.0, True) is None  # overlapping sprites: screened as a group
    assert direct_blend("screen", "single", 0.9, True) is None
    # a layer that multiplies its own fragments by its opacity: single content at any opacity
    assert direct_blend("normal", "single", 0.5, False, scales_opacity=True) is not None
    assert direct_blend("screen", "single", 0.9, True, scales_opacity=True) is not None
    assert direct_blend("multiply", "single", 0.4, True, scales_opacity=True) is not None
    assert direct_blend("multiply", "single", 0.4, False, scales_opacity=True) is None
    assert direct_blend("normal", "over", 0.5, True, scales_opacity=True) is None  # overlapping sprites
    assert direct_blend("multiply", "single", 1.0, True) is not None
    assert direct_blend("multiply", "single", 1.0, False) is None  # a transparent backdrop
    assert direct_blend("add", "single", 0.3, False) is not None  # the opacity is the blend constant
    assert direct_blend("add", "additive", 0.3, True) is not None
    assert direct_blend("add", "additive", 0.3, False) is None  # alpha would differ
    assert direct_blend("add", "over", 1.0, True) is None
    for mode in ("darken", "lighten", "overlay", "color-burn", "hue", "difference"):
        assert direct_blend(mode, "single", 1.0, True) is None
    assert direct_blend("normal", None, 1.0, True) is None  # a layer that does not say how it draws


def test_a_layer_beneath_a_mode_that_divides_by_the_backdrop_is_composited_with_it(images, features):
    layers = [image_layer(images["beneath"]), image_layer(images["top"], "color-burn", 0.8)]
    picture, reference, renderer = both_ways({"background": "#808080", "layers": layers}, features)
    assert renderer.last_plan == ["layer", "layer"]  # one float32 run, from the background
    assert np.array_equal(picture, reference)
    layers.append(image_layer(images["top"], "normal"))
    _, _, renderer = both_ways({"background": "#808080", "layers": layers}, features)
    assert renderer.last_plan == ["layer", "layer", "direct"]


REAL = {
    "sprites-over-normal": {"type": "points", "shape": "torus", "count": 3000, "size": 5, "draw": "blend",
                            "spin": 30},
    "sprites-additive-add": {"type": "points", "shape": "sphere", "count": 3000, "size": 4, "draw": "additive",
                             "blend": "add", "opacity": 0.7},
    "particles-additive-add": {"type": "particles", "count": 2000, "rate": 3000, "size": 5, "blend": "add"},
    "spectrum-screen": {"type": "spectrum", "bars": 16, "style": "radial", "blend": "screen"},
    "spectrum-multiply": {"type": "spectrum", "bars": 12, "blend": "multiply", "height": {"feature": "bass"}},
    "text-add": {"type": "text", "text": "{frame}", "size": 20, "blend": "add", "opacity": 0.5},
    "waveform-normal": {"type": "waveform", "style": "filled", "thickness": 3},
    # layers that scale their own fragments by their opacity draw straight below 1 too
    "spectrum-normal-translucent": {"type": "spectrum", "bars": 10, "gap": 0.05, "opacity": 0.55,
                                    "height": {"feature": "bass"}},
    "spectrum-screen-translucent": {"type": "spectrum", "bars": 16, "style": "radial", "blend": "screen",
                                    "opacity": 0.7},
    "waveform-screen-translucent": {"type": "waveform", "style": "filled", "thickness": 3, "blend": "screen",
                                    "opacity": 0.6},
    "text-normal-translucent": {"type": "text", "text": "{frame}", "size": 20, "opacity": 0.45},
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_layers_direct_or_not_give_the_same_picture(name, features):
    layers = [{"type": "spectrum", "bars": 8, "color": "#a0a0a0", "color_top": "#ffffff", "opacity": 0.8},
              REAL[name]]
    picture, reference, renderer = both_ways({"background": "#101020", "layers": layers}, features, index=12)
    assert renderer.last_plan[1] == "direct", renderer.last_plan
    assert_same(picture, reference, name)


def test_overlapping_sprites_in_screen_or_at_partial_opacity_keep_their_own_texture(features):
    # Drawn in their own texture, then handed to fixed-function blending as one source (the blit),
    # only inside the rectangle they drew in.
    for layer in ({"type": "points", "shape": "torus", "count": 3000, "size": 6, "blend": "screen"},
                  {"type": "points", "shape": "torus", "count": 3000, "size": 6, "opacity": 0.5}):
        picture, reference, renderer = both_ways({"background": "#101020", "layers": [layer]}, features)
        assert renderer.last_plan == ["blit"]
        assert_same(picture, reference, layer["blend"] if "blend" in layer else "opacity 0.5")


@pytest.mark.parametrize("scales", [True, False], ids=["layer-scales-opacity", "compositor-applies-opacity"])
def test_bound_opacity_gives_the_same_picture_whichever_path_a_frame_takes(scales, images, features, monkeypatch):
    from gpurender.render.layers.image import ImageRenderer

    monkeypatch.setattr(ImageRenderer, "scales_opacity", scales)
    layers = [image_layer(images["beneath"]),
              {**image_layer(images["top"]), "opacity": {"feature": "rms", "scale": 8.0, "max": 1.0}}]
    scene = scene_from_dict({"background": "#202020", "layers": layers})
    direct = FrameRenderer(scene, features, W, H, FPS)
    reference = FrameRenderer(scene, features, W, H, FPS, direct=False)
    plans, opacities = set(), set()
    for index in range(0, 30, 3):
        assert_same(direct.render_rgba(index), reference.render_rgba(index), f"frame {index}")
        plans.add(direct.last_plan[1])
        opacities.add(direct.ctx.params.value(scene.layers[1].opacity, index) < 1.0)
    assert opacities == {True, False}  # opacity 1 in some frames, below in others
    # A layer that scales its own output draws straight either way; otherwise a frame below 1 blits.
    assert plans == ({"direct"} if scales else {"direct", "blit"}), plans


BOUNDED = {
    "spectrum-bars": {"type": "spectrum", "bars": 20, "y": 0.2, "height": {"feature": "bass", "scale": 0.5}},
    "spectrum-mirrored": {"type": "spectrum", "bars": 20, "style": "mirrored", "height": 0.3},
    "spectrum-radial": {"type": "spectrum", "bars": 20, "style": "radial", "radius": 0.15, "height": 0.2},
    "waveform": {"type": "waveform", "style": "filled", "y": 0.3, "height": 0.25, "thickness": 4, "x": 0.1,
                 "width": 0.6, "gain": 3},
    "points-blend": {"type": "points", "shape": "torus", "count": 2000, "size": 7, "spin": 50},
    "points-additive": {"type": "points", "shape": "galaxy", "count": 2000, "size": 5, "draw": "additive"},
    "points-depth": {"type": "points", "shape": "helix", "count": 2000, "size": 6, "draw": "depth",
                     "scale": {"feature": "rms", "scale": 2, "offset": 0.8}},
    "text": {"type": "text", "text": "{frame}", "size": 18, "x": 0.7, "y": 0.2},
}


@pytest.mark.parametrize("name", sorted(BOUNDED))
def test_layers_draw_only_inside_their_bounds(name, features):
    # The compositor reads a layer only inside the rectangle it says it drew in: everything it drew
    # must be there.
    from gpurender.render.layers.base import DrawTarget

    scene = scene_from_dict({"camera": {"distance": 2.2, "orbit_speed": 90}, "layers": [BOUNDED[name]]})
    r = FrameRenderer(scene, features, 96, 64, FPS, direct=False)
    layer = r.layers[0]
    texture = r.compositor.layer_texture
    seen = 0
    for index in (0, 7, 13, 21, 28):
        encoder = r.device.create_command_encoder()
        layer.draw(encoder, r.frame_info(index), DrawTarget(view=r.compositor.slice_view(0)))
        r.device.queue.submit([encoder.finish()])
        data = r.device.queue.read_texture({"texture": texture, "origin": (0, 0, 0)},
                                           {"bytes_per_row": 8 * 96, "rows_per_image": 64}, (96, 64, 1))
        pixels = np.frombuffer(data, np.float16).reshape(64, 96, 4)
        drawn = np.abs(pixels).max(axis=-1) > 0
        rect = layer.bounds(r.frame_info(index))
        if rect is None or not drawn.any():
            continue
        seen += 1
        x0, y0, x1, y1 = (int(np.floor(rect[0])), int(np.floor(rect[1])), int(np.ceil(rect[2])), int(np.ceil(rect[3])))
        ys, xs = np.nonzero(drawn)
        assert xs.min() >= x0 and ys.min() >= y0 and xs.max() < x1 and ys.max() < y1, (name, index, rect)
    assert seen >= 3, f"{name}: drew with bounds in {seen} of 5 frames"


@pytest.mark.parametrize("style", ["bars", "mirrored"])
def test_bars_drawn_alone_are_the_bars_drawn_with_their_neighbours(style, features, monkeypatch):
    # With gaps of two pixels or more, each anti-aliased bar is drawn alone (spectrum.wgsl SEPARATE):
    # bit for bit the picture of each pixel adding up its own bar and both neighbours.
    from gpurender.render.layers import spectrum

    layer = {"type": "spectrum", "style": style, "bars": 12, "gap": 0.3, "y": 0.2, "height": 0.6}
    assert spectrum.separate_bars({**layer}, 96)
    scene = scene_from_dict({"layers": [layer]})
    alone = [FrameRenderer(scene, features, 96, 64, FPS).render_rgba(k) for k in (12, 20, 28)]
    monkeypatch.setattr(spectrum, "separate_bars", lambda params, width: False)
    together = [FrameRenderer(scene, features, 96, 64, FPS).render_rgba(k) for k in (12, 20, 28)]
    assert all(np.array_equal(a, b) for a, b in zip(alone, together))
    assert not spectrum.separate_bars({**layer, "gap": 0.1}, 96)  # 0.8 px: neighbours within reach
    assert not spectrum.separate_bars({**layer, "style": "radial"}, 96)
