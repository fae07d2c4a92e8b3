"""The direct point-cloud path (splat -> listed tiles -> I420) against the general frame loop.

``PointVideoRenderer`` must give the frames the scene path gives (``pointseq`` layer + ``text``
title layer, compositor, GPU conversion) to within one code value, whatever the points, the
background and the title, while resolving only the tiles the points touch.
"""

from __future__ import annotations

import numpy as np
import pytest

import gpurender
from gpurender.pointcloud.export import _title_layer
from gpurender.pointcloud.frames import ColorMapper, FrameFeed, Normalizer
from gpurender.render.convert import split_i420
from gpurender.render.pointvideo import I420Splat, PointVideoRenderer
from gpurender.scene.model import Camera, Layer, Scene

TITLE = "Frame {i}/{n} | {points} points"


def _frames(seed=0, counts=(5000, 300, 2000)):
    rng = np.random.default_rng(seed)
    out = []
    for n in counts:
        pts = rng.normal(size=(n, 3)) * 0.8
        pts[: n // 10] += (3.0, 0.0, 0.0)  # some points off the frame's right edge, some across it
        out.append({"points": pts, "colors": rng.uniform(0, 1, (n, 4))})
    return out


def _feed(frames):
    return FrameFeed(frames, Normalizer((0, 0, 0), 1.0), ColorMapper("viridis", None), len(frames))


def _scene_path(frames, cam, bg, width, height, title, antialias=True):
    from gpurender.render.layers import pointseq  # noqa: F401  (registers the layer)
    from gpurender.render.renderer import FrameRenderer

    layers = [Layer(type="pointseq", name="points", params={
        "feed": _feed(frames), "size": 3.0, "softness": 0.35, "brightness": 1.0, "draw": "depth"})]
    if title is not None:
        layers.append(title)
    scene = Scene(background=bg, camera=cam, layers=tuple(layers))
    renderer = FrameRenderer(scene, None, width, height, 10)
    renderer.ctx.antialias = antialias  # what the scene's top-level antialias sets
    return [data for _, data in renderer.frames(0, len(frames))]


def _direct_path(frames, cam, bg, width, height, title, listed=True, antialias=True):
    spec = None if title is None else {k: title.params[k] for k in ("text", "size", "color", "x", "y", "anchor")}
    renderer = PointVideoRenderer(_feed(frames), cam, bg, width, height, 10, size=3.0, title=spec,
                                  antialias=antialias)
    renderer.splat.listed = listed
    return [data for _, data in renderer.frames(0, len(frames))]


@pytest.mark.parametrize("antialias", [True, False])
@pytest.mark.parametrize("title_color, bg", [("#ffcc00", (0.1, 0.2, 0.3, 1.0)), (None, (0.0, 0.0, 0.0, 1.0))])
def test_direct_frames_match_the_scene_path(title_color, bg, antialias):
    frames = _frames()
    cam = Camera(distance=4.0, elevation=20.0, azimuth=30.0, orbit_speed=10.0)
    title = _title_layer(TITLE, 12, title_color) if title_color else None
    a = _scene_path(frames, cam, bg, 160, 96, title, antialias=antialias)
    b = _direct_path(frames, cam, bg, 160, 96, title, antialias=antialias)
    assert len(a) == len(b) == 3
    for x, y in zip(a, b):
        diff = np.abs(x.astype(int) - y.astype(int))
        assert diff.max() <= 1, f"{(diff > 1).sum()} bytes differ by more than one code value"
    # the comparison means something: points and title are on the frames, which differ
    assert not np.array_equal(b[0], b[1])
    luma = split_i420(b[0], 160, 96)[0]
    assert len(np.unique(luma)) > 20


@pytest.mark.parametrize("antialias", [True, False])
def test_every_tile_resolve_gives_the_same_frames_as_the_tile_list(antialias):
    frames = _frames(1)
    cam = Camera(distance=3.0, elevation=10.0, azimuth=0.0, orbit_speed=0.0)
    title = _title_layer(TITLE, 10, "#ffffff")
    listed = _direct_path(frames, cam, (0.2, 0.0, 0.1, 1.0), 124, 64, title, listed=True, antialias=antialias)
    every = _direct_path(frames, cam, (0.2, 0.0, 0.1, 1.0), 124, 64, title, listed=False, antialias=antialias)
    for x, y in zip(listed, every):
        np.testing.assert_array_equal(x, y)


def test_only_the_tiles_a_point_touches_are_listed(device):
    from gpurender.render.camera import orbit_view_proj

    splat = I420Splat(device, 64, 32)
    splat.set_video((0.0, 0.0, 0.0, 1.0))
    splat.set_title(None)
    view = orbit_view_proj(3.0, 0.0, 0.0, 45.0, (0, 0, 0), 2.0)

    def listed(points):
        pts = np.asarray(points, np.float32)
        splat.set_points(pts, np.full(len(pts), 0xFFFFFFFF, np.uint32))
        splat.set_uniforms(view, 3.0, 1.0)
        encoder = device.create_command_encoder()
        splat.draw_splat(encoder)  # the splat alone: its list is left for the test to read
        device.queue.submit([encoder.finish()])
        count = int(np.frombuffer(device.queue.read_buffer(splat.tile_dispatch), np.uint32)[3])
        encoder = device.create_command_encoder()
        splat.draw_i420(encoder)  # a whole frame, which empties the keys and the list again
        device.queue.submit([encoder.finish()])
        return count

    assert listed([[0.0, 0.0, 0.0]]) in (1, 2, 3, 4)  # a 3-pixel disc meets at most 2x2 tiles of 8x2
    assert listed([[0.0, 0.0, 0.0], [0.0, 0.0, 0.01]]) <= 4  # the same tiles are listed once
    assert listed([[50.0, 0.0, 0.0]]) == 0  # off the frame: nothing to resolve
    assert listed(np.random.default_rng(0).uniform(-1, 1, (2000, 3))) > 20


def test_frame_is_the_background_where_no_point_is():
    frames = [{"points": np.zeros((1, 3)), "colors": np.array([[1.0, 1.0, 1.0]])}]
    cam = Camera(distance=3.0, elevation=0.0, azimuth=0.0, orbit_speed=0.0)
    [data] = _direct_path(frames, cam, (0.0, 0.0, 0.0, 1.0), 64, 48, None)
    y, u, v = split_i420(data, 64, 48)
    lit = y > 16
    assert 4 <= lit.sum() <= 12 and lit[22:26, 30:34].any()  # a 3-pixel disc in the middle
    assert (y[~lit] == 16).all() and (u == 128).all() and (v == 128).all()  # black elsewhere, no colour


def test_sprite_modes_take_the_scene_path_and_every_even_size_the_direct_one(tmp_path, monkeypatch):
    from gpurender.pointcloud.export import PointRecipe

    assert all(PointVideoRenderer.supports(w, h) for w, h in ((100, 60), (722, 480), (724, 480), (726, 756), (2, 2)))
    assert not PointVideoRenderer.supports(101, 60) and not PointVideoRenderer.supports(100, 61)
    built = []
    original = PointRecipe.build
    monkeypatch.setattr(PointRecipe, "build", lambda self: built.append(original(self)) or built[-1])
    seq = [{"points": np.random.default_rng(k).normal(size=(500, 3))} for k in range(3)]
    for kw in ({"resolution": "100x60"}, {"resolution": "104x60", "draw": "blend"}):
        result = gpurender.export_point_cloud_video(seq, tmp_path / "v.mp4", fps=5, progress=False, **kw)
        assert result.frames == 3 and (result.width, result.height) == (int(kw["resolution"][:3]), 60)
    assert [source.direct for source in built] == [True, False]


@pytest.mark.parametrize("size", [(722, 480), (724, 480), (726, 480), (722, 756), (100, 62)])
def test_padded_sizes_take_the_direct_path_and_match_the_scene_path(size):
    """Widths that are not a multiple of 8 are drawn padded to one and cropped: the encoder gets
    exactly width x height I420, equal to the general path's within one code value, points and
    title reaching the right edge included."""
    from gpurender.render.pointvideo import padded_width

    width, height = size
    frames = _frames(3, counts=(3000, 800))
    for f in frames:
        f["points"][:200] = f["points"][:200] * 0.3 + (1.6, 0.0, 0.0)  # a clump across the right edge
    cam = Camera(distance=3.5, elevation=15.0, azimuth=20.0, orbit_speed=0.0)
    title = _title_layer("{points} points at the right edge of the frame", 14, "#80ff40")
    title = Layer(type="text", name="title", params={**title.params, "x": 1.0, "y": 0.5, "anchor": "right"})
    a = _scene_path(frames, cam, (0.05, 0.05, 0.1, 1.0), width, height, title)
    spec = {k: title.params[k] for k in ("text", "size", "color", "x", "y", "anchor")}
    renderer = PointVideoRenderer(_feed(frames), cam, (0.05, 0.05, 0.1, 1.0), width, height, 10, size=3.0,
                                  title=spec)
    assert renderer.splat.row == padded_width(width) >= width and renderer.splat.row % 8 == 0
    b = [data for _, data in renderer.frames(0, len(frames))]
    for x, y in zip(a, b):
        assert x.shape == y.shape == (width * height * 3 // 2,)
        diff = np.abs(x.astype(int) - y.astype(int))
        assert diff.max() <= 1, f"{(diff > 1).sum()} bytes differ by more than one code value"
    # the right edge is drawn: points and the title's last column reach it
    luma = split_i420(b[0], width, height)[0]
    assert len(np.unique(luma[:, -4:])) > 3


def test_title_partly_off_the_frame_is_clipped(tmp_path):
    seq = [{"points": np.random.default_rng(k).normal(size=(500, 3))} for k in range(2)]
    result = gpurender.export_point_cloud_video(seq, tmp_path / "v.mp4", fps=5, resolution="64x48", progress=False,
                                                title="a long title that runs far past the right edge of the frame",
                                                title_size=30)
    assert result.frames == 2


def test_switching_antialias_on_one_splat_gives_each_its_own_frames():
    frames = _frames(4, counts=(3000,))
    cam = Camera(distance=4.0, elevation=20.0, azimuth=30.0, orbit_speed=0.0)
    smooth = _direct_path(frames, cam, (0.0, 0.0, 0.0, 1.0), 96, 64, None, antialias=True)
    hard = _direct_path(frames, cam, (0.0, 0.0, 0.0, 1.0), 96, 64, None, antialias=False)
    assert not np.array_equal(smooth[0], hard[0])
    renderer = PointVideoRenderer(_feed(frames), cam, (0.0, 0.0, 0.0, 1.0), 96, 64, 10, size=3.0)
    got = []
    for antialias in (True, False, True):
        renderer.splat.set_antialias(antialias)
        got.append([data for _, data in renderer.frames(0, 1)][0])
    np.testing.assert_array_equal(got[0], smooth[0])
    np.testing.assert_array_equal(got[1], hard[0])
    np.testing.assert_array_equal(got[2], smooth[0])


def test_gpu_variant_of_the_splat_gives_the_same_frames(monkeypatch):
    # GPUs read a pixel's key before the atomicMax (fewer contended atomics); software adapters do
    # not. Both must pick the same point for every pixel: build the GPU variant here and compare.
    from dataclasses import replace

    from gpurender.render import device as device_module
    from gpurender.render.layers import pointseq

    frames = _frames(2, counts=(20000, 20000))
    cam = Camera(distance=4.0, elevation=30.0, azimuth=10.0, orbit_speed=0.0)
    software = _direct_path(frames, cam, (0.0, 0.0, 0.0, 1.0), 96, 64, None)
    info = device_module.adapter_info()
    monkeypatch.setattr(device_module, "adapter_info", lambda: replace(info, adapter_type="discrete-gpu",
                                                                       name="test gpu"))
    pointseq._compiled.clear()
    try:
        gpu = _direct_path(frames, cam, (0.0, 0.0, 0.0, 1.0), 96, 64, None)
        assert pointseq._compiled[0][2][("splat_listed", 4)] is not None
    finally:
        pointseq._compiled.clear()  # later tests get the software adapter's pipelines again
    for x, y in zip(software, gpu):
        np.testing.assert_array_equal(x, y)
