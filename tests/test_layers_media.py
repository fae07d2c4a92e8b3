"""Image, text and points layers on the software adapter, and reference images for points and spectrum.

Reference images are small (96x64) frames stored in tests/reference/; regenerate them with
GPURENDER_REGENERATE=1 after looking at the new ones.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from gpurender.errors import SceneError
from gpurender.scene import scene_from_dict

from refimage import assert_matches_reference

W, H, FPS = 96, 64, 30

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def features():
    from gpurender.audio import analyze, demo_track

    return analyze(demo_track(duration=1.0), FPS)


def renderer(features, layers, width=W, height=H, background="#000000", **top):
    from gpurender.render.renderer import FrameRenderer

    scene = scene_from_dict({"background": background, "layers": layers, **top}, source="test.toml")
    return FrameRenderer(scene, features, width, height, FPS)


def render(features, layers, index=10, **kwargs):
    return renderer(features, layers, **kwargs).render_rgba(index)


def test_chart_image(tmp_path, w=40, h=30, alpha=True):
    """A test picture: colour ramps, a grid of single-pixel lines and (optionally) a soft alpha edge."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 4), np.uint8)
    img[..., 0] = (xx * 255 // max(w - 1, 1)).astype(np.uint8)
    img[..., 1] = (yy * 255 // max(h - 1, 1)).astype(np.uint8)
    img[..., 2] = 160
    img[(xx % 8 == 0) | (yy % 8 == 0)] = (255, 255, 255, 255)
    img[..., 3] = 255
    if alpha:
        img[:, -6:, 3] = np.linspace(255, 0, 6).astype(np.uint8)
    from PIL import Image

    path = tmp_path / "chart.png"
    Image.fromarray(img, "RGBA").save(path)
    return path, img


test_chart_image.__test__ = False  # a helper, not a test


# -- image -------------------------------------------------------------------------------------

def test_image_at_output_size_is_copied_pixel_for_pixel(features, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(3)
    src = rng.integers(0, 256, size=(H, W, 4), dtype=np.uint8)
    src[..., 3] = 255
    path = tmp_path / "noise.png"
    Image.fromarray(src, "RGBA").save(path)
    out = render(features, [{"type": "image", "file": str(path), "fit": "none"}], background="#00000000")
    assert np.array_equal(out, src)


def test_image_fit_none_smaller_image_lands_on_whole_pixels(features, tmp_path):
    path, src = test_chart_image(tmp_path, 40, 30, alpha=False)
    out = render(features, [{"type": "image", "file": str(path), "fit": "none", "x": 0.0, "y": 1.0,
                             "anchor": "top-left"}], background="#00000000")
    assert np.array_equal(out[:30, :40], src)
    assert not out[30:].any() and not out[:, 40:].any()


@pytest.mark.parametrize("fit", ["cover", "contain", "stretch", "none"])
def test_image_fit_reference(features, tmp_path, fit):
    path, _ = test_chart_image(tmp_path)
    out = render(features, [{"type": "image", "file": str(path), "fit": fit}], background="#203040")
    assert_matches_reference(f"image_{fit}", out)


def test_image_fit_geometry(features, tmp_path):
    """Which pixels each fit covers, checked by the image's opaque footprint over transparency."""
    path, _ = test_chart_image(tmp_path, 40, 30, alpha=False)  # 4:3 into 3:2

    def footprint(fit):
        a = render(features, [{"type": "image", "file": str(path), "fit": fit}], background="#00000000")[..., 3]
        rows, cols = np.nonzero(a > 127)
        return rows.min(), rows.max() + 1, cols.min(), cols.max() + 1

    assert footprint("stretch") == (0, H, 0, W)
    assert footprint("cover") == (0, H, 0, W)
    top, bottom, left, right = footprint("contain")
    assert (top, bottom) == (0, H) and abs((right - left) - 40 * H / 30) <= 1  # 85.3 px wide, centred
    assert abs(left - (W - (right - left)) / 2) <= 1
    assert footprint("none") == (17, 47, 28, 68)


def test_missing_or_bad_image_names_the_file(features, tmp_path):
    with pytest.raises(SceneError, match=r"nothere\.png.*does not exist"):
        renderer(features, [{"type": "image", "file": str(tmp_path / "nothere.png")}])
    bad = tmp_path / "fake.png"
    bad.write_text("not an image")
    with pytest.raises(SceneError, match=r"fake\.png.*cannot be read"):
        renderer(features, [{"type": "image", "file": str(bad)}])
    with pytest.raises(SceneError, match="needs file"):
        renderer(features, [{"type": "image"}])


# -- text --------------------------------------------------------------------------------------

def bundled_font():
    """matplotlib's DejaVu Sans: the same file wherever the test runs, so references hold."""
    from pathlib import Path

    import matplotlib

    return str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")


def test_text_reference(features):
    layers = [
        {"type": "text", "text": "frame {frame}/{frames}\nt={time:.2f}s", "font": bundled_font(), "size": 14,
         "color": "#ffe080", "x": 0.04, "y": 0.96, "anchor": "top-left"},
        {"type": "text", "text": "{points} pts", "font": bundled_font(), "size": 11, "color": "#80c0ff",
         "x": 0.96, "y": 0.04, "anchor": "bottom-right"},
        {"type": "points", "count": 1234, "size": 0.0},
    ]
    out = render(features, layers, index=12, background="#181818")
    assert_matches_reference("text_placeholders", out)


def test_text_placeholders_anchor_and_cache(features):
    r = renderer(features, [{"type": "text", "text": "{frame:03d} {time:.1f} {points}", "size": 12,
                             "x": 0.0, "y": 1.0, "anchor": "top-left"},
                            {"type": "points", "count": 77, "size": 0.0}], background="#00000000")
    text = r.layers[0]
    assert text.text_at(r.frame_info(7)) == "007 0.2 77"
    first = r.render_rgba(7)
    ink = first[..., 3] > 0
    rows, cols = np.nonzero(ink)
    assert rows.min() >= 0 and rows.max() < 20 and cols.min() < 4  # default font, top-left corner
    assert (first[ink][:, :3] == 255).all()  # white, straight alpha
    assert text.rasterizations == 1
    r.render_rgba(7)
    assert text.rasterizations == 1  # same text: no re-rasterization
    assert not np.array_equal(r.render_rgba(8), first)
    assert text.rasterizations == 2

    fixed = renderer(features, [{"type": "text", "text": "fixed {{braces}}"}])
    for i in range(3):
        fixed.render_rgba(i)
    assert fixed.layers[0].rasterizations == 1
    assert fixed.layers[0].text_at(fixed.frame_info(0)) == "fixed {braces}"


def test_text_errors(features, tmp_path):
    with pytest.raises(SceneError) as info:
        renderer(features, [{"type": "text", "text": "{frme}"}]).render_rgba(0)
    message = str(info.value)
    assert "{frme}" in message and "frame, frames" in message and "time" in message
    with pytest.raises(SceneError, match=r"nofont\.ttf.*does not exist"):
        renderer(features, [{"type": "text", "font": str(tmp_path / "nofont.ttf")}])
    bad = tmp_path / "bad.ttf"
    bad.write_bytes(b"\0" * 64)
    with pytest.raises(SceneError, match=r"bad\.ttf.*cannot be read"):
        renderer(features, [{"type": "text", "font": str(bad)}])
    with pytest.raises(SceneError, match="braces|Single"):
        renderer(features, [{"type": "text", "text": "{time"}])
    with pytest.raises(SceneError, match="cannot format"):
        renderer(features, [{"type": "text", "text": "{time:d}"}]).render_rgba(0)


def test_default_font_is_found():
    from gpurender.render.layers.text import default_font

    assert default_font().endswith("DejaVuSans.ttf")


# -- points ------------------------------------------------------------------------------------

POINT_REFERENCES = {
    "points_blend": {"shape": "sphere", "count": 400, "size": 2.5, "colormap": "viridis"},
    "points_additive": {"shape": "torus", "count": 800, "size": 3, "colormap": "magma", "draw": "additive",
                        "brightness": 0.6},
    "points_depth": {"shape": "helix", "count": 1500, "size": 5, "colormap": "turbo", "draw": "depth",
                     "color_by": "distance"},
    "points_color": {"shape": "galaxy", "count": 2000, "size": 2.5, "color": "#ff9040"},
}


@pytest.mark.parametrize("name", sorted(POINT_REFERENCES))
def test_points_reference(features, name):
    out = render(features, [{"type": "points", **POINT_REFERENCES[name]}], background="#0a0a14")
    assert_matches_reference(name, out)


def test_points_color_by_feature_follows_the_feature(features):
    r = renderer(features, [{"type": "points", "shape": "sphere", "count": 400, "size": 2.5, "colormap": "plasma",
                             "color_by": "feature", "color_feature": "bass"}])
    bass = features.bass
    lo, hi = int(np.argmin(bass)), int(np.argmax(bass))
    assert bass[hi] - bass[lo] > 0.2
    quiet, loud = r.render_rgba(lo), r.render_rgba(hi)
    assert np.array_equal(r.render_rgba(lo), quiet)  # deterministic
    # Plasma runs from blue to yellow: the loud frame's points are redder and less blue.
    q, l_ = quiet[..., :3].astype(float).sum((0, 1)), loud[..., :3].astype(float).sum((0, 1))
    assert l_[0] > q[0] * 1.1 and l_[2] < q[2]
    assert_matches_reference("points_feature", loud)
    with pytest.raises(SceneError, match="color_feature.*'bogus'"):
        renderer(features, [{"type": "points", "color_by": "feature", "color_feature": "bogus"}])


def test_points_file_and_file_colours(features, tmp_path):
    from gpurender.scene.shapes import sphere

    pts = sphere(800)
    cols = np.zeros((800, 3), np.uint8)
    cols[:, 0] = 255  # red from the file
    np.savez(tmp_path / "red.npz", points=pts, colors=cols)
    out = render(features, [{"type": "points", "file": str(tmp_path / "red.npz"), "size": 5}])
    lit = out[..., :3].max(-1) > 40
    assert lit.sum() > 100 and (out[lit][:, 1:3] < 30).all()
    # An explicit colormap choice overrides the file's colours.
    out = render(features, [{"type": "points", "file": str(tmp_path / "red.npz"), "size": 5, "color_by": "height"}])
    assert (out[..., 1] > 100).any()
    np.save(tmp_path / "plain.npy", pts)
    with pytest.raises(SceneError, match="no colours"):
        renderer(features, [{"type": "points", "file": str(tmp_path / "plain.npy"), "color_by": "file"}])


def test_points_sequence_per_frame(features, tmp_path):
    from gpurender.scene.shapes import helix, sphere, torus

    folder = tmp_path / "frames"
    folder.mkdir()
    for k, (shape, n) in enumerate([(sphere, 500), (torus, 1500), (helix, 3000)]):
        np.save(folder / f"cloud_{k + 1}.npy", shape(n))
    layers = [{"type": "points", "file": str(folder), "size": 3, "spin": 0}]
    held = renderer(features, layers, camera={"orbit_speed": 0})
    frames = [held.render_rgba(i) for i in range(4)]
    assert not np.array_equal(frames[0], frames[1]) and not np.array_equal(frames[1], frames[2])
    assert np.array_equal(frames[3], frames[2])  # past the last file: the last one holds
    assert [held.describe(held.frame_info(i))["points"] for i in (0, 1, 2, 9)] == [500, 1500, 3000, 3000]
    assert np.array_equal(held.render_rgba(0), frames[0])  # buffers shrink back correctly
    looped = renderer(features, [{**layers[0], "loop": True}], camera={"orbit_speed": 0})
    assert np.array_equal(looped.render_rgba(3), frames[0])
    globbed = renderer(features, [{**layers[0], "file": str(folder / "cloud_*.npy")}], camera={"orbit_speed": 0})
    assert np.array_equal(globbed.render_rgba(1), frames[1])
    np.save(folder / "cloud_4.npy", np.full((10, 3), np.nan, np.float32))
    bad = renderer(features, layers, camera={"orbit_speed": 0})
    with pytest.raises(SceneError, match=r"cloud_4\.npy' \(frame 3\).*NaN"):
        bad.render_rgba(3)


def test_million_points_render(features):
    r = renderer(features, [{"type": "points", "shape": "sphere", "count": 1_000_000, "size": 1.5}],
                 width=64, height=48)
    start = time.perf_counter()
    out = r.render_rgba(0)
    elapsed = time.perf_counter() - start
    assert r.describe(r.frame_info(0))["points"] == 1_000_000
    lit = out[..., :3].max(-1) > 20
    assert 0.2 < lit.mean() < 0.9  # a filled disc, not an empty or fully covered frame
    assert elapsed < 30, f"1M points took {elapsed:.1f} s"


# -- spectrum ----------------------------------------------------------------------------------

@pytest.mark.parametrize("style", ["bars", "mirrored", "radial"])
def test_spectrum_reference(features, style):
    layer = {"type": "spectrum", "style": style, "bars": 24, "color": "#2060ff", "color_top": "#ff4080"}
    if style == "mirrored":
        layer["y"] = 0.5
    out = render(features, [layer], index=15, background="#101010")
    assert_matches_reference(f"spectrum_{style}", out)


def test_galaxy_timecode_example_renders(features):
    from pathlib import Path

    from gpurender.render.renderer import FrameRenderer
    from gpurender.scene import load_scene

    scene = load_scene(Path(__file__).parents[1] / "examples" / "galaxy_timecode.toml")
    r = FrameRenderer(scene, features, W, H, FPS)
    out = r.render_rgba(12)
    assert out[..., :3].max() > 100
    assert r.layers[2].text_at(r.frame_info(12)).startswith("000.40 s   frame 12/")
