"""Point-cloud frames without a GPU: validation, the feed, colours, camera fitting, files, examples."""

from __future__ import annotations

import numpy as np
import pytest

from gpurender.errors import SceneError
from gpurender.pointcloud import example_sequence, open_sequence, write_sequence
from gpurender.pointcloud.export import resolve_camera
from gpurender.pointcloud.frames import (ColorMapper, FrameFeed, Normalizer, PointFrame, check_frame, scan)
from gpurender.render.camera import orbit_view_proj

RNG = np.random.default_rng(7)
PTS = RNG.normal(size=(50, 3))


def test_frames_as_dict_array_and_pointframe():
    a = check_frame({"points": PTS}, 0)
    b = check_frame(PTS, 1)
    c = check_frame(PointFrame(PTS.astype(np.float32), None, "x.ply"), 2)
    assert a.colors is None and b.colors is None
    np.testing.assert_array_equal(a.points, b.points)
    assert c.points.dtype == np.float32 and c.name == "x.ply"


def test_colors_floats_bytes_and_integers():
    f = check_frame({"points": PTS, "colors": np.full((50, 3), 0.5)}, 0).colors
    u = check_frame({"points": PTS, "colors": np.full((50, 4), 200, np.uint8)}, 0).colors
    i = check_frame({"points": PTS, "colors": np.full((50, 3), 255, np.int64)}, 0).colors
    assert f.dtype.kind == "f" and u.dtype == np.uint8 and i.dtype == np.uint8 and i.max() == 255


def _bad(kind):
    pts = PTS.copy()
    if kind == "nan":
        pts[17, 1] = np.nan
        return {"points": pts}
    if kind == "inf":
        pts[3, 0] = np.inf
        return {"points": pts}
    if kind == "shape":
        return {"points": pts[:, :2]}
    if kind == "flat":
        return {"points": pts.reshape(-1)}
    if kind == "empty":
        return {"points": np.zeros((0, 3))}
    if kind == "text":
        return {"points": np.array([["a", "b", "c"]])}
    if kind == "colors_count":
        return {"points": pts, "colors": np.zeros((49, 3))}
    if kind == "colors_shape":
        return {"points": pts, "colors": np.zeros((50, 5))}
    if kind == "colors_range":
        return {"points": pts, "colors": np.full((50, 3), 255.0)}
    if kind == "colors_int_range":
        return {"points": pts, "colors": np.full((50, 3), 300)}
    if kind == "colors_nan":
        c = np.zeros((50, 3))
        c[4, 2] = np.nan
        return {"points": pts, "colors": c}
    if kind == "unknown_key":
        return {"points": pts, "color": np.zeros((50, 3))}
    if kind == "no_points":
        return {"colors": np.zeros((50, 3))}
    if kind == "none":
        return None
    raise AssertionError(kind)


@pytest.mark.parametrize("kind, words", [
    ("nan", "NaN or infinite values (first at point 17"), ("inf", "NaN or infinite values (first at point 3"),
    ("shape", "shape (50, 2)"), ("flat", "shape (150,)"), ("empty", "no points"), ("text", "must be numbers"),
    ("colors_count", "49 colours for 50 points"), ("colors_shape", "colors have shape (50, 5)"),
    ("colors_range", "must be in 0..1"), ("colors_int_range", "0..255"), ("colors_nan", "colors contain NaN"),
    ("unknown_key", "unknown key 'color'"), ("no_points", "no 'points'"), ("none", "NoneType"),
])
def test_every_kind_of_bad_frame_names_the_frame_and_the_problem(kind, words):
    with pytest.raises(SceneError) as err:
        check_frame(_bad(kind), 3)
    assert "frame 3" in str(err.value) and words in str(err.value)
    assert "\n" not in str(err.value)


def test_scan_measures_the_whole_sequence_and_stops_at_the_bad_frame():
    frames = [{"points": PTS * (k + 1)} for k in range(4)] + [{"points": PTS[:10]}]
    info = scan(frames)
    assert info.frames == 5 and info.min_points == 10 and info.max_points == 50
    np.testing.assert_allclose(info.lo, (PTS * 4).min(axis=0))
    np.testing.assert_allclose(info.hi, (PTS * 4).max(axis=0))
    frames[2] = _bad("nan")
    with pytest.raises(SceneError, match="frame 2"):
        scan(frames)
    with pytest.raises(SceneError, match="no frames"):
        scan([])


def test_feed_streams_forward_and_finds_the_end():
    norm, colors = Normalizer((0, 0, 0), 2.0), ColorMapper("viridis", (-3.0, 3.0))
    gen = ({"points": PTS[: 10 + k]} for k in range(3))
    feed = FrameFeed(gen, norm, colors)
    assert feed.describe(0) == {"i": 1, "n": "?", "frames": "?", "points": 10}
    np.testing.assert_allclose(feed.at(1).points, (PTS[:11] / 2.0).astype(np.float32), rtol=1e-6)
    assert feed.at(2).index == 2 and feed.at(3) is None and feed.end == 3
    assert feed.finish() == 3
    with pytest.raises(RuntimeError):
        feed.at(1)


@pytest.mark.parametrize("count, total, words", [(2, 3, "gave 2 frames but 3"), (4, 3, "more than the 3 frames")])
def test_feed_refuses_a_source_that_breaks_its_announced_length(count, total, words):
    feed = FrameFeed(({"points": PTS} for _ in range(count)), Normalizer((0, 0, 0), 1.0),
                     ColorMapper("viridis", None), total)
    for i in range(min(count, total)):
        assert feed.at(i) is not None
    with pytest.raises(SceneError, match=words):
        feed.finish()


def test_colormap_spans_the_whole_sequence_height_not_each_frame():
    mapper = ColorMapper("viridis", (0.0, 10.0))
    low = PointFrame(np.array([[0.0, 5.0, 0.0]]))
    high = PointFrame(np.array([[0.0, 5.0, 0.0], [0.0, 10.0, 0.0]]))
    a = mapper.pack(low, low.points[:, 1])
    b = mapper.pack(high, high.points[:, 1])
    assert a[0] == b[0] != b[1]  # the same height has the same colour in every frame
    own = ColorMapper("viridis", None)
    assert own.pack(low, low.points[:, 1])[0] == own.table[0]
    given = PointFrame(PTS[:2], np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    packed = mapper.pack(given, given.points[:, 1]).view(np.uint8).reshape(-1, 4)
    np.testing.assert_array_equal(packed, [[255, 0, 0, 255], [0, 0, 255, 255]])


def test_normalizer_centres_scales_and_turns_z_up():
    norm = Normalizer((10.0, 20.0, 30.0), 5.0, up="z")
    out = norm.apply(np.array([[15.0, 20.0, 40.0]]))
    np.testing.assert_allclose(out, [[1.0, 2.0, 0.0]])  # (x, y, z) -> (x, z, -y), data z is up
    assert norm.height(np.array([[0.0, 1.0, 7.0]]))[0] == 7.0


def _ndc(view_proj, points):
    h = np.c_[points, np.ones(len(points))] @ view_proj.T
    return h[:, :3] / h[:, 3:]


@pytest.mark.parametrize("mode", ["auto", "orbit"])
def test_fitted_camera_keeps_every_corner_of_the_bounds_in_view(mode):
    lo, hi = np.array([100.0, -2.0, 5.0]), np.array([140.0, 8.0, 9.0])
    cam, norm = resolve_camera(mode, (lo, hi), 4 / 3, "y", duration=2.0)
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    drawn = norm.apply(corners)
    assert cam.orbit_speed == (180.0 if mode == "orbit" else 0.0)
    widest = 0.0
    for t in np.linspace(0.0, 2.0, 9):
        vp = orbit_view_proj(cam.distance, cam.elevation, cam.azimuth + cam.orbit_speed * t, cam.fov, cam.target, 4 / 3)
        ndc = _ndc(vp, drawn)
        assert np.all(np.abs(ndc[:, :2]) <= 1.0) and np.all((ndc[:, 2] > 0) & (ndc[:, 2] < 1))
        widest = max(widest, np.abs(ndc[:, :2]).max())
    assert widest > 0.8  # fitted, not merely far away


def test_camera_without_bounds_needs_a_fixed_distance_and_target():
    with pytest.raises(SceneError, match="bounds"):
        resolve_camera("auto", None, 1.0, "y", None)
    cam, norm = resolve_camera({"distance": 30.0, "target": (5, 5, 5), "elevation": 10}, None, 1.0, "y", None)
    assert cam.distance == pytest.approx(3.0) and cam.target == (0.0, 0.0, 0.0) and cam.elevation == 10
    assert norm.center == (5.0, 5.0, 5.0)
    with pytest.raises(SceneError, match="unknown key 'zoom'"):
        resolve_camera({"zoom": 2}, None, 1.0, "y", None)
    with pytest.raises(SceneError, match="camera 'spin'"):
        resolve_camera("spin", None, 1.0, "y", None)


def test_example_sequences_are_lazy_deterministic_and_the_helix_grows():
    a, b = example_sequence("torus", 5, 300, seed=3), example_sequence("torus", 5, 300, seed=3)
    np.testing.assert_array_equal(a[4]["points"], b[4]["points"])
    assert not np.array_equal(a[0]["points"], a[1]["points"])
    helix = example_sequence("helix", 6, 1000)
    sizes = [len(f["points"]) for f in helix]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1] == 1000
    sphere = example_sequence("sphere", 2, 100, colors="uint8")
    assert sphere[1]["colors"].dtype == np.uint8 and sphere[1]["colors"].shape == (100, 4)
    assert example_sequence("sphere", 2, 100, colors="float")[0]["colors"].dtype == np.float32
    with pytest.raises(SceneError, match="unknown example shape 'cone'"):
        example_sequence("cone")


@pytest.mark.parametrize("fmt", ["npz", "ply", "npy", "csv"])
@pytest.mark.parametrize("colors", ["none", "float", "uint8"])
def test_sequences_round_trip_through_every_format(tmp_path, fmt, colors):
    seq = example_sequence("helix", 3, 200, colors=colors)
    target = tmp_path / ("seq.npz" if fmt == "npz" else "frames")
    write_sequence(seq, target, fmt)
    back = open_sequence(target)
    assert len(back) == 3
    for k, frame in enumerate(back):
        got = check_frame(frame, k)
        np.testing.assert_allclose(got.points, seq[k]["points"], atol=1e-5)
        if colors == "none":
            assert got.colors is None
        else:
            want = seq[k]["colors"]
            want = want / 255.0 if want.dtype == np.uint8 else want
            have = got.colors / 255.0 if got.colors.dtype == np.uint8 else got.colors
            np.testing.assert_allclose(have, want, atol=0.5 / 255 + 1e-6)


def test_stacked_arrays_globs_file_lists_and_natural_order(tmp_path):
    stacked = np.stack([PTS + k for k in range(4)]).astype(np.float32)
    np.savez(tmp_path / "stacked.npz", points=stacked, colors=np.full((4, 50, 3), 0.25))
    seq = open_sequence(tmp_path / "stacked.npz")
    assert len(seq) == 4
    np.testing.assert_allclose(seq[3].points, stacked[3])
    assert seq[3].colors.shape == (50, 3)
    np.save(tmp_path / "stacked.npy", stacked)
    assert len(open_sequence(tmp_path / "stacked.npy")) == 4
    folder = tmp_path / "f"
    folder.mkdir()
    for k in (10, 2, 1):
        np.save(folder / f"frame_{k}.npy", PTS[: 10 + k])
    by_glob = open_sequence(str(folder / "frame_*.npy"))
    by_list = open_sequence([folder / "frame_10.npy", folder / "frame_1.npy", folder / "frame_2.npy"])
    by_folder = open_sequence(folder)
    for seq in (by_glob, by_list, by_folder):
        assert [len(f.points) for f in seq] == [11, 12, 20]


def test_ascii_ply_with_colours(tmp_path):
    path = tmp_path / "a.ply"
    path.write_text("ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\n"
                    "property float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\n"
                    "end_header\n0 0 0 255 0 0\n1 2 3 0 0 255\n")
    [frame] = list(open_sequence(path))
    np.testing.assert_allclose(frame.points, [[0, 0, 0], [1, 2, 3]])
    assert frame.colors is not None and frame.colors.shape == (2, 3)


def test_bad_inputs_say_what_is_wrong(tmp_path):
    with pytest.raises(SceneError, match="does not exist"):
        open_sequence(tmp_path / "missing.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SceneError, match="holds no"):
        open_sequence(tmp_path / "empty")
    with pytest.raises(SceneError, match="matches no files"):
        open_sequence(str(tmp_path / "*.ply"))
    np.savez(tmp_path / "odd.npz", a=np.zeros(3), b=np.zeros(3))
    with pytest.raises(SceneError, match="no point arrays"):
        open_sequence(tmp_path / "odd.npz")
