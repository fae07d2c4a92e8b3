"""``gpurender batch``: many songs in one process, failures named, reruns skip what is up to date."""

from __future__ import annotations

import json
import os
import signal

import av
import numpy as np
import pytest
from click.testing import CliRunner

from gpurender.batch import BatchError, BatchSong, plan_batch, read_job_list, record_path
from gpurender.cli import main
from gpurender.settings import RenderSettings
from media import assert_same_frames, decoded, write_song

SMALL = ["--resolution", "64x48", "--fps", "10", "--quiet"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def frames_and_size(path):
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        assert c.streams.audio, f"{path} has no sound"
        return sum(1 for _ in c.decode(video=0)), (v.codec_context.width, v.codec_context.height)


def partials(folder):
    return [p for p in os.listdir(folder) if ".partial-" in p]


@pytest.fixture
def songs(tmp_path):
    """Two good songs of 1 s and a corrupt one between them."""
    good_a = write_song(tmp_path / "a.wav", seconds=1.0)
    corrupt = tmp_path / "broken.wav"
    rng = np.random.default_rng(0)
    corrupt.write_bytes(b"RIFF" + rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    good_b = write_song(tmp_path / "b.wav", seconds=1.0)
    return [good_a, corrupt, good_b]


def test_a_failing_song_is_named_and_the_rest_render_then_a_rerun_skips(tmp_path, small_scene, songs):
    out = tmp_path / "videos" / "deep"  # created, parents too
    result = run("batch", small_scene, *songs, "-o", out, *SMALL)
    assert result.exit_code == 1, result.output
    assert sorted(p for p in os.listdir(out) if not p.startswith(".")) == ["a.mp4", "b.mp4"]
    for name in ("a.mp4", "b.mp4"):
        assert frames_and_size(out / name) == (10, (64, 48))
        assert record_path(out / name).is_file()
    failed = [line for line in result.output.splitlines() if line.startswith("failed:")]
    assert len(failed) == 1 and "broken.wav" in failed[0], result.output
    assert "2 rendered, 0 skipped (up to date), 1 failed: " in result.output and "broken.wav" in result.output
    assert not partials(out)

    again = run("batch", small_scene, *songs, "-o", out, *SMALL)
    assert again.exit_code == 1, again.output
    skipped = [line for line in again.output.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 2 and all("up to date" in line for line in skipped), again.output
    assert [line for line in again.output.splitlines() if line.startswith("failed:")] == failed
    assert "0 rendered, 2 skipped (up to date), 1 failed" in again.output


def test_a_changed_scene_or_setting_renders_again(tmp_path, small_scene):
    song = write_song(tmp_path / "a.wav", seconds=1.0)
    out = tmp_path / "out"
    assert run("batch", small_scene, song, "-o", out, *SMALL).exit_code == 0
    first = (out / "a.mp4").stat().st_mtime_ns

    changed = run("batch", small_scene, song, "-o", out, *SMALL, "--quality", "low")
    assert changed.exit_code == 0, changed.output
    assert "1 rendered, 0 skipped" in changed.output
    settings = json.loads(record_path(out / "a.mp4").read_text())["settings"]
    assert settings["quality"] == "low"

    same = run("batch", small_scene, song, "-o", out, *SMALL, "--quality", "low")
    assert "0 rendered, 1 skipped" in same.output, same.output

    small_scene.write_text(small_scene.read_text().replace("bars = 16", "bars = 8"))
    rescene = run("batch", small_scene, song, "-o", out, *SMALL, "--quality", "low")
    assert rescene.exit_code == 0 and "1 rendered, 0 skipped" in rescene.output, rescene.output
    assert (out / "a.mp4").stat().st_mtime_ns != first

    write_song(song, seconds=1.2)  # the song itself changed
    assert "1 rendered" in run("batch", small_scene, song, "-o", out, *SMALL, "--quality", "low").output

    (out / "a.mp4").write_bytes(b"not the video any more")  # an output replaced by hand is not trusted
    assert "1 rendered" in run("batch", small_scene, song, "-o", out, *SMALL, "--quality", "low").output
    assert frames_and_size(out / "a.mp4") == (12, (64, 48))


def test_songs_of_the_same_name_get_distinct_outputs(tmp_path, small_scene):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    first = write_song(tmp_path / "x" / "intro.wav", seconds=0.5)
    second = write_song(tmp_path / "y" / "intro.wav", seconds=1.0)
    out = tmp_path / "out"
    result = run("batch", small_scene, first, second, "-o", out, *SMALL)
    assert result.exit_code == 0, result.output
    assert frames_and_size(out / "intro.mp4")[0] == 5  # argument order decides
    assert frames_and_size(out / "intro-2.mp4")[0] == 10
    again = run("batch", small_scene, first, second, "-o", out, *SMALL)
    assert "0 rendered, 2 skipped" in again.output, again.output


def test_an_output_name_never_lands_on_an_input(tmp_path, small_scene):
    song = write_song(tmp_path / "clip.wav", seconds=0.5)
    other = tmp_path / "clip.mp4"  # a song in the output folder that clip.wav's output would replace
    other.write_bytes(song.read_bytes())
    planned = plan_batch([BatchSong(audio=song), BatchSong(audio=other)], tmp_path, RenderSettings())
    assert [p.output.name for p in planned] == ["clip-2.mp4", "clip-3.mp4"]
    with pytest.raises(BatchError, match="write over the input"):
        plan_batch([BatchSong(audio=song, output="clip.mp4")], tmp_path, RenderSettings(), inputs=[other])
    with pytest.raises(BatchError, match="also the output of"):
        plan_batch([BatchSong(audio=song, output="v"), BatchSong(audio=song, output="V.mp4")], tmp_path,
                   RenderSettings())


def test_a_job_list_gives_each_song_its_settings(tmp_path, small_scene):
    (tmp_path / "music").mkdir()
    write_song(tmp_path / "music" / "one.wav", seconds=2.0)
    write_song(tmp_path / "music" / "two.wav", seconds=1.0)
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(
        '[[songs]]\naudio = "music/one.wav"\noutput = "first-part"\nstart = 0.5\nduration = 0.5\n'
        'resolution = "48x32"\nfps = 8\n'
        '[[songs]]\naudio = "music/two.wav"\nformat = "webm"\nquality = "low"\n'
    )
    out = tmp_path / "out"
    result = run("batch", small_scene, "--jobs", jobs, "-o", out, *SMALL)
    assert result.exit_code == 0, result.output
    assert frames_and_size(out / "first-part.mp4") == (4, (48, 32))
    assert frames_and_size(out / "two.webm") == (10, (64, 48))
    with av.open(str(out / "two.webm")) as c:
        assert c.streams.video[0].codec_context.name == "vp9"

    csv_jobs = tmp_path / "lists" / "jobs.csv"
    csv_jobs.parent.mkdir()
    csv_jobs.write_text("# song, name, span\naudio,output,start,duration,fps\n"
                        "../music/one.wav,csv-one.mkv,1.0,,5\n../music/two.wav,,,0.4,\n")
    result = run("batch", small_scene, "--jobs", csv_jobs, "-o", out, *SMALL)
    assert result.exit_code == 0, result.output
    assert frames_and_size(out / "csv-one.mkv") == (5, (64, 48))
    assert frames_and_size(out / "two.mp4") == (4, (64, 48))


@pytest.mark.parametrize("text, message", [
    ('[[songs]]\naudio = "a.wav"\nfsp = 30\n', "song 1: unknown key 'fsp'"),
    ('[[songs]]\noutput = "x"\n', "song 1: no audio"),
    ('[[songs]]\naudio = "a.wav"\nresolution = "big"\n', "song 1: resolution: resolution 'big' is not understood"),
    ('[[songs]]\naudio = "a.wav"\n[[songs]]\naudio = "a.wav"\nformat = "png"\n', "song 2: format: 'png' is not valid"),
    ('[[songs]]\naudio = "a.wav"\noutput = "sub/a"\n', "without a folder part"),
])
def test_job_list_mistakes_name_the_entry(tmp_path, text, message):
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(text)
    with pytest.raises(BatchError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_job_list(jobs)


def test_bad_batch_input_fails_before_any_song(tmp_path, small_scene, song):
    jobs = tmp_path / "jobs.csv"
    jobs.write_text("audio,speed\nsong.wav,2\n")
    result = run("batch", small_scene, song, "--jobs", jobs, "-o", tmp_path / "out", *SMALL)
    assert result.exit_code == 2 and "line 1: unknown column 'speed'" in result.output, result.output
    assert not (tmp_path / "out").exists()
    result = run("batch", small_scene, song, "-o", tmp_path / "out", *SMALL, "--format", "png")
    assert result.exit_code == 2 and "render PNG frames with" in result.output
    assert run("batch", small_scene, "-o", tmp_path / "out").exit_code == 2


def _interrupt_song(monkeypatch, number: int):
    """Ctrl-C (a real SIGINT) while the ``number``-th song to start draws its frames."""
    from gpurender import pipeline

    real = pipeline.render_video.__wrapped__
    calls = []

    def render(scene, audio, output, settings, progress=None, **kw):
        calls.append(output)
        if len(calls) == number:
            inner = progress.callback

            def stop(event):
                if event.kind == "frames" and event.done == 3:
                    os.kill(os.getpid(), signal.SIGINT)
                if inner is not None:
                    inner(event)
            progress.callback = stop
        return real(scene, audio, output, settings, progress, **kw)

    monkeypatch.setattr(pipeline.render_video, "__wrapped__", render)


def test_ctrl_c_keeps_finished_songs_and_leaves_no_partial_file(tmp_path, small_scene, monkeypatch):
    songs = [write_song(tmp_path / f"s{i}.wav", seconds=1.0) for i in range(3)]
    _interrupt_song(monkeypatch, 2)
    out = tmp_path / "out"
    result = run("batch", small_scene, *songs, "-o", out, *SMALL, "--parallel", "1")
    assert result.exit_code == 130, result.output
    assert "interrupted: 1 finished song(s) kept" in result.output
    assert sorted(p for p in os.listdir(out) if not p.startswith(".")) == ["s0.mp4"]
    assert not partials(out)

    monkeypatch.undo()
    again = run("batch", small_scene, *songs, "-o", out, *SMALL)
    assert again.exit_code == 0 and "2 rendered, 1 skipped" in again.output, again.output


def test_ctrl_c_stops_every_worker_of_a_parallel_batch(tmp_path, small_scene):
    from gpurender.batch import render_batch

    songs = [write_song(tmp_path / f"s{i}.wav", seconds=2.0) for i in range(4)]
    out = tmp_path / "out"
    completed = []

    def interrupt(event):  # Ctrl-C while the second song's frames are shown
        if event.kind == "phase" and event.phase == "complete":
            completed.append(event)
        if completed and event.kind == "frames" and event.done == 3:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        render_batch(small_scene, songs, out, RenderSettings(width=64, height=48, fps=10), progress=interrupt,
                     parallel=2)
    kept = sorted(p for p in os.listdir(out) if not p.startswith("."))
    # which songs finished besides s0 depends on how the two workers were scheduled (s1 alongside
    # s0, s2 or s3 when a worker came free); the song whose frames were showing did not
    assert "s0.mp4" in kept and len(kept) < 4, kept
    for name in kept:  # whatever finished is whole and recorded
        assert frames_and_size(out / name) == (20, (64, 48)) and record_path(out / name).is_file()
    assert not partials(out)
    again = run("batch", small_scene, *songs, "-o", out, *SMALL, "--parallel", "2")
    assert again.exit_code == 0 and f"{4 - len(kept)} rendered, {len(kept)} skipped" in again.output, again.output


def test_a_worker_that_dies_fails_its_songs_and_the_batch_ends(tmp_path, small_scene):
    import multiprocessing

    from gpurender.batch import render_batch

    songs = [write_song(tmp_path / f"s{i}.wav", seconds=2.0) for i in range(3)]

    def kill_workers(event):
        if event.kind == "frames" and event.done == 2:
            for child in multiprocessing.active_children():
                os.kill(child.pid, signal.SIGKILL)

    result = render_batch(small_scene, songs, tmp_path / "out", RenderSettings(width=64, height=48, fps=10),
                          progress=kill_workers, parallel=2)
    failed = [o for o in result.outcomes if o.state == "failed"]
    assert failed and all("worker process" in o.message for o in failed), result.outcomes
    for o in result.outcomes:
        if o.state == "rendered":
            assert frames_and_size(o.output) == (20, (64, 48))
    assert not partials(tmp_path / "out")


def test_songs_in_parallel_make_the_same_files_as_one_by_one(tmp_path, small_scene, songs):
    # Lossless, compared decoded: libx264 with 2 threads makes other choices under CPU contention
    # (any render's, not only a batch's), so even lossless bytes may differ; the frames may not.
    one = run("batch", small_scene, *songs, "-o", tmp_path / "one", *SMALL, "--parallel", "1", "--lossless")
    three = run("batch", small_scene, *songs, "-o", tmp_path / "three", *SMALL, "--parallel", "3", "--lossless")
    assert not (set(os.listdir(tmp_path / "one")) ^ set(os.listdir(tmp_path / "three")))
    assert one.exit_code == three.exit_code == 1
    for name in ("a.mp4", "b.mp4"):
        assert_same_frames(decoded(tmp_path / "one" / name), decoded(tmp_path / "three" / name))
    lines = [line for line in three.output.splitlines() if line.startswith(("wrote", "failed", "batch"))]
    assert len(lines) == 4 and lines[-1].startswith("batch: 3 songs: 2 rendered")


def test_python_api_reports_each_song(tmp_path, small_scene, songs):
    from gpurender.batch import render_batch

    import threading

    for parallel in (1, 2):
        seen, events, threads = [], [], set()

        def callback(event):
            threads.add(threading.current_thread())
            events.append(event)

        result = render_batch(small_scene, songs, tmp_path / f"out{parallel}",
                              RenderSettings(width=64, height=48, fps=10), progress=callback,
                              on_outcome=seen.append, parallel=parallel)
        assert [o.state for o in result.outcomes] == ["rendered", "failed", "rendered"]
        assert sorted(seen, key=result.outcomes.index) == list(result.outcomes)
        assert "broken.wav" in result.summary()
        assert threads == {threading.current_thread()}  # callbacks on the caller's thread
        assert [e.message.split()[0] for e in events if e.kind == "info" and e.message.startswith("[")] \
            == ["[1/3]", "[2/3]", "[3/3]"]
        assert sum(1 for e in events if e.kind == "phase" and e.phase == "complete") == 2
        frames = [e.done for e in events if e.kind == "frames"]
        assert frames == list(range(1, 11)) * 2  # one song at a time, every frame, in order


def test_a_cancel_from_the_callback_stops_the_batch(tmp_path, small_scene, songs):
    from gpurender.batch import render_batch

    def cancel(event):
        if event.kind == "frames" and event.done == 5:
            raise RuntimeError("enough")

    with pytest.raises(RuntimeError, match="enough"):
        render_batch(small_scene, songs, tmp_path / "out", RenderSettings(width=64, height=48, fps=10),
                     progress=cancel)
    assert not partials(tmp_path / "out")
    assert not [p for p in os.listdir(tmp_path / "out") if p.endswith(".mp4")]
