"""Fault injection on the output side: no input is ever overwritten, no partial file outlives its run,
and environment failures (disk full, permissions) are one line, not a traceback."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from gpurender.cli import main

SMALL = ["--resolution", "64x48", "--fps", "10", "--quiet"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name)


# -- never write over an input ----------------------------------------------------------------

def test_render_refuses_the_audio_as_output(tmp_path, small_scene, song):
    before = digest(song)
    result = run("render", small_scene, "--audio", song, "-o", song, "--format", "mp4", *SMALL)
    assert result.exit_code != 0
    assert "error: the output" in result.output and "is the audio" in result.output
    assert digest(song) == before
    assert leftovers(tmp_path) == []


def test_render_refuses_the_scene_through_another_spelling_and_a_link(tmp_path, small_scene, song):
    before = digest(small_scene)
    sub = tmp_path / "sub"
    sub.mkdir()
    spelled = sub / ".." / small_scene.name
    result = run("render", small_scene, "--audio", song, "-o", spelled, "--format", "mp4", *SMALL)
    assert result.exit_code != 0 and "is the scene file" in result.output
    link = tmp_path / "link.mp4"
    link.symlink_to(small_scene)
    result = run("render", small_scene, "--audio", song, "-o", link, *SMALL)
    assert result.exit_code != 0 and "is the scene file" in result.output
    assert digest(small_scene) == before


def test_render_refuses_a_file_the_scene_uses(tmp_path, song):
    from PIL import Image

    picture = tmp_path / "logo.png"
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(picture)
    scene = tmp_path / "scene.toml"
    scene.write_text('[[layers]]\ntype = "image"\nfile = "logo.png"\n')
    before = digest(picture)
    result = run("render", scene, "--audio", song, "-o", picture, "--format", "mp4", *SMALL)
    assert result.exit_code != 0
    assert "is the layer 1 (image) file" in result.output
    assert digest(picture) == before


def test_png_sequence_refuses_to_overwrite_an_input_frame_name(tmp_path, song):
    frames = tmp_path / "frames"
    frames.mkdir()
    victim = frames / "frame_000000.png"
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(victim)
    scene = tmp_path / "scene.toml"
    scene.write_text('[[layers]]\ntype = "image"\nfile = "frames/frame_000000.png"\n')
    result = run("render", scene, "--audio", song, "-o", frames / "frame_%06d.png", "--duration", "0.2",
                 *SMALL)
    assert result.exit_code != 0 and "destroy an input" in result.output


def test_still_and_analyze_refuse_their_inputs(tmp_path, small_scene, song):
    before_scene, before_song = digest(small_scene), digest(song)
    result = run("still", small_scene, "--audio", song, "-o", small_scene, "--resolution", "64x48", "--quiet")
    assert result.exit_code != 0 and "is the scene file" in result.output
    result = run("analyze", song, "-o", song)
    assert result.exit_code != 0 and "is the audio" in result.output
    result = run("analyze", song, "-o", tmp_path / "f.npz", "--plot", song)
    assert result.exit_code != 0 and "is the audio" in result.output
    assert (digest(small_scene), digest(song)) == (before_scene, before_song)
    assert not (tmp_path / "f.npz").exists()


def test_points_refuses_its_point_files_and_audio(tmp_path, song):
    seq = tmp_path / "seq.npz"
    assert run("points-example", "sphere", "-o", seq, "--frames", "2", "--points", "50").exit_code == 0
    before = digest(seq)
    result = run("points", seq, "-o", seq, "--format", "mp4", "--resolution", "64x48", "--quiet")
    assert result.exit_code != 0 and "is the point file" in result.output
    result = run("points", seq, "-o", song, "--format", "mp4", "--audio", song, "--resolution", "64x48", "--quiet")
    assert result.exit_code != 0 and "is the audio" in result.output
    assert digest(seq) == before

    folder = tmp_path / "plys"
    assert run("points-example", "sphere", "-o", folder, "--frames", "3", "--points", "50",
               "--format", "ply").exit_code == 0
    second = sorted(folder.iterdir())[1]
    before = digest(second)
    result = run("points", folder, "-o", second, "--format", "mp4", "--resolution", "64x48", "--quiet")
    assert result.exit_code != 0 and "is the point file" in result.output
    assert digest(second) == before


def test_api_refuses_the_audio_it_was_loaded_from(tmp_path, small_scene, song):
    from gpurender.audio import load_audio
    from gpurender.errors import EncodeError
    from gpurender.pipeline import render_video
    from gpurender.scene import load_scene
    from gpurender.settings import RenderSettings

    with pytest.raises(EncodeError, match="is the audio"):
        render_video(load_scene(small_scene), load_audio(song), song,
                     RenderSettings(width=64, height=48, fps=10, format="mp4"))


# -- clean up after killed runs ----------------------------------------------------------------

_SLOW_RENDER = r"""
import sys, time
sys.path.insert(0, {tests!r})
from media import before_each_encode
import pytest
from gpurender.audio import load_audio
from gpurender.pipeline import render_video
from gpurender.scene import load_scene
from gpurender.settings import RenderSettings

class Patch:
    def setattr(self, obj, name, value):
        setattr(obj, name, value)

def stall(frame):
    print("encoding", flush=True)
    time.sleep(0.5)

before_each_encode(Patch(), stall)
render_video(load_scene({scene!r}), load_audio({song!r}), {out!r}, RenderSettings(width=64, height=48, fps=10))
"""


def _start_and_kill(out, small_scene, song):
    code = _SLOW_RENDER.format(tests=os.path.dirname(__file__), scene=str(small_scene), song=str(song),
                               out=str(out))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "encoding"
    finally:
        proc.kill()
        proc.wait()


def test_a_rerun_removes_the_partial_files_of_killed_runs_but_not_a_live_runs(tmp_path, small_scene, song):
    out = tmp_path / "clip.mp4"
    _start_and_kill(out, small_scene, song)
    _start_and_kill(out, small_scene, song)
    assert len(leftovers(tmp_path)) >= 2  # SIGKILL leaves them: nothing in the process can run
    assert not out.exists()

    # A live run of the same output holds its temporary file; a rerun must leave that one alone.
    live = tmp_path / ".clip.mp4.partial-live0000.mp4"
    live.write_bytes(b"still being written")
    holder = subprocess.Popen([sys.executable, "-c",
                               "import fcntl, os, sys, time\n"
                               f"fd = os.open({str(live)!r}, os.O_RDONLY)\n"
                               "fcntl.flock(fd, fcntl.LOCK_EX)\n"
                               "print('held', flush=True)\n"
                               "time.sleep(60)\n"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = run("render", small_scene, "--audio", song, "-o", out, "--duration", "0.5", *SMALL)
        assert result.exit_code == 0, result.output
        assert leftovers(tmp_path) == [live.name]
    finally:
        holder.kill()
        holder.wait()
    assert out.exists()


def test_temporary_files_of_other_outputs_are_not_touched(tmp_path, small_scene, song):
    other = tmp_path / ".other.mp4.partial-0badc0de.mp4"
    other.write_bytes(b"x")
    result = run("render", small_scene, "--audio", song, "-o", tmp_path / "clip.mp4", "--duration", "0.3", *SMALL)
    assert result.exit_code == 0, result.output
    assert other.exists()


# -- a full disk is one line, and leaves nothing --------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A tiny tmpfs to fill up; skips where this machine does not let the tests mount one."""
    mount = tmp_path / "disk"
    mount.mkdir()

    def remount(size: str):
        subprocess.run(["umount", str(mount)], capture_output=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here (not root, or no mount permission): "
                        f"{done.stderr.strip()}")
        return mount

    yield remount
    subprocess.run(["umount", str(mount)], capture_output=True)


def _gpurender(*args):
    return subprocess.run([sys.executable, "-m", "gpurender", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("size", ["4k", "24k", "40k"])
def test_render_on_a_full_disk(small_disk, small_scene, song, size):
    disk = small_disk(size)
    done = _gpurender("render", small_scene, "--audio", song, "-o", disk / "out.mp4", *SMALL)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: no space left on the device writing '{disk / 'out.mp4'}'; free some space or write the output "
        "elsewhere")
    assert list(disk.iterdir()) == []


def test_still_analyze_and_points_on_a_full_disk(small_disk, small_scene, song):
    disk = small_disk("8k")
    runs = [
        ("still", small_scene, "--audio", song, "-o", disk / "still.png", "--resolution", "640x480", "--quiet"),
        ("analyze", song, "-o", disk / "f.npz"),
        ("analyze", song, "-o", disk / "f.npz", "--plot", disk / "f.png"),
        ("points-example", "sphere", "-o", disk / "plys", "--format", "ply"),
        ("points-example", "sphere", "-o", disk / "seq.npz"),
    ]
    for args in runs:
        done = _gpurender(*args)
        assert done.returncode != 0, args
        assert "Traceback" not in done.stderr, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "space" in lines[0], (args, done.stderr)
        assert list(disk.iterdir()) == [], args


def test_an_intermediate_published_onto_a_temporary_name_stays_live(tmp_path):
    from gpurender.encode import files

    target = tmp_path / "clip.mp4"
    outer = files.temp_beside(target)
    inner = files.temp_beside(outer)
    inner.write_bytes(b"video")
    files.publish(inner, outer)  # what VideoWriter does with the video-only intermediate
    files._scans.clear()  # as after a long render: the folder is listed again
    files.temp_beside(target)  # the mux's own temporary file: must not take the intermediate
    assert outer.read_bytes() == b"video"
    files.remove_quietly(outer)
