"""Anti-aliasing on every edge a layer draws (issue 13), on by default, off with ``antialias = false``.

The measure: on a white drawing over black, the *edge pixels* are those whose 3x3 neighbourhood
holds both black (0) and full white (255); the share of them with a value in between is the share
of partial coverage. Hard edges give 0%; a 4x-supersampled render of a radial spectrum gives about
30%. Each layer kind must reach 20% anti-aliased and stay under 1% with anti-aliasing off.

Reference images (``tests/reference/``, regenerate with ``GPURENDER_REGENERATE=1`` after looking at
them): the layer references of test_layers_media/test_layers_fx are drawn anti-aliased; the
``*_aliased`` ones here are the same frames with anti-aliasing off, which are the pictures from
before anti-aliasing (stored then), so ``antialias = false`` keeps today's hard edges.
"""

from __future__ import annotations

import numpy as np
import pytest

from gpurender.errors import SceneError
from gpurender.scene import scene_from_dict
from refimage import assert_matches_reference

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

W, H, FPS = 160, 120, 30
WHITE = "#ffffff"


@pytest.fixture(scope="module")
def features():
    from gpurender.audio import analyze, demo_track

    return analyze(demo_track(duration=1.0), FPS)


def scene(layers, antialias: bool, background="#000000"):
    data = {"background": background, "layers": layers}
    try:
        return scene_from_dict({**data, "antialias": antialias}, source="test.toml")
    except SceneError:
        return scene_from_dict(data, source="test.toml")  # before the frame loop took the top-level key


def renderer(features, layers, antialias: bool, width=W, height=H, background="#000000"):
    from gpurender.render.renderer import FrameRenderer

    r = FrameRenderer(scene(layers, antialias, background), features, width, height, FPS)
    r.ctx.antialias = antialias  # what the scene's top-level antialias sets
    return r


def still(features, layers, antialias: bool, index=15, **kwargs) -> np.ndarray:
    return renderer(features, layers, antialias, **kwargs).render_rgba(index)


def partial_edge_share(values: np.ndarray, lo: int = 0, hi: int = 255) -> tuple[float, int]:
    """(share of edge pixels strictly between ``lo`` and ``hi``, number of edge pixels) of a 2-D
    array; edge pixels have both ``lo`` and ``hi`` in their 3x3 neighbourhood."""
    v = np.asarray(values).astype(np.int32)
    pad = np.pad(v, 1, mode="edge")
    around = np.stack([pad[1 + dy:1 + dy + v.shape[0], 1 + dx:1 + dx + v.shape[1]]
                       for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    edge = (around <= lo).any(0) & (around >= hi).any(0)
    partial = edge & (v > lo) & (v < hi)
    return float(partial.sum()) / max(int(edge.sum()), 1), int(edge.sum())


def white_image(tmp_path, w=37, h=23):
    from PIL import Image

    path = tmp_path / "white.png"
    Image.fromarray(np.full((h, w, 4), 255, np.uint8), "RGBA").save(path)
    return str(path)


# every kind of edge, drawn white on black (the image's file is filled in by the test)
EDGES = {
    "spectrum_radial": [{"type": "spectrum", "style": "radial", "bars": 24, "color": WHITE, "color_top": WHITE}],
    "spectrum_bars": [{"type": "spectrum", "style": "bars", "bars": 24, "color": WHITE, "color_top": WHITE}],
    "spectrum_mirrored": [{"type": "spectrum", "style": "mirrored", "bars": 13, "y": 0.5, "color": WHITE,
                           "color_top": WHITE}],
    "waveform_line": [{"type": "waveform", "gain": 4.0, "thickness": 2.0, "color": WHITE, "y": 0.5,
                       "height": 0.8}],
    "waveform_filled": [{"type": "waveform", "style": "filled", "gain": 4.0, "thickness": 0.0, "color": WHITE,
                         "fill_color": WHITE, "y": 0.5, "height": 0.8}],
    "image": [{"type": "image", "fit": "none", "scale": 2.37, "x": 0.43, "y": 0.57, "filter": "linear"}],
    "sprites": [{"type": "points", "shape": "random", "count": 60, "size": 9, "softness": 0.0, "color": WHITE,
                 "draw": "blend"}],
    "depth_points": [{"type": "points", "shape": "random", "count": 60, "size": 9, "softness": 0.0, "color": WHITE,
                      "draw": "depth"}],
}


@pytest.mark.parametrize("kind", sorted(EDGES))
def test_every_edge_is_antialiased_by_default_and_hard_without(features, tmp_path, kind):
    layers = [dict(layer) for layer in EDGES[kind]]
    if kind == "image":
        layers[0]["file"] = white_image(tmp_path)
    smooth = still(features, layers, True)[..., :3].max(-1)
    hard = still(features, layers, False)[..., :3].max(-1)
    share, edges = partial_edge_share(smooth)
    hard_share, hard_edges = partial_edge_share(hard)
    assert hard_edges > 40 and edges > 20, f"{kind}: too little drawn to judge ({hard_edges}, {edges} edge pixels)"
    assert share >= 0.20, f"{kind}: {share:.1%} of {edges} edge pixels partly covered with anti-aliasing"
    assert hard_share <= 0.01, f"{kind}: {hard_share:.1%} of {hard_edges} edge pixels partly covered without"
    # the same drawing: as much white either way, give or take the edges
    assert abs(float(smooth.sum()) - float(hard.sum())) < 0.1 * float(hard.sum())


def test_a_radial_spectrum_is_as_smooth_as_a_supersampled_render(features):
    """Measured against a 4x supersampled render of the same frame (a 4x4 box filter of a frame
    drawn at 4x the size, hard edges): about as many partly covered edge pixels, and the pictures
    within a few levels on average."""
    layers = EDGES["spectrum_radial"]
    smooth = still(features, layers, True)[..., :3].max(-1).astype(np.float64)
    big = still(features, layers, False, width=4 * W, height=4 * H)[..., :3].max(-1).astype(np.float64)
    reference = big.reshape(H, 4, W, 4).mean(axis=(1, 3))
    ours, _ = partial_edge_share(np.rint(smooth))
    theirs, _ = partial_edge_share(np.rint(reference))
    assert theirs > 0.2 and ours >= 0.8 * theirs, (ours, theirs)
    assert np.abs(smooth - reference).mean() < 2.0
    assert np.abs(smooth - reference).max() < 96


def test_direct_point_export_is_antialiased_by_default_and_hard_without():
    from gpurender.pointcloud.frames import ColorMapper, FrameFeed, Normalizer
    from gpurender.render.convert import split_i420
    from gpurender.render.pointvideo import PointVideoRenderer
    from gpurender.scene.model import Camera

    rng = np.random.default_rng(5)
    frames = [{"points": rng.uniform(-1, 1, (80, 3)), "colors": np.ones((80, 3))}]
    feed = FrameFeed(frames, Normalizer((0, 0, 0), 1.0), ColorMapper("viridis", None), 1)
    cam = Camera(distance=3.0, elevation=10.0, azimuth=0.0, orbit_speed=0.0)
    shares = {}
    for antialias in (True, False):
        r = PointVideoRenderer(feed, cam, (0.0, 0.0, 0.0, 1.0), 162, 120, 30, size=9.0, antialias=antialias)
        [(_, data)] = list(r.frames(0, 1))
        luma = split_i420(data, 162, 120)[0]
        shares[antialias] = partial_edge_share(luma, lo=16, hi=235)
    assert shares[True][0] >= 0.2 and shares[False][0] <= 0.01, shares


# -- antialias = false is the picture from before anti-aliasing ----------------------------------

def _reference_layers():
    from test_layers_media import POINT_REFERENCES

    spectrum = {"type": "spectrum", "bars": 24, "color": "#2060ff", "color_top": "#ff4080"}
    return {
        "spectrum_bars": ([{**spectrum, "style": "bars"}], "#101010", 15),
        "spectrum_mirrored": ([{**spectrum, "style": "mirrored", "y": 0.5}], "#101010", 15),
        "spectrum_radial": ([{**spectrum, "style": "radial"}], "#101010", 15),
        "points_depth": ([{"type": "points", **POINT_REFERENCES["points_depth"]}], "#0a0a14", 10),
    }


@pytest.mark.parametrize("name", ["spectrum_bars", "spectrum_mirrored", "spectrum_radial", "points_depth"])
def test_antialias_false_draws_the_pictures_from_before(features, name):
    layers, background, index = _reference_layers()[name]
    out = still(features, layers, False, index=index, width=96, height=64, background=background)
    assert_matches_reference(f"{name}_aliased", out)


def test_image_antialias_false_draws_the_picture_from_before(features, tmp_path):
    from test_layers_media import test_chart_image

    path, _ = test_chart_image(tmp_path)
    out = still(features, [{"type": "image", "file": str(path), "fit": "contain"}], False, index=10,
                width=96, height=64, background="#203040")
    assert_matches_reference("image_contain_aliased", out)


def test_antialiased_sprites_and_depth_points_reference(features):
    """Small hard-edged discs, sprites and splatted, anti-aliased (reference images)."""
    for draw in ("blend", "depth"):
        layer = {"type": "points", "shape": "torus", "count": 300, "size": 6, "softness": 0.0, "draw": draw,
                 "colormap": "plasma"}
        out = still(features, [layer], True, index=10, width=96, height=64, background="#0a0a14")
        assert_matches_reference(f"antialias_points_{draw}", out)


# -- chunks ------------------------------------------------------------------------------------

def test_chunked_lossless_render_is_bit_identical_to_the_single_pass(tmp_path, features):
    from gpurender.audio import load_audio
    from gpurender.farm import JobOptions
    from gpurender.pipeline import render_video
    from gpurender.settings import RenderSettings
    from media import assert_same_frames, decoded, write_song

    song = write_song(tmp_path / "song.wav")
    layers = [layer for kind in ("spectrum_radial", "waveform_line", "sprites", "depth_points")
              for layer in EDGES[kind]]
    scn = scene(layers, True, "#102030")
    settings = RenderSettings(width=96, height=64, fps=12, lossless=True)
    audio = load_audio(song)
    single, chunked = tmp_path / "single.mkv", tmp_path / "chunked.mkv"
    render_video(scn, audio, single, settings)
    result = render_video(scn, audio, chunked, settings, job=JobOptions(chunk_frames=5))
    assert result.chunks > 1
    frames = decoded(single)
    assert_same_frames(decoded(chunked), frames)
    assert not np.array_equal(frames[2], frames[-3])
