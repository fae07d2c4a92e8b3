"""The one output routine: every source gets encoder fallback, verification, chunks and resume."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import av
import pytest
from click.testing import CliRunner

import gpurender
from gpurender.cli import main
from gpurender.encode import writer
from gpurender.errors import EncodeError
from gpurender.farm import JobOptions, load_manifest
from gpurender.farm.job import default_job_dir
from gpurender.pointcloud import example_sequence
from gpurender.progress import Progress
from media import assert_same_frames, decoded, refuse_encoder

POINTS = dict(fps=6, resolution="64x48", lossless=True, progress=False)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name)


@pytest.fixture
def sequence(tmp_path):
    path = tmp_path / "seq.npz"
    assert run("points-example", "torus", "-o", path, "--frames", "9", "--points", "400").exit_code == 0
    return path


# -- point sequences get chunks, resume and the farm --------------------------------------------

def test_chunked_point_export_equals_the_single_pass(tmp_path, sequence):
    single, chunked = tmp_path / "single.mkv", tmp_path / "chunked.mkv"
    common = ["--resolution", "64x48", "--fps", "6", "--lossless", "--quiet"]
    assert run("points", sequence, "-o", single, *common).exit_code == 0
    result = run("points", sequence, "-o", chunked, *common, "--chunks", "3")
    assert result.exit_code == 0, result.output
    assert "3 chunks (3 rendered by this run)" in result.output
    assert_same_frames(decoded(chunked), decoded(single))
    assert not default_job_dir(chunked).exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("draw", ["blend", "depth"])
def test_chunked_api_export_of_frames_in_memory_equals_the_single_pass(tmp_path, draw):
    frames = list(example_sequence("helix", 8, 300))
    # 68 wide is not a multiple of 8: depth drawing pads it to 72 on the direct path and crops it back
    size = "68x48" if draw == "depth" else "64x48"
    args = dict(POINTS, resolution=size, draw=draw)
    one = gpurender.export_point_cloud_video(frames, tmp_path / "one.mkv", **args)
    many = gpurender.export_point_cloud_video(frames, tmp_path / "many.mkv", job=JobOptions(chunk_frames=3),
                                              **args)
    assert (one.frames, many.frames, many.chunks) == (8, 8, 3)
    assert_same_frames(decoded(many.path), decoded(one.path))


def test_a_one_shot_iterator_cannot_be_chunked(tmp_path):
    frames = iter(list(example_sequence("sphere", 3, 100)))
    with pytest.raises(gpurender.GpurenderError, match="unknown length cannot be rendered in chunks"):
        gpurender.export_point_cloud_video(frames, tmp_path / "x.mkv", bounds=((-2,) * 3, (2,) * 3),
                                           job=JobOptions(chunks=2), **POINTS)
    assert os.listdir(tmp_path) == []


_KILLED_EXPORT = r"""
import os, sys
from gpurender.cli import main
from gpurender.encode import VideoWriter

real = VideoWriter._encode
def encode(self, frame):
    # the second chunk's third frame: the first chunk is finished and recorded by then
    if "0001" in self.path.name and frame.pts == 2:
        os.kill(os.getpid(), 9)
    real(self, frame)
VideoWriter._encode = encode
sys.argv = ["gpurender", *sys.argv[1:]]
main()
"""


def test_a_killed_chunked_point_export_resumes_to_the_same_frames(tmp_path, sequence):
    out, single = tmp_path / "out.mkv", tmp_path / "single.mkv"
    common = ["--resolution", "64x48", "--fps", "6", "--lossless", "--quiet"]
    assert run("points", sequence, "-o", single, *common).exit_code == 0
    killed = subprocess.run([sys.executable, "-c", _KILLED_EXPORT, "points", str(sequence), "-o", str(out),
                             *common, "--chunk-frames", "3"], capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr
    assert not out.exists()
    states = [c.state for c in load_manifest(default_job_dir(out)).chunks]
    assert states[0] == "done" and "done" not in states[2:]
    result = run("points", sequence, "-o", out, *common, "--chunk-frames", "3", "--resume")
    assert result.exit_code == 0, result.output
    assert "3 chunks (2 rendered by this run)" in result.output
    assert_same_frames(decoded(out), decoded(single))
    assert leftovers(tmp_path) == []


# -- scene renders get the fallback and the verification ------------------------------------------

def test_scene_render_falls_back_to_another_encoder(tmp_path, monkeypatch, small_scene, song):
    refuse_encoder(monkeypatch, "libx264")
    log = io.StringIO()
    result = gpurender.render_video(gpurender.load_scene(small_scene), gpurender.load_audio(song),
                                    tmp_path / "fb.mp4", gpurender.RenderSettings(width=64, height=48, fps=10),
                                    Progress(stream=log, live=False))
    assert result.encoder not in ("libx264", "h264_nvenc")
    assert "falling back from libx264" in log.getvalue()
    with av.open(result.path) as c:
        assert c.streams.video[0].frames in (0, 20) and len(c.streams.audio) == 1


def test_scene_render_is_verified_before_it_is_published(tmp_path, monkeypatch, small_scene, song):
    real_write = writer.VideoWriter.write
    seen = []

    def drop_the_fifth(self, data):
        seen.append(1)
        if len(seen) != 5:
            real_write(self, data)

    monkeypatch.setattr(writer.VideoWriter, "write", drop_the_fifth)
    out = tmp_path / "v.mp4"
    with pytest.raises(EncodeError, match="has 19 frames, not 20; nothing was written"):
        gpurender.render_video(gpurender.load_scene(small_scene), gpurender.load_audio(song), out,
                               gpurender.RenderSettings(width=64, height=48, fps=10))
    assert not out.exists() and leftovers(tmp_path) == []


def test_the_orchestration_lives_in_one_place():
    """render_video and export_point_cloud_video hand their frames to render_to_file; no copy of the
    writer, mux, verification or segment join stays in either."""
    import inspect

    from gpurender import pipeline
    from gpurender.pointcloud import export

    for module in (pipeline, export):
        text = inspect.getsource(module)
        assert "render_to_file(" in text
        for word in ("VideoWriter(", "mux_audio(", "open_writer(", "verify_video(", "join_segments("):
            assert word not in text, (module.__name__, word)


# -- output names ------------------------------------------------------------------------------

SCENE_SMALL = ["--resolution", "64x48", "--fps", "5", "--quiet"]


def test_a_folder_output_is_a_png_sequence_into_a_new_or_empty_folder(tmp_path, small_scene, song):
    new = tmp_path / "new"
    result = run("render", small_scene, "--audio", song, "-o", f"{new}/", *SCENE_SMALL)
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(new)) == [f"frame_{i:06d}.png" for i in range(10)]
    assert f"wrote 10 PNG files frame_000000.png .. frame_000009.png in {new}{os.sep}:" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run("render", small_scene, "--audio", song, "-o", empty, *SCENE_SMALL).exit_code == 0
    assert len(os.listdir(empty)) == 10
    result = run("render", small_scene, "--audio", song, "-o", f"{new}/", *SCENE_SMALL)
    assert result.exit_code != 0
    assert "already holds 10 file(s)" in result.output and "new or empty folder" in result.output


def test_the_summary_names_the_png_files_it_wrote(tmp_path, small_scene, song):
    result = run("render", small_scene, "--audio", song, "-o", tmp_path / "seq.png", *SCENE_SMALL)
    assert result.exit_code == 0, result.output
    assert "wrote 10 PNG files seq_000000.png .. seq_000009.png in" in result.output
    assert not (tmp_path / "seq.png").exists() and (tmp_path / "seq_000009.png").is_file()


@pytest.mark.parametrize("name, kind", [("a.png", "PNG"), ("a.jpg", "JPEG"), ("a.jpeg", "JPEG"), ("a.webp", "WEBP")])
def test_still_writes_the_format_its_name_asks_for(tmp_path, small_scene, song, name, kind):
    from PIL import Image

    out = tmp_path / name
    result = run("still", small_scene, "--audio", song, "-o", out, "--resolution", "64x48", "--quiet")
    assert result.exit_code == 0, result.output
    with Image.open(out) as img:
        assert img.format == kind and img.size == (64, 48)


def test_still_refuses_formats_it_cannot_write(tmp_path, small_scene, song):
    result = run("still", small_scene, "--audio", song, "-o", tmp_path / "a.gif", "--quiet")
    assert result.exit_code != 0 and "name it with one of .png, .jpg, .jpeg, .webp" in result.output
    clear = tmp_path / "clear.toml"
    clear.write_text('background = [0, 0, 0, 0]\n[[layers]]\ntype = "spectrum"\nbars = 8\n')
    result = run("still", clear, "--audio", song, "-o", tmp_path / "a.jpg", "--quiet")
    assert result.exit_code != 0 and "JPEG cannot keep the scene's transparent background" in result.output
    assert sorted(os.listdir(tmp_path)) == ["clear.toml", "scene.toml", "song.wav"]


def test_frames_placeholder_counts_the_videos_frames(small_scene, song):
    """{frames} is the number of frames in the video made: 20 for 2 s at 10 fps (the analysis has
    21 windows, one at each end), the span's count for a part of the track."""
    from gpurender.pipeline import SceneRecipe, analyse
    from gpurender.progress import Progress

    settings = gpurender.RenderSettings(width=64, height=48, fps=10)
    scene, audio = gpurender.load_scene(small_scene), gpurender.load_audio(song)
    features = analyse(audio, settings, Progress(quiet=True), scene)
    assert features.n_frames == 21
    for frames in (20, 7):
        source = SceneRecipe(scene, features, 64, 48, 10, video_frames=frames).build()
        assert source.describe(source.frame_info(3))["frames"] == frames
