"""Chunked, resumable renders on the local executor: plans, identity, manifest, resume, join, Ctrl-C.

Renders are tiny (64x48, 12 fps, 2 s) and use examples/particles.toml, whose particles layer is
stateful, so chunk boundaries are where a mistake would show.
"""

from __future__ import annotations

import contextlib

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from gpurender.audio import load_audio
from gpurender.cli import main
from gpurender.errors import GpurenderError
from gpurender.farm import (JobOptions, audio_digest, load_manifest, open_job, plan_chunks,
                            scene_digest)
from gpurender.farm.identity import job_identity
from gpurender.farm.job import default_job_dir
from gpurender.pipeline import render_video
from gpurender.progress import Progress
from gpurender.scene import load_scene
from gpurender.settings import RenderSettings

from media import assert_same_frames, decoded, write_song  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PARTICLES = ROOT / "examples" / "particles.toml"
SMALL = RenderSettings(width=64, height=48, fps=12, lossless=True)
CLI_SMALL = ["--resolution", "64x48", "--fps", "12", "--quiet"]


class StopAt(Progress):
    """Progress that raises ``exc`` when the render reaches ``frames`` frames (a crash or Ctrl-C)."""

    def __init__(self, frames: int, exc: BaseException):
        super().__init__(quiet=True)
        self.at, self.exc = frames, exc

    def update(self, done: int) -> None:
        super().update(done)
        if self.phase_name == "rendering" and done >= self.at:
            raise self.exc


class Crash(BaseException):
    """Stands in for the process dying: nothing in the render may catch it."""


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("farm")
    song = write_song(folder / "song.wav")
    audio = load_audio(song)
    scene = load_scene(PARTICLES)
    reference = folder / "single.mkv"
    render_video(scene, audio, reference, SMALL)
    frames = decoded(reference)
    # Frames change over time and the particles are visible, so comparisons are not vacuous.
    assert len(frames) == 24 and not np.array_equal(frames[3], frames[20])
    return {"song": song, "audio": audio, "scene": scene, "frames": frames}


def no_hidden(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".") and p.name != ".lock"]


# -- pure Python ----------------------------------------------------------------------------------


def test_plan_covers_the_span_in_order():
    plan = plan_chunks(10, 23, chunk_frames=5)
    assert [(c.first, c.count) for c in plan] == [(10, 5), (15, 5), (20, 5), (25, 5), (30, 3)]
    balanced = plan_chunks(0, 23, chunks=4)
    assert [c.count for c in balanced] == [6, 6, 6, 5]
    assert [c.first for c in balanced] == [0, 6, 12, 18] and balanced[-1].end == 23
    assert [c.count for c in plan_chunks(0, 700, fps=30)] == [300, 300, 100]  # ten seconds each
    with pytest.raises(GpurenderError, match="more than the 3 frames"):
        plan_chunks(0, 3, chunks=4)
    with pytest.raises(GpurenderError, match="not both"):
        plan_chunks(0, 3, chunk_frames=1, chunks=1)
    with pytest.raises(GpurenderError, match="chunk-frames"):
        plan_chunks(0, 3, chunk_frames=0)


def test_identity_follows_scene_files_and_audio(tmp_path):
    from gpurender.audio import AudioData
    from gpurender.scene import scene_from_dict

    image = tmp_path / "logo.png"
    from PIL import Image

    Image.new("RGB", (4, 4), (255, 0, 0)).save(image)
    data = {"layers": [{"type": "image", "file": str(image)}, {"type": "points", "count": 100}]}
    a = scene_digest(scene_from_dict(data, source="one.toml"))
    assert a == scene_digest(scene_from_dict(data, source="elsewhere/one.toml"))  # where it came from: no matter
    Image.new("RGB", (4, 4), (0, 255, 0)).save(image)
    assert scene_digest(scene_from_dict(data)) != a  # the referenced file's contents count
    data["layers"][1]["count"] = 101
    assert len({a, scene_digest(scene_from_dict(data))}) == 2

    samples = np.zeros((1000, 2), np.float32)
    first = audio_digest(AudioData(samples, 44100))
    samples[500, 1] = 1e-4
    assert audio_digest(AudioData(samples, 44100)) != first
    assert audio_digest(AudioData(np.zeros((1000, 2), np.float32), 48000)) != first


def test_job_dir_refuses_other_jobs_and_is_locked(tmp_path, media):
    from gpurender.farm import ChunkRecord, Manifest

    settings = {"width": 64, "fps": 12, "format": "mkv", "first": 0, "count": 4}
    identity = job_identity(media["scene"], media["audio"], settings)

    def manifest():
        return Manifest(identity=identity, output="x.mkv", format="mkv", fps=12, first=0, count=4, gop=2,
                        plan={"chunks": 2}, settings=settings, chunks=[ChunkRecord(0, 0, 2), ChunkRecord(1, 2, 2)])

    path = tmp_path / "x.mkv.job"
    assert default_job_dir(tmp_path / "x.mkv") == path
    job = open_job(path, identity, manifest, resume=False, requested_plan=None, output="x.mkv")
    with pytest.raises(GpurenderError, match="in use by another gpurender process"):
        open_job(path, identity, manifest, resume=True, requested_plan=None, output="x.mkv")
    job.close()
    with pytest.raises(GpurenderError, match="pass --resume"):
        open_job(path, identity, manifest, resume=False, requested_plan=None, output="x.mkv")
    other = job_identity(media["scene"], media["audio"], dict(settings, width=96))
    with pytest.raises(GpurenderError, match="the settings has changed|the settings have changed"):
        open_job(path, other, manifest, resume=True, requested_plan=None, output="x.mkv")
    with pytest.raises(GpurenderError, match="planned with --chunks 2"):
        open_job(path, identity, manifest, resume=True, requested_plan={"chunk_frames": 3}, output="x.mkv")
    job = open_job(path, identity, manifest, resume=True, requested_plan={"chunks": 2}, output="x.mkv")
    assert [c.state for c in job.manifest.chunks] == ["pending", "pending"]
    job.close()
    stranger = tmp_path / "stuff"
    stranger.mkdir()
    (stranger / "keep.txt").write_text("mine")
    with pytest.raises(GpurenderError, match="not a gpurender job directory"):
        open_job(stranger, identity, manifest, resume=False, requested_plan=None, output="x.mkv")


# -- renders -------------------------------------------------------------------------------------


def test_chunked_lossless_is_bit_identical_to_single_pass(tmp_path, media):
    out = tmp_path / "chunked.mkv"
    result = render_video(media["scene"], media["audio"], out, SMALL, job=JobOptions(chunk_frames=5))
    assert result.chunks == 5 and result.chunks_rendered == 5 and result.frames == 24
    assert_same_frames(decoded(out), media["frames"])
    assert not default_job_dir(out).exists()  # removed after success
    assert no_hidden(tmp_path) == []


def test_resume_after_crash_renders_only_missing_chunks(tmp_path, media):
    out = tmp_path / "clip.mkv"
    options = JobOptions(chunk_frames=6)
    with pytest.raises(Crash):
        render_video(media["scene"], media["audio"], out, SMALL, StopAt(15, Crash()), job=options)
    job_dir = default_job_dir(out)
    manifest = load_manifest(job_dir)
    assert [c.state for c in manifest.chunks] == ["done", "done", "running", "pending"]
    assert not out.exists()
    segments = job_dir / "segments"
    assert sorted(p.name for p in segments.iterdir()) == ["chunk_000000.mkv", "chunk_000001.mkv"]
    kept = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in segments.iterdir()}
    (segments / ".chunk_000002.mkv.partial-0badf00d.mkv").write_bytes(b"half a segment")  # as a killed run leaves

    notes = []

    class Notes(Progress):
        def info(self, message):
            notes.append(message)

    result = render_video(media["scene"], media["audio"], out, SMALL, Notes(quiet=True),
                          job=JobOptions(resume=True, keep_job=True))
    assert result.chunks == 4 and result.chunks_rendered == 2
    assert any("2 already done" in n for n in notes)
    assert any("half-written" in n for n in notes)
    # the finished segments were not written again
    assert {name: (segments / name).stat().st_ino for name in kept} == {k: v[0] for k, v in kept.items()}
    assert {name: (segments / name).stat().st_mtime_ns for name in kept} == {k: v[1] for k, v in kept.items()}
    assert [c.state for c in load_manifest(job_dir).chunks] == ["done"] * 4
    assert no_hidden(segments) == []
    # chunk 2 starts a fresh renderer at frame 12: the particles fast-forward to it
    assert_same_frames(decoded(out), media["frames"])


def test_resume_rerenders_a_damaged_segment_only(tmp_path, media):
    out = tmp_path / "clip.mkv"
    render_video(media["scene"], media["audio"], out, SMALL, job=JobOptions(chunks=3, keep_job=True))
    job_dir = default_job_dir(out)
    manifest = load_manifest(job_dir)
    assert [c.state for c in manifest.chunks] == ["done"] * 3
    seg = job_dir / "segments" / manifest.chunks[1].segment
    data = bytearray(seg.read_bytes())
    data[len(data) // 2] ^= 0xFF
    seg.write_bytes(bytes(data))
    untouched = (job_dir / "segments" / manifest.chunks[0].segment).stat().st_mtime_ns
    out.unlink()
    result = render_video(media["scene"], media["audio"], out, SMALL, job=JobOptions(resume=True, keep_job=True))
    assert result.chunks_rendered == 1
    assert (job_dir / "segments" / manifest.chunks[0].segment).stat().st_mtime_ns == untouched
    after = load_manifest(job_dir)
    from gpurender.farm.identity import file_digest

    assert after.chunks[1].sha256 == file_digest(seg) != manifest.chunks[1].sha256
    assert_same_frames(decoded(out), media["frames"])


def test_changed_scene_or_settings_refuse_resume_with_one_line(tmp_path, media):
    out = tmp_path / "clip.mkv"
    render_video(media["scene"], media["audio"], out, SMALL, job=JobOptions(chunks=2, keep_job=True))
    scene = tmp_path / "scene.toml"
    scene.write_text(PARTICLES.read_text().replace("count = 12000", "count = 11000"))
    base = ["render", scene, "--audio", media["song"], "-o", out, "--lossless", *CLI_SMALL]
    for extra, word in (([], "scene"), (["--quality", "low"], "scene and settings")):
        result = CliRunner().invoke(main, [str(a) for a in base + extra + ["--resume"]])
        lines = [ln for ln in result.output.splitlines() if ln.strip()]
        assert result.exit_code == 2, result.output
        assert len(lines) == 1 and lines[0].startswith("error: cannot resume"), result.output
        assert f"the {word} " in lines[0] and "changed" in lines[0]
    # the untouched scene still resumes (nothing left to render: it only joins again)
    same = ["render", PARTICLES, "--audio", media["song"], "-o", out, "--lossless", *CLI_SMALL]
    result = CliRunner().invoke(main, [str(a) for a in same + ["--resume"]])
    assert result.exit_code == 0, result.output
    assert "2 chunks (0 rendered by this run)" in result.output
    assert not default_job_dir(out).exists()


def test_joined_mp4_has_exact_frames_and_continuous_timestamps(tmp_path, media):
    out = tmp_path / "clip.mp4"
    settings = SMALL.with_(lossless=False, start=0.25, duration=1.5)
    result = render_video(media["scene"], media["audio"], out, settings, job=JobOptions(chunk_frames=5))
    assert result.frames == 18 and result.first_frame == 3
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        tb = v.time_base
        pts = sorted(p.pts for p in c.demux(v) if p.size)
    assert len(pts) == 18
    assert [round(p * tb * 12, 6) for p in pts] == list(range(18))
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 18
        a = c.streams.audio[0]
        assert a.codec_context.name == "aac"
        assert abs(float(a.duration * a.time_base) - 1.5) < 0.03


@pytest.mark.parametrize("start, duration", [(0.0, None), (0.25, 1.5)])
def test_audio_matches_the_source_sample_for_sample(tmp_path, media, start, duration):
    # PCM audio, so the comparison can be exact (AAC could only be compared approximately)
    out = tmp_path / "clip.mkv"
    settings = SMALL.with_(start=start, duration=duration)
    render_video(media["scene"], media["audio"], out, settings, job=JobOptions(chunk_frames=5),
                 audio_codec="pcm_f32le")
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.name == "pcm_f32le"
        parts = [f.to_ndarray() for f in c.decode(audio=0)]
    got = np.concatenate([p.reshape(-1, 2) for p in parts])
    source = media["audio"].samples
    sr = media["audio"].sample_rate
    first = round(start * sr)
    want = source[first:] if duration is None else source[first:first + round(duration * sr)]
    assert got.shape == want.shape
    assert np.array_equal(got, want)


# -- Ctrl-C, the CLI and status ------------------------------------------------------------------


def test_ctrl_c_keeps_finished_chunks_and_says_how_to_resume(tmp_path, media, monkeypatch):
    import gpurender.cli.render as cli_render

    out = tmp_path / "clip.mp4"
    args = ["render", PARTICLES, "--audio", media["song"], "-o", out, "--chunks", "4", *CLI_SMALL]
    @contextlib.contextmanager
    def stopping(*_args):
        yield StopAt(14, KeyboardInterrupt())

    monkeypatch.setattr(cli_render, "preview_progress", stopping)
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 130, result.output
    assert "2 of 4 chunks are done" in result.output and "--resume" in result.output
    assert not out.exists()
    job_dir = default_job_dir(out)
    assert sorted(p.name for p in (job_dir / "segments").iterdir()) == ["chunk_000000.mkv", "chunk_000001.mkv"]
    assert [c.state for c in load_manifest(job_dir).chunks] == ["done", "done", "pending", "pending"]
    assert no_hidden(tmp_path) == []

    status = CliRunner().invoke(main, ["status", str(job_dir), "--verify"])
    assert status.exit_code == 0, status.output
    assert "2/4 done" in status.output and "frames 12/24" in status.output and "--resume" in status.output
    as_json = json.loads(CliRunner().invoke(main, ["status", str(job_dir), "--json"]).output)
    assert [c["state"] for c in as_json["chunks"]] == ["done", "done", "pending", "pending"]

    monkeypatch.undo()
    result = CliRunner().invoke(main, [str(a) for a in args + ["--resume"]])
    assert result.exit_code == 0, result.output
    assert "4 chunks (2 rendered by this run)" in result.output
    assert out.exists() and not job_dir.exists()


def test_sigint_stops_a_real_render_cleanly(tmp_path, media):
    out = tmp_path / "clip.mp4"
    job_dir = default_job_dir(out)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "gpurender", "render", str(PARTICLES), "--audio", str(media["song"]), "-o", str(out),
           "--resolution", "64x48", "--fps", "60", "--chunk-frames", "6"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if load_manifest(job_dir).counts()["done"] >= 1:
                    break
            except GpurenderError:
                pass
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "chunks are done" in err and "gpurender render" in err and "--resume" in err
    assert not out.exists()
    manifest = load_manifest(job_dir)
    counts = manifest.counts()
    assert counts["done"] >= 1 and counts["running"] == 0 and counts["done"] < len(manifest.chunks)
    names = sorted(p.name for p in (job_dir / "segments").iterdir())
    assert names == [c.segment for c in manifest.chunks if c.state == "done"]  # no partial segment
    assert no_hidden(tmp_path) == [] and no_hidden(job_dir / "segments") == []


def test_chunk_options_errors_are_one_line(tmp_path, media, monkeypatch):
    base = ["render", PARTICLES, "--audio", media["song"], *CLI_SMALL]
    cases = [
        (["-o", tmp_path / "a.mp4", "--chunks", "2", "--chunk-frames", "3"], "not both"),
        (["-o", tmp_path / "a.mp4", "--address", "127.0.0.1:6379"], "--farm ray"),
        (["-o", tmp_path / "frames/", "--format", "png", "--chunks", "2"], "PNG sequence"),
        (["-o", tmp_path / "a.mp4", "--chunks", "99"], "more than the 24 frames"),
    ]
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    cases.append((["-o", tmp_path / "a.mp4", "--farm", "ray"], "pip install 'gpurender[farm]'"))
    for extra, text in cases:
        result = CliRunner().invoke(main, [str(a) for a in base + extra])
        lines = [ln for ln in result.output.splitlines() if ln.strip()]
        assert result.exit_code == 2, result.output
        assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], result.output
    assert not (tmp_path / "a.mp4").exists() and not list(tmp_path.glob("*.job"))
    result = CliRunner().invoke(main, ["status", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and result.output.startswith("error: ") and "not a gpurender job" in result.output
