"""Faults around chunked renders: hand-damaged manifests, a manifest save on a full disk, and what a
killed Ray driver leaves behind (its staging folder; the watchdog that stops its cluster).

Renders are tiny (64x48, 12 fps, 2 s, lossless) so "identical to a single pass" is exact.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from gpurender.audio import load_audio
from gpurender.cli import main
from gpurender.farm import JobOptions, load_manifest
from gpurender.farm.job import default_job_dir
from gpurender.farm.manifest import MANIFEST_NAME
from gpurender.pipeline import render_video
from gpurender.scene import load_scene
from gpurender.settings import RenderSettings

from media import assert_same_frames, decoded, write_song  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PARTICLES = ROOT / "examples" / "particles.toml"
SMALL = RenderSettings(width=64, height=48, fps=12, lossless=True)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """A single-pass reference, and a finished job of 4 chunks (6 frames each) kept as made."""
    folder = tmp_path_factory.mktemp("faults")
    song = write_song(folder / "song.wav")
    audio = load_audio(song)
    scene = load_scene(PARTICLES)
    reference = folder / "single.mkv"
    render_video(scene, audio, reference, SMALL)
    chunked = folder / "chunked.mkv"
    render_video(scene, audio, chunked, SMALL, job=JobOptions(chunk_frames=6, keep_job=True))
    assert [c.state for c in load_manifest(default_job_dir(chunked)).chunks] == ["done"] * 4
    return {"song": song, "audio": audio, "scene": scene, "frames": decoded(reference),
            "job": default_job_dir(chunked)}


def render_args(media, out: Path) -> list[str]:
    return [str(a) for a in ("render", PARTICLES, "--audio", media["song"], "-o", out, "--resolution", "64x48",
                             "--fps", "12", "--lossless", "--quiet")]


def finished_job(media, tmp_path) -> tuple[Path, Path]:
    """A copy of the finished job beside a not-yet-joined output: (output, job directory)."""
    out = tmp_path / "clip.mkv"
    shutil.copytree(media["job"], default_job_dir(out))
    return out, default_job_dir(out)


def edit_manifest(job_dir: Path, change) -> None:
    path = job_dir / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=1))


def one_error_line(result) -> str:
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def _set(key, value):
    return lambda data: data.__setitem__(key, value)


def _chunk(position, key, value):
    return lambda data: data["chunks"][position].__setitem__(key, value)


DAMAGES = {
    # one record removed: frames 12-17 would be missing from the video
    "gap": (lambda data: data["chunks"].pop(2), "chunk 2 (frames 12-17) has no record"),
    # chunk 2 said to start two frames early: it would overlap chunk 1
    "overlap": (_chunk(2, "first", 10), "chunk 2 records frames 10-15, the plan has frames 12-17"),
    "duplicate": (lambda data: data["chunks"].__setitem__(2, dict(data["chunks"][1])), "chunk 1 is listed twice"),
    "out of order": (lambda data: data["chunks"].reverse(), "chunk 2 is listed after chunk 3"),
    "no chunks": (_set("chunks", []), "it lists no chunks"),
    "non-integer index": (_chunk(1, "index", "one"), "chunk record 2: index is 'one', not a whole number"),
    "fractional count": (_chunk(1, "count", 5.5), "chunk record 2: count is 5.5, not a whole number"),
    "missing key": (lambda data: data["chunks"][3].pop("first"), "chunk record 4: 'first' is missing"),
    "chunks not a list": (_set("chunks", {"0": "done"}), "'chunks' is {'0': 'done'}, not a list"),
    "edited span": (_set("count", 18), "its count (18) differs from the count in its settings (24)"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_resume_refuses_a_manifest_that_does_not_cover_the_video(tmp_path, media, damage):
    change, said = DAMAGES[damage]
    out, job_dir = finished_job(media, tmp_path)
    edit_manifest(job_dir, change)
    segments = {p.name: p.stat().st_mtime_ns for p in (job_dir / "segments").iterdir()}
    line = one_error_line(CliRunner().invoke(main, render_args(media, out) + ["--resume"]))
    assert said in line, line
    assert f"'gpurender status {job_dir} --repair'" in line
    assert not out.exists()
    # the finished work is untouched, and status says the same and how to fix it
    assert {p.name: p.stat().st_mtime_ns for p in (job_dir / "segments").iterdir()} == segments
    status = CliRunner().invoke(main, ["status", str(job_dir)])
    assert said in status.output and "--repair" in status.output
    assert "Traceback" not in status.output


def test_a_manifest_whose_header_is_damaged_says_to_start_over(tmp_path, media):
    out, job_dir = finished_job(media, tmp_path)
    edit_manifest(job_dir, _set("identity", None))
    commands = (render_args(media, out) + ["--resume"], ["status", str(job_dir)], ["status", str(job_dir), "--repair"])
    for args in commands:
        line = one_error_line(CliRunner().invoke(main, args))
        assert "'identity' is None" in line and f"delete the job folder '{job_dir}'" in line
    out, job_dir = finished_job(media, tmp_path / "b")
    edit_manifest(job_dir, lambda data: data["settings"].__setitem__("width", 96))
    line = one_error_line(CliRunner().invoke(main, ["status", str(job_dir), "--repair"]))
    assert "cannot be rebuilt" in line and "delete the job folder" in line


@pytest.mark.parametrize("damage, segment_fault, rendered", [
    ("gap", None, 0),
    ("duplicate", None, 0),
    ("overlap", None, 0),
    ("no chunks", None, 0),
    ("non-integer index", None, 0),
    ("edited span", None, 0),
    ("gap", "truncated", 1),  # the segment of the lost record is cut short: rendered again
    ("duplicate", "missing", 1),
])
def test_repair_rebuilds_from_the_segments_that_verify(tmp_path, media, damage, segment_fault, rendered):
    out, job_dir = finished_job(media, tmp_path)
    edit_manifest(job_dir, DAMAGES[damage][0])
    segment = job_dir / "segments" / "chunk_000002.mkv"
    if segment_fault == "truncated":
        segment.write_bytes(segment.read_bytes()[: segment.stat().st_size * 2 // 3])
    elif segment_fault == "missing":
        segment.unlink()
    kept = {name: (job_dir / "segments" / name).stat().st_mtime_ns for name in
            ("chunk_000000.mkv", "chunk_000001.mkv", "chunk_000003.mkv")}

    result = CliRunner().invoke(main, ["status", str(job_dir), "--repair"])
    assert result.exit_code == 0, result.output
    assert f"{4 - rendered} of 4 chunks kept" in result.output
    if rendered:
        assert "chunk 2: it" in result.output and "--resume renders it" in result.output
    manifest = load_manifest(job_dir)
    assert manifest.coverage_problem() == ""
    assert [c.state for c in manifest.chunks] == ["done", "done", "pending" if rendered else "done", "done"]
    assert {c.encoder for c in manifest.chunks if c.state == "done"} == {"libx264"}

    result = CliRunner().invoke(main, render_args(media, out) + ["--resume", "--keep-job"])
    assert result.exit_code == 0, result.output
    assert f"4 chunks ({rendered} rendered by this run)" in result.output
    assert_same_frames(decoded(out), media["frames"])
    # the segments that verified were joined as they were, not rendered again
    assert {name: (job_dir / "segments" / name).stat().st_mtime_ns for name in kept} == kept


def test_repair_refuses_while_a_render_holds_the_job(tmp_path, media):
    from gpurender.farm import JobDir

    _, job_dir = finished_job(media, tmp_path)
    holder = JobDir(job_dir, load_manifest(job_dir))
    holder.lock()
    try:
        line = one_error_line(CliRunner().invoke(main, ["status", str(job_dir), "--repair"]))
        assert "in use by another gpurender process" in line
    finally:
        holder.close()


# -- a full disk -----------------------------------------------------------------------------------


def full_disk_after(monkeypatch, saves: int) -> None:
    """Make every manifest save after the first ``saves`` fail as on a full disk (when its data
    are flushed, where a full disk shows last)."""
    import gpurender.encode.files as files_module

    real = files_module.flush_to_disk
    count = [0]

    def flush_to_disk(path):
        if MANIFEST_NAME in os.path.basename(path):
            count[0] += 1
            if count[0] > saves:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(path)

    monkeypatch.setattr(files_module, "flush_to_disk", flush_to_disk)


def test_manifest_save_on_a_full_disk_is_one_line_and_keeps_the_old_manifest(tmp_path, media, monkeypatch):
    out = tmp_path / "clip.mkv"
    full_disk_after(monkeypatch, 3)  # the job is made and a few chunks are recorded, then the disk fills
    result = CliRunner().invoke(main, render_args(media, out) + ["--chunk-frames", "6"])
    line = one_error_line(result)
    assert "could not save the job manifest" in line and "No space left on device" in line and "--resume" in line
    assert not out.exists()
    job_dir = default_job_dir(out)
    assert [p.name for p in job_dir.iterdir() if ".partial-" in p.name] == []  # no half-written manifest
    before = load_manifest(job_dir)  # the last good one, whole
    assert before.coverage_problem() == ""

    monkeypatch.undo()  # space freed
    result = CliRunner().invoke(main, render_args(media, out) + ["--resume"])
    assert result.exit_code == 0, result.output
    assert_same_frames(decoded(out), media["frames"])


def test_a_new_job_that_cannot_save_its_manifest_leaves_no_folder(tmp_path, media, monkeypatch):
    out = tmp_path / "clip.mkv"
    full_disk_after(monkeypatch, 0)
    line = one_error_line(CliRunner().invoke(main, render_args(media, out) + ["--chunks", "2"]))
    assert "could not save the job manifest" in line
    assert list(tmp_path.iterdir()) == []


# -- what a killed Ray driver leaves ---------------------------------------------------------------


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_staging_folders_of_dead_drivers_are_removed(tmp_path):
    from gpurender.farm.rayfarm import STAGING_PREFIX, remove_stale_staging

    dead = tmp_path / f"{STAGING_PREFIX}{_dead_pid()}-abc123"
    live = tmp_path / f"{STAGING_PREFIX}{os.getpid()}-def456"
    unknown = tmp_path / f"{STAGING_PREFIX}xyz789"  # no owner in its name: it may be anyone's
    for folder in (dead, live, unknown):
        (folder / "gpurender").mkdir(parents=True)
        (folder / "gpurender" / "__init__.py").write_text("")
    stray_file = tmp_path / f"{STAGING_PREFIX}{_dead_pid()}-file"
    stray_file.write_text("not a folder")
    assert remove_stale_staging(tmp_path) == [dead.name]
    assert not dead.exists() and live.is_dir() and unknown.is_dir() and stray_file.exists()


def test_new_staging_names_its_owner(tmp_path, monkeypatch):
    import tempfile

    from gpurender.farm.rayfarm import STAGING_PREFIX, new_staging

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folder = new_staging()
    assert folder.parent == tmp_path and folder.name.startswith(f"{STAGING_PREFIX}{os.getpid()}-")


# A driver stand-in: starts the watchdog as RayExecutor does, then a pretend Ray cluster (a "raylet"
# whose child is an "agent" that ignores SIGTERM, as Ray's agents do) and one unrelated child.
FAKE_DRIVER = textwrap.dedent("""
    import os, subprocess, sys, time
    from gpurender.farm import watchdog
    staging = sys.argv[1]
    dog = watchdog.start(staging)
    agent = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"
    raylet = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', %r, 'ray::FakeAgent']); "
              "time.sleep(120)") % agent
    subprocess.Popen([sys.executable, "-c", raylet, "/fake/ray/raylet"])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "not-ray"])
    if sys.argv[2] == "close":
        time.sleep(1.0)
        watchdog.stop(dog)
        print("STOPPED", dog.returncode, flush=True)
    print(dog.pid, other.pid, flush=True)
    time.sleep(120)
""")


def _fake_cluster(tmp_path, mode):
    from gpurender.farm import watchdog

    staging = tmp_path / "gpurender-ray-staging"
    staging.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    driver = subprocess.Popen([sys.executable, "-c", FAKE_DRIVER, str(staging), mode], env=env,
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    lines = [driver.stdout.readline().split() for _ in range(2 if mode == "close" else 1)]
    dog, other = (int(x) for x in lines[-1])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(watchdog.ray_processes(driver.pid)) < 2:
        time.sleep(0.1)
    ray = watchdog.ray_processes(driver.pid)
    assert len(ray) == 2, "the pretend cluster did not start"
    time.sleep(4 * watchdog.POLL_SECONDS)  # the watchdog has seen it
    return driver, staging, lines, dog, other, ray


def _alive(pids) -> set[int]:
    from gpurender.farm import watchdog

    table = watchdog.process_table()
    return {pid for pid, start in pids if pid in table and table[pid][1] == start and table[pid][2] not in "ZX"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the watchdog reads Linux's /proc")
def test_watchdog_stops_the_cluster_and_removes_staging_when_the_driver_is_killed(tmp_path):
    driver, staging, _, dog, other, ray = _fake_cluster(tmp_path, "kill")
    try:
        assert _alive(ray) == {pid for pid, _ in ray}
        driver.kill()  # SIGKILL: the driver cleans up nothing itself
        driver.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (_alive(ray) or staging.exists()):
            time.sleep(0.1)
        assert _alive(ray) == set(), "the pretend Ray processes outlived their driver"
        assert not staging.exists()
        os.kill(other, 0)  # a child that is not Ray's is left alone
    finally:
        for pid in [other, dog] + [pid for pid, _ in ray]:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the watchdog reads Linux's /proc")
def test_watchdog_leaves_quietly_when_the_driver_closes_its_cluster(tmp_path):
    driver, staging, lines, dog, other, ray = _fake_cluster(tmp_path, "close")
    try:
        assert lines[0] == ["STOPPED", "0"]
        driver.kill()
        driver.wait()
        time.sleep(1.0)
        assert _alive(ray) == {pid for pid, _ in ray} and staging.is_dir()  # stopped: it touched nothing
    finally:
        for pid in [other, dog] + [pid for pid, _ in ray]:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
