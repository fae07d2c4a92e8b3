"""Chunked renders on a local Ray cluster started by the test (2 CPUs): the same frames as a local
render, and a finished render even when a worker process dies in the middle of a chunk.

Skipped when Ray is not installed (it is the optional ``farm`` extra).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'gpurender[farm]')")

from gpurender.audio import load_audio  # noqa: E402
from gpurender.cli import main  # noqa: E402
from gpurender.farm import JobOptions, load_manifest  # noqa: E402
from gpurender.farm.job import default_job_dir  # noqa: E402
from gpurender.farm.rayfarm import RayExecutor, runtime_env  # noqa: E402
from gpurender.pipeline import render_video  # noqa: E402
from gpurender.scene import load_scene  # noqa: E402
from gpurender.settings import RenderSettings  # noqa: E402

from media import assert_same_frames, decoded, write_song  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PARTICLES = ROOT / "examples" / "particles.toml"
SMALL = RenderSettings(width=64, height=48, fps=12, lossless=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    staging = tmp_path_factory.mktemp("ray-code")
    # A source checkout ships its code to the workers; an installed gpurender needs nothing.
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=runtime_env(staging) or None)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("farm-ray")
    song = write_song(folder / "song.wav")
    audio = load_audio(song)
    scene = load_scene(PARTICLES)
    reference = folder / "local.mkv"
    render_video(scene, audio, reference, SMALL)
    return {"song": song, "audio": audio, "scene": scene, "frames": decoded(reference)}


def test_ray_render_matches_the_local_render(tmp_path, cluster, media):
    out = tmp_path / "ray.mkv"
    args = ["render", PARTICLES, "--audio", media["song"], "-o", out, "--resolution", "64x48", "--fps", "12",
            "--lossless", "--farm", "ray", "--chunks", "4"]
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "4 chunks (4 rendered by this run)" in result.output and "on ray (" in result.output
    assert_same_frames(decoded(out), media["frames"])
    assert not default_job_dir(out).exists()


def test_ray_render_survives_a_worker_killed_mid_chunk(tmp_path, cluster, media):
    def dies_once(task, recipe):
        # Defined here, so Ray ships it by value; kills its own worker process on chunk 1's first try.
        import os
        from pathlib import Path as P

        from gpurender.farm.worker import ray_entry

        marker = P(task.job_dir) / "killed-once"

        def hook(done):
            if task.index == 1 and done == 3 and not marker.exists():
                marker.write_text("x")
                os._exit(1)

        return ray_entry(task, recipe, on_frame=hook)

    out = tmp_path / "ray.mkv"
    executor = RayExecutor(retries=2, entry=dies_once)
    result = render_video(media["scene"], media["audio"], out, SMALL,
                          job=JobOptions(chunks=4, farm=executor, keep_job=True))
    job_dir = default_job_dir(out)
    assert (job_dir / "killed-once").exists()  # the worker really died
    manifest = load_manifest(job_dir)
    assert [c.state for c in manifest.chunks] == ["done"] * 4
    assert manifest.chunks[1].attempts == 2 and manifest.chunks[0].attempts == 1
    assert result.chunks_rendered == 4
    segments = sorted(p.name for p in (job_dir / "segments").iterdir())
    assert segments == [c.segment for c in manifest.chunks]  # the dead worker's partial file is gone
    assert_same_frames(decoded(out), media["frames"])


# A driver that starts Ray itself, as `gpurender render --farm ray` does: once closed properly, then
# started again and left to be killed.
SELF_STARTED = """
import os, sys, time
from gpurender.farm import watchdog
from gpurender.farm.rayfarm import RayExecutor
ex = RayExecutor()
ex.connect()
staging, dog = ex._staging, ex._watchdog
ray_before = len(watchdog.ray_processes(os.getpid()))
ex.close()
time.sleep(1.0)
print(ray_before, len(watchdog.ray_processes(os.getpid())), staging.exists(), dog.returncode, flush=True)
ex = RayExecutor()
ex.connect()
print(ex._staging, flush=True)
time.sleep(300)
"""


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="the watchdog reads Linux's /proc")
def test_self_started_cluster_is_torn_down_even_when_the_driver_is_killed(tmp_path):
    import os
    import subprocess
    import sys
    import time

    from gpurender.farm import watchdog

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("RAY_ADDRESS", None)
    driver = subprocess.Popen([sys.executable, "-c", SELF_STARTED], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    ray_procs = set()
    try:
        before, after, staging_left, dog_exit = driver.stdout.readline().split()
        assert int(before) >= 3 and int(after) == 0 and staging_left == "False" and dog_exit == "0"
        staging = Path(driver.stdout.readline().strip())
        assert staging.is_dir()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until Ray's agents are up too
            ray_procs = watchdog.ray_processes(driver.pid)
            table = watchdog.process_table()
            if sum("Agent" in watchdog.command_line(pid) for pid, _ in ray_procs if pid in table) >= 2:
                break
            time.sleep(0.2)
        time.sleep(4 * watchdog.POLL_SECONDS)
        driver.kill()
        driver.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            table = watchdog.process_table()
            alive = [pid for pid, start in ray_procs
                     if pid in table and table[pid][1] == start and table[pid][2] not in "ZX"]
            if not alive and not staging.exists():
                break
            time.sleep(0.2)
        assert alive == [], [watchdog.command_line(pid)[:80] for pid in alive]
        assert not staging.exists()
    finally:
        if driver.poll() is None:
            driver.kill()
        for pid, _ in ray_procs:
            try:
                os.kill(pid, 9)
            except OSError:
                pass


def test_ray_point_export_matches_the_single_pass(tmp_path, cluster):
    """Point sequences go through the same farm: chunks on Ray, frame for frame the local pass."""
    seq = tmp_path / "seq.npz"
    runner = CliRunner()
    assert runner.invoke(main, ["points-example", "sphere", "-o", str(seq), "--frames", "8",
                                "--points", "300"]).exit_code == 0
    common = ["--resolution", "64x48", "--fps", "8", "--lossless", "--quiet"]
    single, farmed = tmp_path / "single.mkv", tmp_path / "farmed.mkv"
    assert runner.invoke(main, ["points", str(seq), "-o", str(single), *common]).exit_code == 0
    result = runner.invoke(main, ["points", str(seq), "-o", str(farmed), *common, "--farm", "ray", "--chunks", "2"],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "2 chunks (2 rendered by this run)" in result.output
    assert_same_frames(decoded(farmed), decoded(single))
