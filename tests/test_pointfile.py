"""Point files: every format and its colours, per-frame sequences, and the errors for bad files."""

from __future__ import annotations

import numpy as np
import pytest

from gpurender.errors import SceneError
from gpurender.scene.pointfile import PointSequence, is_sequence, load_point_file, resolve_point_files

RNG = np.random.default_rng(7)
PTS = RNG.normal(size=(25, 3)).astype(np.float32)
RGB8 = RNG.integers(0, 256, size=(25, 3), dtype=np.uint8)
RGBA_F = RNG.uniform(0, 1, size=(25, 4)).astype(np.float32)


def write_ply(path, points, colors=None, fmt="ascii", color_type="uchar", before=None, after_faces=True):
    """A PLY file written the way common tools do; ``before`` adds an element ahead of the vertices."""
    n = len(points)
    names = ["x", "y", "z"]
    types = ["float"] * 3
    if colors is not None:
        names += ["red", "green", "blue", "alpha"][:colors.shape[1]]
        types += [color_type] * colors.shape[1]
    header = ["ply", f"format {fmt} 1.0", "comment made in a test"]
    if before:
        header += [f"element {before[0]} {len(before[1])}", f"property float {before[0]}_value"]
    header += [f"element vertex {n}"] + [f"property {t} {name}" for t, name in zip(types, names)]
    if after_faces:
        header += ["element face 1", "property list uchar int vertex_indices"]
    header += ["end_header"]
    np_types = {"float": "f4", "uchar": "u1", "ushort": "u2", "int": "i4", "double": "f8"}
    with open(path, "wb") as f:
        f.write(("\n".join(header) + "\n").encode())
        if fmt == "ascii":
            if before:
                f.write("".join(f"{v}\n" for v in before[1]).encode())
            for i in range(n):
                row = [repr(float(v)) for v in points[i]]
                if colors is not None:
                    row += [str(c) for c in colors[i].tolist()]
                f.write((" ".join(row) + "\n").encode())
            if after_faces:
                f.write(b"3 0 1 2\n")
        else:
            order = "<" if fmt == "binary_little_endian" else ">"
            if before:
                f.write(np.asarray(before[1], dtype=order + "f4").tobytes())
            dtype = np.dtype([(nm, order + np_types[t]) for nm, t in zip(names, types)])
            rec = np.zeros(n, dtype=dtype)
            for k, nm in enumerate(("x", "y", "z")):
                rec[nm] = points[:, k]
            if colors is not None:
                for k, nm in enumerate(names[3:]):
                    rec[nm] = colors[:, k]
            f.write(rec.tobytes())
            if after_faces:
                f.write(np.array([3], np.uint8).tobytes() + np.array([0, 1, 2], order + "i4").tobytes())


@pytest.mark.parametrize("fmt", ["ascii", "binary_little_endian", "binary_big_endian"])
def test_ply_with_uchar_colours(tmp_path, fmt):
    path = tmp_path / "cloud.ply"
    write_ply(path, PTS, RGB8, fmt=fmt)
    points, colors = load_point_file(path)
    np.testing.assert_allclose(points, PTS, rtol=1e-6)
    np.testing.assert_allclose(colors, RGB8 / 255.0, atol=1e-6)
    assert points.dtype == np.float32 and colors.dtype == np.float32


def test_ply_float_rgba_and_no_colours(tmp_path):
    write_ply(tmp_path / "a.ply", PTS, RGBA_F, fmt="binary_little_endian", color_type="float")
    points, colors = load_point_file(tmp_path / "a.ply")
    assert colors.shape == (25, 4)
    np.testing.assert_allclose(colors, RGBA_F, atol=1e-7)
    write_ply(tmp_path / "b.ply", PTS, None, fmt="ascii", after_faces=False)
    points, colors = load_point_file(tmp_path / "b.ply")
    assert colors is None and points.shape == (25, 3)


@pytest.mark.parametrize("fmt", ["ascii", "binary_little_endian"])
def test_ply_integer_colours_are_bytes_and_ushort_ones_16_bit(tmp_path, fmt):
    write_ply(tmp_path / "i.ply", PTS, RGB8.astype(np.int32), fmt=fmt, color_type="int")
    _, colors = load_point_file(tmp_path / "i.ply")
    np.testing.assert_allclose(colors * 255.0, RGB8, atol=1e-4)
    write_ply(tmp_path / "u.ply", PTS, RGB8.astype(np.uint16) * 257, fmt=fmt, color_type="ushort")
    _, colors = load_point_file(tmp_path / "u.ply")
    np.testing.assert_allclose(colors * 255.0, RGB8, atol=1e-3)
    write_ply(tmp_path / "big.ply", PTS, RGB8.astype(np.int32) + 200, fmt=fmt, color_type="int")
    with pytest.raises(SceneError, match=r"big\.ply.*integer colours are bytes and must be in 0\.\.255"):
        load_point_file(tmp_path / "big.ply")


@pytest.mark.parametrize("fmt", ["ascii", "binary_little_endian"])
def test_ply_element_before_vertices_is_skipped(tmp_path, fmt):
    path = tmp_path / "c.ply"
    write_ply(path, PTS, RGB8, fmt=fmt, before=("extra", [1.5, 2.5]))
    points, colors = load_point_file(path)
    np.testing.assert_allclose(points, PTS, rtol=1e-6)
    np.testing.assert_allclose(colors * 255.0, RGB8, atol=1e-4)


def test_ply_errors(tmp_path):
    trunc = tmp_path / "trunc.ply"
    write_ply(trunc, PTS, None, fmt="binary_little_endian", after_faces=False)
    trunc.write_bytes(trunc.read_bytes()[:-10])
    with pytest.raises(SceneError, match="trunc.ply.*ends before"):
        load_point_file(trunc)
    bad = tmp_path / "bad.ply"
    bad.write_bytes(b"plx\n")
    with pytest.raises(SceneError, match="bad.ply.*not a PLY"):
        load_point_file(bad)
    noxyz = tmp_path / "noz.ply"
    noxyz.write_text("ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\nend_header\n1 2\n")
    with pytest.raises(SceneError, match="noz.ply.*'z'"):
        load_point_file(noxyz)


def test_npy_columns(tmp_path):
    np.save(tmp_path / "p3.npy", PTS)
    points, colors = load_point_file(tmp_path / "p3.npy")
    assert colors is None and np.array_equal(points, PTS)
    np.save(tmp_path / "p7.npy", np.concatenate([PTS, RGBA_F], axis=1))
    points, colors = load_point_file(tmp_path / "p7.npy")
    np.testing.assert_allclose(colors, RGBA_F)
    np.save(tmp_path / "p6.npy", np.concatenate([PTS, RGBA_F[:, :3]], axis=1).astype(np.float64))
    assert load_point_file(tmp_path / "p6.npy")[1].shape == (25, 3)


def test_npz_and_csv(tmp_path):
    np.savez(tmp_path / "c.npz", points=PTS, colors=RGB8)
    points, colors = load_point_file(tmp_path / "c.npz")
    np.testing.assert_allclose(colors * 255.0, RGB8, atol=1e-4)
    csv = tmp_path / "c.csv"
    lines = ["x,y,z,r,g,b"] + [",".join([f"{v:.6f}" for v in p] + [str(c) for c in rgb])
                               for p, rgb in zip(PTS, RGB8.tolist())]
    csv.write_text("\n".join(lines) + "\n")
    points, colors = load_point_file(csv)
    np.testing.assert_allclose(points, PTS, atol=1e-6)
    np.testing.assert_allclose(colors * 255.0, RGB8, atol=1e-4)  # whole numbers above 1: 0..255
    plain = tmp_path / "plain.csv"
    plain.write_text("0,0,0,0.5,0.25,1\n1,2,3,1,0,0\n")
    points, colors = load_point_file(plain)
    np.testing.assert_allclose(colors, [[0.5, 0.25, 1], [1, 0, 0]])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: np.save(p / "f.npy", np.array([[0, 0, 0], [np.nan, 1, 1]], np.float32)), r"f\.npy.*NaN or infinite values \(first at point 1\b"),
        (lambda p: np.save(p / "f.npy", np.array([[0, np.inf, 0]], np.float32)), r"f\.npy.*NaN or infinite"),
        (lambda p: np.save(p / "f.npy", np.zeros((4, 5), np.float32)), r"f\.npy.*shape \[4, 5\]"),
        (lambda p: np.save(p / "f.npy", np.zeros((0, 3), np.float32)), r"f\.npy.*no points"),
        (lambda p: np.save(p / "f.npy", np.full((3, 6), 2.0, np.float32)), r"f\.npy.*0\.\.1"),
        (lambda p: np.savez(p / "f.npz", points=PTS, colors=RGB8[:5]), r"f\.npz.*5 colours for 25 points"),
        (lambda p: np.savez(p / "f.npz", pts=PTS), r"f\.npz.*no array named 'points'"),
        (lambda p: (p / "f.csv").write_text("x,y,z\n"), r"f\.csv.*no points"),
        (lambda p: (p / "f.csv").write_text("1,2\n3,4\n"), r"f\.csv.*x, y, z"),
        (lambda p: (p / "f.xyz").write_text("1 2 3\n"), r"f\.xyz.*unsupported suffix"),
    ],
)
def test_bad_files_name_the_file(tmp_path, make, message):
    make(tmp_path)
    [path] = list(tmp_path.iterdir())
    with pytest.raises(SceneError, match=message) as info:
        load_point_file(path)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(SceneError, match=r"nowhere\.ply.*does not exist"):
        load_point_file(tmp_path / "nowhere.ply")


def test_sequences_natural_order_hold_and_loop(tmp_path):
    folder = tmp_path / "seq"
    folder.mkdir()
    for k in (1, 2, 10):
        np.save(folder / f"f{k}.npy", np.full((k, 3), float(k), np.float32))
    (folder / "notes.txt").write_text("not a point file")
    assert [p.name for p in resolve_point_files(folder)] == ["f1.npy", "f2.npy", "f10.npy"]
    assert [p.name for p in resolve_point_files(str(folder / "f*.npy"))] == ["f1.npy", "f2.npy", "f10.npy"]
    assert is_sequence(folder) and is_sequence(str(folder / "*.npy")) and not is_sequence(folder / "f1.npy")
    held = PointSequence(folder)
    assert [len(held.load(i)[1]) for i in range(5)] == [1, 2, 10, 10, 10]
    looped = PointSequence(folder, loop=True)
    assert [looped.load(i)[0] for i in range(5)] == [0, 1, 2, 0, 1]
    np.save(folder / "f11.npy", np.array([[0, 0, np.nan]], np.float32))
    with pytest.raises(SceneError, match=r"f11\.npy' \(frame 3\).*NaN"):
        PointSequence(folder).load(3)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SceneError, match="holds no"):
        resolve_point_files(empty)
    with pytest.raises(SceneError, match="matches no files"):
        resolve_point_files(str(tmp_path / "nothing*.ply"))
