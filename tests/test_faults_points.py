"""Faults in point inputs and outputs: a broken frame is an error naming it (never the end of the
sequence), absurd declared counts are refused before anything is allocated, a damaged archive is
one line, ``points-example`` writes nothing half-way, and a frame over the adapter's limits is
refused with the limit named before any drawing."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import time
import zipfile
from collections.abc import Sequence

import numpy as np
import pytest
from click.testing import CliRunner

from gpurender.cli import main
from gpurender.errors import RenderError, SceneError
from gpurender.pointcloud import example_sequence, open_sequence, write_sequence
from gpurender.pointcloud.files import write_ply
from gpurender.pointcloud.frames import scan
from gpurender.scene import scene_from_dict
from gpurender.scene.pointfile import MAX_POINTS, PointLimit, load_point_file

SMALL = ["--fps", "5", "--resolution", "64x48", "--quiet"]
PTS = np.random.default_rng(3).uniform(-1, 1, (40, 3)).astype(np.float32)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def ply_folder(tmp_path, broken: int | None = 3, n: int = 6):
    folder = tmp_path / "seq"
    folder.mkdir()
    for i in range(n):
        write_ply(folder / f"f{i}.ply", PTS + i)
    if broken is not None:
        path = folder / f"f{broken}.ply"
        path.write_bytes(path.read_bytes().replace(b"property float z\n", b"property float\n", 1))
    return folder


# -- a broken frame is an error naming it ---------------------------------------------------------


def test_broken_file_in_the_middle_of_a_folder_is_an_error_naming_it(tmp_path):
    frames = open_sequence(ply_folder(tmp_path))
    assert len(frames) == 6
    with pytest.raises(SceneError, match=r"f3\.ply.*frame 3.*malformed PLY header line 'property float'"):
        list(frames)
    with pytest.raises(SceneError, match=r"f3\.ply.*frame 3"):
        scan(frames)


def test_broken_file_in_the_middle_fails_the_cli_and_writes_nothing(tmp_path):
    out = tmp_path / "out.mp4"
    result = run("points", ply_folder(tmp_path), "-o", out, *SMALL)
    assert result.exit_code != 0
    assert "error:" in result.output and "f3.ply" in result.output and "frame 3" in result.output
    assert "Traceback" not in result.output
    assert not out.exists() and leftovers(tmp_path) == []


def test_a_single_broken_file_is_named_not_an_empty_sequence(tmp_path):
    folder = ply_folder(tmp_path, broken=0, n=1)
    with pytest.raises(SceneError, match=r"f0\.ply.*malformed") as caught:
        scan(open_sequence(folder / "f0.ply"))
    assert "no frames" not in str(caught.value)


def test_negative_vertex_count_is_named(tmp_path):
    path = tmp_path / "neg.ply"
    path.write_text("ply\nformat ascii 1.0\nelement vertex -5\nproperty float x\nproperty float y\n"
                    "property float z\nend_header\n0 0 0\n")
    with pytest.raises(SceneError, match=r"neg\.ply.*'element vertex -5'.*whole number >= 0"):
        scan(open_sequence(path))
    result = run("points", path, "-o", tmp_path / "out.mp4", *SMALL)
    assert result.exit_code != 0 and "neg.ply" in result.output and "no frames" not in result.output


def test_an_index_error_inside_a_user_sequence_is_not_its_end():
    class Frames(Sequence):  # relies on the ABC's __iter__, which stops at an IndexError
        def __len__(self):
            return 4

        def __getitem__(self, index):
            if index >= 4:
                raise IndexError(index)
            if index == 2:
                return [][0]  # a reader's bug on a damaged frame
            return PTS

    with pytest.raises(SceneError, match="frame 2 of 4"):
        scan(Frames())


def test_a_member_of_a_numbered_npz_that_is_damaged_is_named(tmp_path):
    path = tmp_path / "seq.npz"
    np.savez(path, points_0000=PTS, points_0001=PTS + 1, points_0002=PTS + 2)
    data = bytearray(path.read_bytes())
    at = data.find(b"\x93NUMPY", data.find(b"points_0001.npy"))
    data[at + 150] ^= 0xFF  # inside the array's bytes (stored, so the CRC catches it)
    path.write_bytes(bytes(data))
    frames = open_sequence(path)
    with pytest.raises(SceneError, match=r"seq\.npz \(frame 1\).*points_0001.*CRC"):
        list(frames)
    result = run("points", path, "-o", tmp_path / "out.mp4", *SMALL)
    assert result.exit_code != 0 and "CRC" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out.mp4").exists()


# -- declared counts are checked before anything is allocated -------------------------------------


def _header(fmt: str, count: int) -> bytes:
    return (f"ply\nformat {fmt} 1.0\nelement vertex {count}\nproperty float x\nproperty float y\n"
            f"property float z\nend_header\n").encode()


@pytest.mark.parametrize("fmt,count,match", [
    ("binary_little_endian", 4_000_000_000, "at most 67108863 points"),
    ("ascii", 10 ** 11, "at most 67108863 points"),
    ("binary_little_endian", 50_000_000, "ends before its 50000000 vertices"),
    ("ascii", 50_000_000, "ends before its 50000000 vertices"),
])
def test_absurd_ply_counts_are_refused_at_once(tmp_path, fmt, count, match):
    path = tmp_path / "huge.ply"
    path.write_bytes(_header(fmt, count) + (b"0 0 0\n" if fmt == "ascii" else b"\0" * 120))
    started = time.monotonic()
    with pytest.raises(SceneError, match=rf"huge\.ply.*{match}"):
        load_point_file(path)
    assert time.monotonic() - started < 2.0


def test_an_npy_declaring_more_than_it_holds_is_refused(tmp_path):
    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(stream, {"descr": "<f4", "fortran_order": False, "shape": (10 ** 10, 3)})
    path = tmp_path / "huge.npy"
    path.write_bytes(stream.getvalue() + b"\0" * 24)
    with pytest.raises(SceneError, match=r"huge\.npy.*shape \[10000000000, 3\].*only 24 bytes"):
        load_point_file(path)


def test_an_npz_member_declaring_more_than_it_holds_is_refused(tmp_path):
    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(stream, {"descr": "<f4", "fortran_order": False, "shape": (10 ** 10, 3)})
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("points.npy", stream.getvalue() + b"\0" * 24)
    with pytest.raises(SceneError, match=r"huge\.npz.*'points'.*only 24 bytes"):
        load_point_file(path)
    with pytest.raises(SceneError, match=r"huge\.npz.*'points'.*only 24 bytes"):
        open_sequence(path)


def test_an_npz_with_a_bad_crc_is_one_line(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, points=PTS)
    data = bytearray(path.read_bytes())
    data[data.find(b"\x93NUMPY") + 150] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(SceneError, match=r"bad\.npz.*CRC"):
        load_point_file(path)
    result = run("points", path, "-o", tmp_path / "out.mp4", *SMALL)
    assert result.exit_code != 0 and "error:" in result.output and "CRC" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "out.mp4").exists()


# -- points-example writes every file atomically ---------------------------------------------------


def _fail_on_third_frame(monkeypatch, code=errno.ENOSPC):
    from gpurender.pointcloud import files

    calls = []
    real = files._WRITERS["ply"]

    def writer(handle, points, colors):
        calls.append(handle)
        if len(calls) == 3:
            handle.write(b"ply\nformat binary_little_endian 1.0\n")  # truncated, as a full disk leaves it
            raise OSError(code, os.strerror(code))
        real(handle, points, colors)

    monkeypatch.setitem(files._WRITERS, "ply", writer)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES])
def test_points_example_failing_mid_way_leaves_nothing(tmp_path, monkeypatch, code):
    _fail_on_third_frame(monkeypatch, code)
    out = tmp_path / "seq"
    result = run("points-example", "sphere", "-o", out, "--frames", "5", "--points", "50")
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot write the sequence to")
    assert os.strerror(code) in lines[0]
    assert not out.exists()  # the folder it made is gone with the frames


def test_points_example_failing_in_an_existing_folder_leaves_only_complete_files(tmp_path, monkeypatch):
    out = tmp_path / "seq"
    write_sequence(example_sequence("torus", 5, 30), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    _fail_on_third_frame(monkeypatch)
    result = run("points-example", "sphere", "-o", out, "--frames", "5", "--points", "50")
    assert result.exit_code != 0 and "No space left" in result.output
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    # the frames this run wrote are gone with it; the ones it never reached are as they were
    assert after == {name: data for name, data in before.items() if name >= "frame_0002"}
    for path in out.iterdir():
        load_point_file(path)


def test_points_example_npz_on_a_full_disk_leaves_nothing(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np.lib.format, "write_array", full)
    out = tmp_path / "seq.npz"
    result = run("points-example", "sphere", "-o", out, "--frames", "3", "--points", "50")
    assert result.exit_code != 0 and "No space left" in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_points_example_on_a_small_tmpfs(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the ENOSPC tests above fake a full disk instead")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"this machine does not allow mounting a tmpfs ({made.stderr.decode().strip()})")
    try:
        for out in (mount / "seq", mount / "seq.npz"):
            result = run("points-example", "sphere", "-o", out, "--frames", "5", "--points", "5000")
            assert result.exit_code != 0 and "No space left on device" in result.output
            assert "Traceback" not in result.output
        assert list(mount.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_hidden_files_in_a_folder_are_not_frames(tmp_path):
    folder = ply_folder(tmp_path, broken=None, n=2)
    (folder / ".f1.ply.partial-0123abcd.ply").write_bytes(b"ply\n")  # left by a killed writer
    assert len(open_sequence(folder)) == 2


# -- limits of a frame ----------------------------------------------------------------------------


class _Limits:
    def __init__(self, binding, buffer):
        self.limits = {"max-storage-buffer-binding-size": binding, "max-buffer-size": buffer}


def test_point_limit_names_the_adapter_limit():
    from gpurender.render.layers.points import point_limit

    limit = point_limit(_Limits(128 << 20, 1 << 31), 12)
    assert limit.most == (128 << 20) // 12
    assert "max_storage_buffer_binding_size is 134217728 bytes" in limit.why
    assert point_limit(_Limits(1 << 40, 1 << 40), 12).most == MAX_POINTS
    with pytest.raises(RenderError, match=r"frame 7: 11184811 points in one frame, more than the 11184810 "
                                          r"that fit \(this adapter's max_storage_buffer_binding_size"):
        limit.check(limit.most + 1, "frame 7")
    limit.check(limit.most, "frame 7")


def test_a_frame_over_the_limit_is_refused_before_drawing(tmp_path, monkeypatch):
    from gpurender.render.layers import pointseq

    monkeypatch.setattr(pointseq, "frame_point_limit",
                        lambda device, draw: PointLimit(100, "this adapter's max_storage_buffer_binding_size is 1200 bytes"))
    folder = tmp_path / "seq"
    folder.mkdir()
    write_ply(folder / "a.ply", PTS)
    write_ply(folder / "b.ply", np.concatenate([PTS] * 3))  # 120 points
    out = tmp_path / "out.mp4"
    result = run("points", folder, "-o", out, *SMALL)
    assert result.exit_code != 0
    assert "frame 1 (b.ply): 120 points in one frame, more than the 100" in result.output
    assert "max_storage_buffer_binding_size" in result.output
    assert not out.exists() and leftovers(tmp_path) == []


def test_a_one_shot_iterator_over_the_limit_is_refused_as_it_is_read(tmp_path, monkeypatch):
    from gpurender.pointcloud import export_point_cloud_video
    from gpurender.render.layers import pointseq

    monkeypatch.setattr(pointseq, "frame_point_limit", lambda device, draw: PointLimit(100, "the test's limit"))
    out = tmp_path / "out.mp4"
    frames = iter([PTS, np.concatenate([PTS] * 3)])
    with pytest.raises(RenderError, match=r"frame 1: 120 points.*the test's limit"):
        export_point_cloud_video(frames, out, resolution=(64, 48), fps=5, bounds=((-2, -2, -2), (2, 2, 2)),
                                 progress=False)
    assert not out.exists() and leftovers(tmp_path) == []


def test_scene_point_count_is_checked_at_load():
    with pytest.raises(SceneError, match=r"layer 1 \(points\)\.count: 1000000000 is out of range; use 1\.\.67108863"):
        scene_from_dict({"layers": [{"type": "points", "count": 10 ** 9}]})
    with pytest.raises(SceneError, match=r"layer 1 \(points\)\.count: 0 is out of range"):
        scene_from_dict({"layers": [{"type": "points", "count": 0}]})


def test_scene_point_count_over_the_adapter_limit_names_the_layer_and_key(device):
    from gpurender.render.layers.points import PointCloudPipeline, point_limit
    from gpurender.render.renderer import FrameRenderer

    most = point_limit(device, PointCloudPipeline.bytes_per_point).most
    layers = [{"type": "points", "name": "cloud", "count": most + 1}]
    if most == MAX_POINTS:  # an adapter that binds more than gpurender allows: the scene refuses it
        with pytest.raises(SceneError, match="count"):
            scene_from_dict({"layers": layers})
        return
    started = time.monotonic()
    with pytest.raises(RenderError, match=rf"^scene\.toml: layer 1 \(points\)\.count: {most + 1} points.*"
                                          rf"max_storage_buffer_binding_size.*lower count to at most {most}"):
        FrameRenderer(scene_from_dict({"layers": layers}, source="scene.toml"), None, 32, 24, 12)
    assert time.monotonic() - started < 10.0  # refused before the points are made

