"""The Python API for apps: progress callbacks (order, values, cancel), paths or objects everywhere,
quiet defaults."""

from __future__ import annotations

import os
import threading

import pytest

import gpurender
from gpurender.farm import JobOptions, load_manifest
from gpurender.farm.job import default_job_dir
from gpurender.pointcloud import example_sequence
from gpurender.progress import PHASES, ProgressEvent

SMALL = gpurender.RenderSettings(width=64, height=48, fps=10)


class Recorder:
    def __init__(self, cancel_at=None, error=None):
        self.events: list[ProgressEvent] = []
        self.threads: set[int] = set()
        self.cancel_at = cancel_at
        self.error = error or RuntimeError("stop from the app")

    def __call__(self, event: ProgressEvent):
        self.events.append(event)
        self.threads.add(threading.get_ident())
        if self.cancel_at is not None and event.kind == "frames" and event.done == self.cancel_at:
            raise self.error

    def phases(self) -> list[str]:
        return [e.phase for e in self.events if e.kind == "phase"]


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name)


def test_render_reports_phases_and_frames_on_the_callers_thread(tmp_path, small_scene, song):
    rec = Recorder()
    result = gpurender.render_video(small_scene, song, tmp_path / "a.mp4", SMALL, progress=rec)
    phases = rec.phases()
    assert phases == ["preparing", "analysing", "rendering", "encoding", "muxing", "verifying", "complete"]
    assert [p for p in PHASES if p in phases] == phases  # in the documented order
    frames = [e for e in rec.events if e.kind == "frames"]
    assert [e.done for e in frames] == list(range(1, result.frames + 1))
    assert all(e.total == result.frames and e.phase == "rendering" for e in frames)
    assert frames[-1].fps is not None and frames[-1].fps > 0 and frames[-1].eta_s == 0
    assert any(e.kind == "info" and "encoder" in e.message for e in rec.events)
    assert rec.threads == {threading.get_ident()}


def test_an_exception_from_the_callback_cancels_cleanly_and_propagates(tmp_path, small_scene, song):
    class Stop(Exception):
        pass

    rec = Recorder(cancel_at=5, error=Stop("user pressed cancel"))
    out = tmp_path / "a.mp4"
    with pytest.raises(Stop, match="user pressed cancel"):
        gpurender.render_video(small_scene, song, out, SMALL, progress=rec)
    assert not out.exists() and leftovers(tmp_path) == []
    assert [e.done for e in rec.events if e.kind == "frames"][-1] == 5  # nothing drawn was reported after


def test_a_cancelled_chunked_render_keeps_its_job_for_resume(tmp_path, small_scene, song):
    out = tmp_path / "a.mkv"
    settings = gpurender.RenderSettings(width=64, height=48, fps=10, lossless=True)
    with pytest.raises(KeyError):
        gpurender.render_video(small_scene, song, out, settings, progress=Recorder(cancel_at=12, error=KeyError("x")),
                               job=JobOptions(chunk_frames=5))
    assert not out.exists()
    manifest = load_manifest(default_job_dir(out))
    assert [c.state for c in manifest.chunks][:2] == ["done", "done"]
    assert "running" not in [c.state for c in manifest.chunks]
    result = gpurender.render_video(small_scene, song, out, settings, job=JobOptions(chunk_frames=5, resume=True))
    assert result.chunks == 4 and result.chunks_rendered == 2 and out.exists()


def test_point_export_and_still_report_through_the_callback(tmp_path, small_scene, song):
    rec = Recorder()
    gpurender.export_point_cloud_video(example_sequence("sphere", 4, 100), tmp_path / "p.mp4", fps=4,
                                       resolution="64x48", audio=song, progress=rec)
    assert rec.phases() == ["preparing", "checking", "rendering", "encoding", "muxing", "verifying", "complete"]
    stop = Recorder(cancel_at=2)
    with pytest.raises(RuntimeError, match="stop from the app"):
        gpurender.export_point_cloud_video(example_sequence("sphere", 4, 100), tmp_path / "q.mp4", fps=4,
                                           resolution="64x48", progress=stop)
    assert not (tmp_path / "q.mp4").exists() and leftovers(tmp_path) == []
    rec = Recorder()
    gpurender.render_still(small_scene, song, tmp_path / "s.png", 0.5, SMALL, progress=rec)
    assert rec.phases()[0] == "preparing" and rec.phases()[-1] == "complete"


def test_paths_or_loaded_objects_everywhere(tmp_path, small_scene, song):
    a = gpurender.render_video(str(small_scene), str(song), tmp_path / "a.mp4", SMALL)
    b = gpurender.render_video(gpurender.load_scene(small_scene), gpurender.load_audio(song), tmp_path / "b.mp4",
                               SMALL)
    assert a.frames == b.frames == 20
    assert gpurender.render_still(small_scene, song, tmp_path / "s.png", 0.5, SMALL) == str(tmp_path / "s.png")
    scene_dict = {"layers": [{"type": "spectrum", "bars": 8}]}
    assert gpurender.render_video(scene_dict, song, tmp_path / "c.mp4", SMALL).frames == 20
    with pytest.raises(gpurender.GpurenderError, match="audio must be an AudioData or a path"):
        gpurender.render_video(small_scene, 42, tmp_path / "d.mp4", SMALL)


def test_the_api_is_quiet_by_default_and_true_means_stderr(tmp_path, small_scene, song, capfd):
    gpurender.render_video(small_scene, song, tmp_path / "a.mp4", SMALL)
    gpurender.export_point_cloud_video(example_sequence("sphere", 3, 100), tmp_path / "p.mp4", fps=3,
                                       resolution="64x48")
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
    gpurender.render_video(small_scene, song, tmp_path / "b.mp4", SMALL, progress=True)
    assert "[rendering]" in capfd.readouterr().err
    assert os.path.exists(tmp_path / "b.mp4")


def test_broken_point_frames_are_point_frame_errors_carrying_the_index(tmp_path):
    from gpurender.errors import PointFrameError, SceneError

    frames = list(example_sequence("sphere", 5, 50))
    frames[3] = {"points": frames[3]["points"][:, :2]}
    with pytest.raises(PointFrameError) as caught:
        gpurender.export_point_cloud_video(frames, tmp_path / "x.mp4", fps=5, resolution="64x48")
    assert caught.value.frame == 3 and isinstance(caught.value, SceneError)
    assert str(caught.value).startswith("frame 3: points have shape (50, 2)")

    def lazily():
        yield from frames[:2]
        yield {"points": frames[0]["points"], "colors": "red"}

    with pytest.raises(PointFrameError) as caught:
        gpurender.export_point_cloud_video(lazily(), tmp_path / "y.mp4", fps=5, resolution="64x48",
                                           bounds=((-2,) * 3, (2,) * 3))
    assert caught.value.frame == 2
    assert os.listdir(tmp_path) == []


def test_analysis_takes_a_path_and_reports_progress(song):
    rec = Recorder()
    features = gpurender.analyze(song, 10, progress=rec)
    assert features.n_frames == 21
    assert rec.phases() == ["analysing", "complete"]
    assert any(e.kind == "info" and "analysis on" in e.message for e in rec.events)
    assert gpurender.analyze_file(str(song), "30000/1001").n_frames == 60

    def cancel(event):
        raise ValueError("no analysis today")

    with pytest.raises(ValueError, match="no analysis today"):
        gpurender.analyze(song, 10, progress=cancel)
