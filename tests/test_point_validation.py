"""One check of point arrays: a points layer's file and the point-sequence export accept and refuse
the same arrays, with the same words, and read integer colours the same way (bytes 0..255)."""

from __future__ import annotations

import numpy as np
import pytest

from gpurender.errors import SceneError
from gpurender.pointcloud.frames import check_frame, scan
from gpurender.render.layers.points import pack_colors
from gpurender.scene.pointfile import load_point_file

N = 6
PTS = np.linspace(-1.0, 1.0, N * 3).reshape(N, 3)
LEVELS = np.array([0, 1, 64, 127, 128, 255])  # bytes, one per point
UNIT = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 0.125])  # exact in float32 and float16


def _colors(values, dtype, channels=3):
    return np.repeat(np.asarray(values)[:, None], channels, axis=1).astype(dtype)


def _with(points=PTS, **change):
    pts = np.array(points, copy=True)
    for (row, col), value in change.get("set", {}).items():
        pts[row, col] = value
    return pts


ACCEPTED = {
    "float64 points, no colours": (PTS, None),
    "float32 points": (PTS.astype(np.float32), None),
    "integer points": (np.arange(N * 3).reshape(N, 3), None),
    "uint8 colours": (PTS, _colors(LEVELS, np.uint8)),
    "uint8 RGBA colours": (PTS, _colors(LEVELS, np.uint8, 4)),
    "int64 colours are bytes": (PTS, _colors(LEVELS, np.int64)),
    "int16 colours are bytes": (PTS, _colors(LEVELS, np.int16)),
    "uint16 colours are bytes": (PTS, _colors(LEVELS, np.uint16, 4)),
    "integer colours of 0 and 1 are bytes too": (PTS, _colors([0, 1, 0, 1, 0, 1], np.int32)),
    "float32 colours": (PTS, _colors(UNIT, np.float32)),
    "float64 RGBA colours": (PTS, _colors(UNIT, np.float64, 4)),
    "float16 colours": (PTS, _colors(UNIT, np.float16)),
}

REFUSED = {
    "integer colours above 255": (PTS, _colors([0, 1, 2, 3, 4, 300], np.int64), "integer colours are bytes"),
    "negative integer colours": (PTS, _colors([0, -1, 2, 3, 4, 5], np.int32), "must be in 0..255 (found -1..5)"),
    "float colours in 0..255": (PTS, _colors(LEVELS, np.float64), "float colours must be in 0..1"),
    "negative float colours": (PTS, _colors(UNIT - 0.5, np.float32), "float colours must be in 0..1"),
    "NaN colours": (PTS, _colors([0.1, np.nan, 0.2, 0.3, 0.4, 0.5], np.float32), "colors contain NaN"),
    "boolean colours": (PTS, _colors([True, False] * 3, bool), "colors must be numbers, not bool"),
    "text colours": (PTS, _colors(list("abcdef"), str), "colors must be numbers"),
    "colours of the wrong width": (PTS, np.zeros((N, 5)), "colors have shape (6, 5)"),
    "too few colours": (PTS, np.zeros((N - 1, 3)), "5 colours for 6 points"),
    "points of the wrong width": (PTS[:, :2], None, "points have shape (6, 2)"),
    "no points": (np.zeros((0, 3)), None, "no points"),
    "NaN points": (_with(set={(4, 1): np.nan}), None, "points contain NaN or infinite values (first at point 4"),
    "infinite points": (_with(set={(2, 0): np.inf}), None, "points contain NaN or infinite values (first at point 2"),
    "points beyond float32": (_with(set={(3, 2): 1e39}), None, "point 3 has a coordinate beyond float32's range"),
    "boolean points": (np.ones((N, 3), bool), None, "points must be numbers, not bool"),
    "complex points": (PTS.astype(complex), None, "points must be numbers, not complex128"),
    "text points": (np.full((N, 3), "x"), None, "points must be numbers"),
}


def _layer_file(tmp_path, points, colors):
    """What a points layer with file = "f.npz" reads (PointSequence.load -> load_point_file)."""
    path = tmp_path / "f.npz"
    arrays = {"points": points} if colors is None else {"points": points, "colors": colors}
    np.savez(path, **arrays)
    return load_point_file(path)


def _export(points, colors):
    """What export_point_cloud_video / write_sequence check each frame with (scan, then the feed)."""
    frame = {"points": points} if colors is None else {"points": points, "colors": colors}
    scan([frame])
    got = check_frame(frame, 0)
    return got.points, got.colors


@pytest.mark.parametrize("points, colors", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_both_paths_accept_the_same_arrays_and_draw_the_same_colours(tmp_path, points, colors):
    layer_points, layer_colors = _layer_file(tmp_path, points, colors)
    export_points, export_colors = _export(points, colors)
    np.testing.assert_array_equal(layer_points, export_points.astype(np.float32))
    if colors is None:
        assert layer_colors is None and export_colors is None
        return
    np.testing.assert_array_equal(pack_colors(layer_colors), pack_colors(export_colors))
    red = np.asarray(colors[:, 0], np.float64)
    expected = red if np.issubdtype(colors.dtype, np.integer) else np.rint(red * 255)  # the rule
    np.testing.assert_array_equal(pack_colors(export_colors).view(np.uint8).reshape(N, 4)[:, 0], expected)


def test_integer_colours_of_0_and_1_mean_bytes_not_full_brightness(tmp_path):
    colors = _colors([0, 1, 0, 1, 0, 1], np.int32)
    for _, got in (_layer_file(tmp_path, PTS, colors), _export(PTS, colors)):
        assert pack_colors(got).view(np.uint8).reshape(N, 4)[:, 0].tolist() == [0, 1, 0, 1, 0, 1]


@pytest.mark.parametrize("points, colors, words", REFUSED.values(), ids=REFUSED.keys())
def test_both_paths_refuse_the_same_arrays_in_the_same_words(tmp_path, points, colors, words):
    with pytest.raises(SceneError) as layer:
        _layer_file(tmp_path, points, colors)
    with pytest.raises(SceneError) as export:
        _export(points, colors)
    layer_text, export_text = str(layer.value), str(export.value)
    assert layer_text.startswith(f"point file {str(tmp_path / 'f.npz')!r}: ") and export_text.startswith("frame 0: ")
    assert layer_text.split(": ", 1)[1] == export_text.split(": ", 1)[1]  # the same words after the place
    assert words in export_text and "\n" not in export_text
