"""gpurender against its peers, as a user runs each: FFmpeg's own visualizers and the matplotlib exporter.

Issue 14's "Peers in the benchmark suite". Three sections (``--only`` picks some):

* ``peers``: FFmpeg's ``showcqt`` and ``showwaves`` against the equivalent gpurender scenes, at
  1080p60 over the same 6-second song (``gpurender.audio.synth.demo_track``, written as a 16-bit
  WAV). Each contender is the whole command in a fresh process, timed from launch to exit::

      ffmpeg -y -i song.wav -filter_complex "[0:a]showcqt=s=1920x1080:r=60[v]" -map "[v]" -map 0:a \
          -c:v libx264 -preset veryfast -crf 23 -c:a aac out.mp4
      ffmpeg ... "[0:a]showwaves=s=1920x1080:r=60:mode=line[v]" ... (the same otherwise)
      gpurender render benchmarks/scenes/spectrum64.toml --audio song.wav -o out.mp4 --resolution 1080p \
          --fps 60 --quality medium
      gpurender render benchmarks/scenes/waveform.toml ... (the same otherwise)

  (``--quality medium`` is libx264 veryfast CRF 23 here, the same as FFmpeg's options.)
  ratio = FFmpeg seconds / gpurender seconds (> 1: gpurender is faster). showwaves' command as
  written does not make the same video: x264 gets its rgba frames and encodes them as High 4:4:4
  (twice the samples of gpurender's 4:2:0), and showwaves makes at most sample_rate / width frames a
  second (25 for 48 kHz at 1920 wide: 150 frames where gpurender makes 360). So each FFmpeg job is
  also run *like for like*: ``,format=yuv420p`` after showcqt (which x264 already gets as yuv420p,
  so the two showcqt rows are the same job), ``,fps=60,format=yuv420p`` after showwaves (frames
  repeated up to the rate), giving ``ratio_like_for_like``. Output facts (frames, pixel format,
  profile, size) are kept per contender. gpurender's start-up is measured apart, in an
  instrumented fresh process that renders the same job through the Python API
  (``render_video(..., progress=callback)``) and stamps the wall clock at import, at each phase and
  at the first and last ``frames`` event: time to first frame counts from the process launch.
  Without ``ffmpeg`` on PATH the FFmpeg rows are skipped, and the script says so
  (``apt-get install -y ffmpeg``).
* ``pointcloud``: the matplotlib + PNG + OpenCV exporter (``baseline_matplotlib.render_baseline``)
  at 722x756, the size issue 14 gives for it (``bbox_inches="tight"`` on a 12x9-inch figure), 96
  frames of 10,000 points (the animated sphere, 30 fps), against ``export_point_cloud_video`` at
  722x756. Both read the same frames from a ``.npy`` file. *cold*: each in a fresh ``python -c``
  process that imports its library, loads the frames and exports once, timed from launch to exit.
  *warm*: gpurender's export repeated in this process (second and later calls), against the
  baseline's own render time inside its process (after its imports and data loading; the baseline
  has no start-up worth keeping warm). ratio = baseline / gpurender (> 1: gpurender is faster).
* ``sweep``: ``export_point_cloud_video`` in this (warm) process at 720, 722, 724 and 728 x 480,
  10,000 points, 96 frames: frames per second each and the ratio to the first width (size cliffs).
  The first call at each size is reported apart (``first_call_s``).

Every measurement runs ``--repeats`` times (default 3) and the median is quoted; the contenders
take turns within each round, so a change of the machine's load falls on all of them. Fresh
processes also report their CPU time (user + system, from ``os.wait4``), which other load moves
less than wall time; the 1-minute load average at the start of each run is kept.

Usage::

    apt-get install -y ffmpeg; pip install opencv-python-headless   # the peers (optional)
    python benchmarks/bench_peers.py                       # everything: 23 min on 2 busy cores (load 7-14)
    python benchmarks/bench_peers.py --only peers          # or pointcloud, sweep; comma-separated
    python benchmarks/bench_peers.py --quick               # smoke run, under a minute: small sizes, 1 repeat

Prints a table per section and the targets, and writes ``benchmarks/results/peers-<machine>.json``
(``peers-<machine>-quick.json`` with ``--quick``; machine = adapter and CPU count, e.g.
``llvmpipe-2cpu``) naming the machine, CPU count, adapter, encoders, library and FFmpeg versions,
the git state of the package, load averages and the exact command. ``--quick`` figures are not
comparable with the targets (other sizes and lengths) and the JSON marks them so.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import (  # noqa: E402
    RESULTS, ROOT, command_line, describe_adapter, describe_machine, load_average, machine_slug, print_table,
    ratio, write_json,
)

SCENES = HERE / "scenes"
SECTIONS = ("peers", "pointcloud", "sweep")

# Issue 14's targets (2 CPU cores, software adapter; ratios within one run).
TARGETS = {
    "spectrum_1080p60_vs_showcqt": (">=", 1.0),
    "matplotlib_722x756_cold": (">=", 15.0),
    "matplotlib_722x756_warm": (">=", 40.0),
    "sweep_722_vs_720": (">=", 0.9),
}

FULL = dict(song_s=6.0, resolution="1080p", fps=60, pc_size=(722, 756), pc_frames=96, pc_points=10_000,
            pc_fps=30, sweep_widths=(720, 722, 724, 728), sweep_height=480, repeats=3)
QUICK = dict(song_s=1.0, resolution="640x360", fps=30, pc_size=(722, 756), pc_frames=8, pc_points=2_000,
             pc_fps=30, sweep_widths=(720, 722), sweep_height=480, repeats=1)


# -- fresh processes ------------------------------------------------------------------------------------


def run_process(argv: list[str], workdir: Path, timeout: float = 1800.0) -> dict:
    """Run ``argv`` as a fresh process; wall seconds from launch to exit, its CPU seconds (user +
    system, from ``os.wait4``), the load average at launch, and its stdout and stderr."""
    out_path, err_path = workdir / "child.out", workdir / "child.err"
    load = load_average()
    with open(out_path, "w") as out, open(err_path, "w") as err:
        launched = time.time()
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "argv": argv, "returncode": proc.returncode, "wall_s": round(wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "cores_busy": round((usage.ru_utime + usage.ru_stime) / wall, 2),
        "load_1min": load[0] if load else None, "launched": launched,
        "stdout": out_path.read_text(), "stderr": err_path.read_text(),
    }


def checked(run: dict, what: str) -> dict:
    if run["returncode"] != 0:
        raise SystemExit(f"{what} failed (exit {run['returncode']}):\n{run['stderr'][-3000:]}")
    return run


def child_report(run: dict) -> dict:
    """The JSON line an instrumented child printed last, its wall-clock stamps turned into seconds
    since the process was launched."""
    line = [ln for ln in run["stdout"].splitlines() if ln.startswith("{")][-1]
    report = json.loads(line)
    report["since_launch_s"] = {k: round(v - run["launched"], 3) for k, v in report.pop("stamps").items()}
    return report


def video_facts(path: Path) -> dict:
    """What the output holds, from its headers: size, frames, duration, audio (a sanity check that
    both contenders made the same video)."""
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        return {"width": v.codec_context.width, "height": v.codec_context.height, "frames": v.frames,
                "codec": v.codec_context.name, "pix_fmt": v.codec_context.pix_fmt, "profile": v.profile,
                "frame_rate": str(v.average_rate), "audio": bool(c.streams.audio),
                "duration_s": round(float(c.duration or 0) / 1e6, 3), "size_mb": round(path.stat().st_size / 1e6, 3)}


def summarize(runs: list[dict], key: str = "wall_s") -> dict:
    """Median (lower median for an even count) of ``key`` over runs, with every run's value."""
    values = [r[key] for r in runs]
    ordered = sorted(values)
    return {"median": ordered[(len(ordered) - 1) // 2], "runs": values, "min": ordered[0], "max": ordered[-1]}


def lean(run: dict) -> dict:
    """A run as kept in the JSON: no output text, no absolute time."""
    return {k: v for k, v in run.items() if k not in ("stdout", "stderr", "launched", "argv")}


# -- section (a): FFmpeg's visualizers --------------------------------------------------------------------


# Renders a scene through the Python API, as the CLI does, stamping the wall clock at each phase and
# at the first and last frame; the parent turns the stamps into seconds since launch.
_RENDER_CHILD = r"""
import json, sys, time
stamps = {"script": time.time()}
import gpurender
from gpurender.settings import RenderSettings, parse_resolution
stamps["imported"] = time.time()
scene, song, out, resolution, fps = sys.argv[1:6]
frames = 0
def on_event(ev):
    global frames
    now = time.time()
    if ev.kind == "phase":
        stamps.setdefault("phase_" + ev.phase, now)
    elif ev.kind == "frames" and ev.phase == "rendering" and ev.done:
        stamps.setdefault("first_frame", now)
        stamps["last_frame"] = now
        frames = ev.done
w, h = parse_resolution(resolution)
result = gpurender.render_video(scene, song, out, RenderSettings(width=w, height=h, fps=int(fps), quality="medium"),
                                progress=on_event)
stamps["returned"] = time.time()
print(json.dumps({"stamps": stamps, "frames": result.frames, "encoder": result.encoder,
                  "encoder_notice": result.encoder_notice, "adapter": result.adapter}))
"""


def gpurender_cli() -> list[str]:
    exe = shutil.which("gpurender")
    return [exe] if exe else [sys.executable, "-m", "gpurender"]


def ffmpeg_version(ffmpeg: str) -> str:
    out = subprocess.run([ffmpeg, "-hide_banner", "-version"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "unknown"


def section_peers(cfg: dict, tmp: Path, repeats: int) -> dict:
    import soundfile

    from gpurender.audio.synth import demo_track

    song = tmp / "song.wav"
    track = demo_track(cfg["song_s"], 48000, seed=0)
    soundfile.write(str(song), track.samples, track.sample_rate, subtype="PCM_16")
    from gpurender.settings import parse_resolution

    width, height = parse_resolution(cfg["resolution"])
    fps = cfg["fps"]
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        print("\nffmpeg is not on PATH: the showcqt and showwaves rows are skipped "
              "(apt-get install -y ffmpeg, or your system's package, to measure them)\n", flush=True)
    x264 = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-c:a", "aac"]
    # The commands, and the same made like for like with gpurender's video: left alone, x264
    # encodes showwaves' rgba frames as High 4:4:4 (twice the samples of gpurender's 4:2:0), and
    # showwaves makes sample_rate / width frames a second at most (25 at 1920 wide, whatever r=
    # asks), so the like-for-like variant converts to yuv420p and repeats frames up to the rate.
    pairs = [("spectrum", "showcqt", f"[0:a]showcqt=s={width}x{height}:r={fps}[v]",
              f"[0:a]showcqt=s={width}x{height}:r={fps},format=yuv420p[v]", SCENES / "spectrum64.toml"),
             ("waveform", "showwaves", f"[0:a]showwaves=s={width}x{height}:r={fps}:mode=line[v]",
              f"[0:a]showwaves=s={width}x{height}:r={fps}:mode=line,fps={fps},format=yuv420p[v]",
              SCENES / "waveform.toml")]
    contenders = []  # (name, kind, argv or None, output)
    for job, peer, graph, like_graph, scene in pairs:
        if ffmpeg:
            for suffix, g in (("", graph), (" (like for like)", like_graph)):
                out = tmp / f"ffmpeg-{peer}{'-like' if suffix else ''}.mp4"
                contenders.append((f"ffmpeg {peer}{suffix}", job, "ffmpeg",
                                   [ffmpeg, "-y", "-i", str(song), "-filter_complex", g, "-map", "[v]", "-map", "0:a",
                                    *x264, str(out)], out))
        out = tmp / f"gpurender-{job}.mp4"
        contenders.append((f"gpurender {scene.name}", job, "gpurender",
                           [*gpurender_cli(), "render", str(scene), "--audio", str(song), "-o", str(out),
                            "--resolution", cfg["resolution"], "--fps", str(fps), "--quality", "medium"],
                           out))
        out = tmp / f"api-{job}.mp4"
        contenders.append((f"gpurender {scene.name} (API, instrumented)", job, "startup",
                           [sys.executable, "-c", _RENDER_CHILD, str(scene), str(song), str(out), cfg["resolution"],
                            str(fps)], out))

    runs: dict[str, list[dict]] = {name: [] for name, *_ in contenders}
    facts: dict[str, dict] = {}
    kept: dict[str, Path] = {}  # one gpurender output per job, for the encoder floor
    for r in range(repeats):
        for name, job, kind, argv, out in contenders:
            run = checked(run_process(argv, tmp), name)
            if kind == "startup":
                run["report"] = child_report(run)
            runs[name].append(run)
            facts.setdefault(name, video_facts(out))
            if kind == "gpurender" and job not in kept:
                kept[job] = out.rename(tmp / f"kept-{job}.mp4")
                continue
            out.unlink()
            print(f"  round {r + 1}/{repeats}: {name}: {run['wall_s']:.2f} s wall, {run['cpu_s']:.2f} s CPU "
                  f"(load {run['load_1min']})", flush=True)

    results = {}
    for name, job, kind, argv, out in contenders:
        command = " ".join(argv) if kind != "startup" else "python -c <_RENDER_CHILD> ..."
        entry = {"job": job, "kind": kind, "command": command,
                 "wall_s": summarize(runs[name]), "cpu_s": summarize(runs[name], "cpu_s"), "output": facts[name],
                 "runs": [lean(r) for r in runs[name]]}
        if kind == "startup":
            reports = [r["report"] for r in runs[name]]
            for key in ("imported", "phase_analysing", "phase_rendering", "first_frame", "last_frame", "returned"):
                vals = sorted(rep["since_launch_s"].get(key) for rep in reports if key in rep["since_launch_s"])
                if vals:
                    entry.setdefault("since_launch_s", {})[key] = vals[(len(vals) - 1) // 2]
            entry["reports"] = reports
            entry["encoder"] = reports[0]["encoder"]
            entry["encoder_notice"] = reports[0]["encoder_notice"]
            ttff = sorted(rep["since_launch_s"]["first_frame"] for rep in reports)
            entry["time_to_first_frame_s"] = ttff[(len(ttff) - 1) // 2]
            frame_s = sorted((rep["since_launch_s"]["last_frame"] - rep["since_launch_s"]["first_frame"])
                             / max(rep["frames"] - 1, 1) for rep in reports)
            entry["steady_fps"] = round(1.0 / frame_s[(len(frame_s) - 1) // 2], 2)
        results[name] = entry

    floors = {}
    for job, path in kept.items():
        floors[job] = encoder_floor(path, {"preset": "veryfast", "crf": "23"}, repeats)
        print(f"  encoder alone on the {job} job's frames: {floors[job]['wall_s']['median']:.2f} s wall, "
              f"{floors[job]['cpu_s']['median']:.2f} s CPU", flush=True)
        path.unlink()

    comparisons = []
    for job, peer, graph, like_graph, scene in pairs:
        ours = results[f"gpurender {scene.name}"]
        api = results[f"gpurender {scene.name} (API, instrumented)"]
        theirs = results.get(f"ffmpeg {peer}")
        like = results.get(f"ffmpeg {peer} (like for like)")
        comparisons.append({
            "job": job, "peer": f"ffmpeg {peer}" if theirs else None, "gpurender": f"gpurender {scene.name}",
            "peer_wall_s": theirs["wall_s"]["median"] if theirs else None,
            "gpurender_wall_s": ours["wall_s"]["median"],
            "ratio": ratio(theirs["wall_s"]["median"], ours["wall_s"]["median"]) if theirs else None,
            "peer_cpu_s": theirs["cpu_s"]["median"] if theirs else None,
            "gpurender_cpu_s": ours["cpu_s"]["median"],
            "cpu_ratio": ratio(theirs["cpu_s"]["median"], ours["cpu_s"]["median"]) if theirs else None,
            "gpurender_time_to_first_frame_s": api["time_to_first_frame_s"],
            "gpurender_steady_fps": api["steady_fps"],
            # showwaves draws one sample per column at most, so its frame rate is capped at
            # sample_rate / width (25 fps for 48 kHz at 1920 wide, whatever r= asks): the frame
            # counts say whether both made the same video
            "peer_frames": theirs["output"]["frames"] if theirs else None,
            "peer_pix_fmt": theirs["output"]["pix_fmt"] if theirs else None,
            "gpurender_frames": ours["output"]["frames"],
            "gpurender_pix_fmt": ours["output"]["pix_fmt"],
            "peer_like_wall_s": like["wall_s"]["median"] if like else None,
            "peer_like_cpu_s": like["cpu_s"]["median"] if like else None,
            "peer_like_frames": like["output"]["frames"] if like else None,
            "ratio_like_for_like": ratio(like["wall_s"]["median"], ours["wall_s"]["median"]) if like else None,
            # libx264 alone at the job's settings on its frames: the ratio no renderer could beat here
            "encoder_alone_wall_s": floors[job]["wall_s"]["median"],
            "encoder_alone_cpu_s": floors[job]["cpu_s"]["median"],
            "best_possible_ratio": (ratio(theirs["wall_s"]["median"], floors[job]["wall_s"]["median"])
                                    if theirs else None),
        })
    return {"song": {"seconds": cfg["song_s"], "sample_rate": 48000, "format": "WAV PCM_16 stereo",
                     "generator": "gpurender.audio.synth.demo_track(seed=0)"},
            "resolution": [width, height], "fps": fps, "ffmpeg": ffmpeg_version(ffmpeg) if ffmpeg else None,
            "ffmpeg_skipped": None if ffmpeg else "ffmpeg not on PATH", "contenders": results,
            "encoder_alone": floors, "comparisons": comparisons}


def encoder_floor(video: Path, options: dict, repeats: int) -> dict:
    """libx264 alone on a job's frames: ``video`` (gpurender's output of the job) decoded to I420 in
    memory, then encoded again with ``options`` (the job's preset and CRF, x264's own thread count),
    timed from the first frame in to the last packet out. The least any renderer feeding this encoder
    at these settings can take on this machine, whatever it renders with."""
    import av

    with av.open(str(video)) as src:
        stream = src.streams.video[0]
        rate = stream.average_rate
        planes = [f.to_ndarray(format="yuv420p") for f in src.decode(stream)]
    height, width = planes[0].shape[0] * 2 // 3, planes[0].shape[1]
    runs = []
    for _ in range(repeats):
        with av.open(os.devnull, "w", format="mp4") as out:
            enc = out.add_stream("libx264", rate=rate)
            enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
            enc.options = dict(options)
            frames = [av.VideoFrame.from_ndarray(p, format="yuv420p") for p in planes]
            load = load_average()
            t0, c0 = time.perf_counter(), time.process_time()
            for frame in frames:
                for packet in enc.encode(frame):
                    out.mux(packet)
            for packet in enc.encode():
                out.mux(packet)
            runs.append({"wall_s": round(time.perf_counter() - t0, 3), "cpu_s": round(time.process_time() - c0, 3),
                         "load_1min": load[0] if load else None})
    return {"frames": len(planes), "size": [width, height], "options": dict(options), "encoder": "libx264",
            "source": "gpurender's output of the job, decoded", "wall_s": summarize(runs),
            "cpu_s": summarize(runs, "cpu_s"), "runs": runs}


def print_peers(sec: dict) -> None:
    w, h = sec["resolution"]
    print(f"\n(a) FFmpeg visualizers vs gpurender, {w}x{h} at {sec['fps']} fps, {sec['song']['seconds']:g} s song; "
          f"whole command in a fresh process, median wall seconds\n")
    rows = []
    for c in sec["comparisons"]:
        frames = f"{c['peer_frames']}/{c['gpurender_frames']}" if c["peer"] else f"-/{c['gpurender_frames']}"
        rows.append([c["job"], c["peer"] or "(skipped: no ffmpeg)", frames, c["peer_wall_s"], c["gpurender_wall_s"],
                     c["ratio"], c.get("ratio_like_for_like"), c["peer_cpu_s"], c["gpurender_cpu_s"], c["cpu_ratio"],
                     c["gpurender_time_to_first_frame_s"], c["gpurender_steady_fps"], c.get("encoder_alone_wall_s"),
                     c.get("best_possible_ratio")])
    print_table(["job", "peer", "frames peer/ours", "peer s", "gpurender s", "ratio peer/ours", "like-for-like ratio",
                 "peer CPU s", "ours CPU s", "CPU ratio", "ours to 1st frame s", "ours steady fps",
                 "x264 alone s", "ratio if rendering were free"], rows)


# -- section (b): the matplotlib exporter ----------------------------------------------------------------


_EXPORT_CHILD = r"""
import json, sys, time
stamps = {"script": time.time()}
import numpy as np
import gpurender
stamps["imported"] = time.time()
data, out, w, h, fps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
frames = [{"points": p} for p in np.load(data)]
stamps["loaded"] = time.time()
def on_event(ev):
    now = time.time()
    if ev.kind == "phase":
        stamps.setdefault("phase_" + ev.phase, now)
    elif ev.kind == "frames" and ev.phase == "rendering" and ev.done:
        stamps.setdefault("first_frame", now)
        stamps["last_frame"] = now
result = gpurender.export_point_cloud_video(frames, out, fps, resolution=(w, h), progress=on_event)
stamps["returned"] = time.time()
print(json.dumps({"stamps": stamps, "frames": result.frames, "encoder": result.encoder}))
"""

_STARTUP_CHILD = r"""
import gpurender
from gpurender.pointcloud.export import export_point_cloud_video
from gpurender.render.device import get_device
get_device()
"""

_BASELINE_CHILD = r"""
import json, sys, time
stamps = {"script": time.time()}
import numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot
try:
    import cv2
except ImportError:
    pass
sys.path.insert(0, sys.argv[6])
from baseline_matplotlib import render_baseline
stamps["imported"] = time.time()
data, out, w, h, fps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
pts = np.load(data)
frames = [{"points": p} for p in pts]
flat = pts.reshape(-1, 3)
bounds = (flat.min(axis=0), flat.max(axis=0))
stamps["loaded"] = time.time()
result = render_baseline(frames, out, w, h, fps, bounds=bounds)
stamps["returned"] = time.time()
print(json.dumps({"stamps": stamps, "frames": result["frames"], "render_s": result["seconds"],
                  "writer": result["writer"]}))
"""


def sequence_array(frames: int, points: int) -> np.ndarray:
    from gpurender.pointcloud import example_sequence

    return np.stack([np.asarray(f["points"] if isinstance(f, dict) else f, dtype=np.float32)
                     for f in example_sequence("sphere", frames, points)])


def baseline_versions() -> dict:
    """matplotlib's and OpenCV's versions (the baseline's speed depends on both)."""
    out = {}
    for name, module in (("matplotlib", "matplotlib"), ("opencv", "cv2")):
        try:
            out[name] = __import__(module).__version__
        except ImportError:
            out[name] = None
    return out


def warm_export(frames: list[dict], out: Path, fps: int, size: tuple[int, int]) -> dict:
    """One export in this process: wall and CPU seconds, frames per second, time to the first frame."""
    import gpurender

    first = []

    def on_event(ev):
        if ev.kind == "frames" and ev.phase == "rendering" and ev.done and not first:
            first.append(time.perf_counter())

    load = load_average()
    t0, c0 = time.perf_counter(), time.process_time()
    result = gpurender.export_point_cloud_video(frames, out, fps, resolution=size, progress=on_event)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "fps": round(result.frames / wall, 2),
            "frames": result.frames, "time_to_first_frame_s": round(first[0] - t0, 3) if first else None,
            "load_1min": load[0] if load else None, "encoder": result.encoder, "width": result.width,
            "height": result.height}


def section_pointcloud(cfg: dict, tmp: Path, repeats: int) -> dict:
    w, h = cfg["pc_size"]
    fps, n_frames, n_points = cfg["pc_fps"], cfg["pc_frames"], cfg["pc_points"]
    data = tmp / "sequence.npy"
    arr = sequence_array(n_frames, n_points)
    np.save(data, arr)
    frames = [{"points": p} for p in arr]
    cold_argv = [sys.executable, "-c", _EXPORT_CHILD, str(data), str(tmp / "cold.mp4"), str(w), str(h), str(fps)]
    base_argv = [sys.executable, "-c", _BASELINE_CHILD, str(data), str(tmp / "baseline.mp4"), str(w), str(h), str(fps),
                 str(HERE)]

    # The first export in this process pays for the device and pipelines; it is kept apart.
    first_call = warm_export(frames, tmp / "warm.mp4", fps, (w, h))
    print(f"  first export in this process: {first_call['wall_s']:.2f} s", flush=True)
    cold, base, warm = [], [], []
    facts = {}
    for r in range(repeats):
        run = checked(run_process(base_argv, tmp), "matplotlib baseline")
        run["report"] = child_report(run)
        base.append(run)
        facts.setdefault("baseline", video_facts(tmp / "baseline.mp4"))
        print(f"  round {r + 1}/{repeats}: baseline process {run['wall_s']:.2f} s (render "
              f"{run['report']['render_s']:.2f} s; load {run['load_1min']})", flush=True)
        run = checked(run_process(cold_argv, tmp), "gpurender cold export")
        run["report"] = child_report(run)
        cold.append(run)
        facts.setdefault("gpurender", video_facts(tmp / "cold.mp4"))
        print(f"  round {r + 1}/{repeats}: gpurender cold process {run['wall_s']:.2f} s "
              f"(first frame at {run['report']['since_launch_s']['first_frame']:.2f} s; load {run['load_1min']})",
              flush=True)
        for _ in range(2):
            warm.append(warm_export(frames, tmp / "warm.mp4", fps, (w, h)))
        print(f"  round {r + 1}/{repeats}: gpurender warm exports {warm[-2]['wall_s']:.2f}, {warm[-1]['wall_s']:.2f} s",
              flush=True)

    floor = encoder_floor(tmp / "cold.mp4", {"preset": "veryfast", "crf": "18"}, repeats)
    print(f"  encoder alone on the export's frames: {floor['wall_s']['median']:.2f} s wall, "
          f"{floor['cpu_s']['median']:.2f} s CPU", flush=True)
    startup = [checked(run_process([sys.executable, "-c", _STARTUP_CHILD], tmp), "start-up floor")
               for _ in range(repeats)]
    print(f"  a fresh process that imports gpurender and makes its device: "
          f"{summarize(startup)['median']:.2f} s", flush=True)
    for run in base:
        run["render_s"] = round(run["report"]["render_s"], 3)
    for run in cold:
        run["time_to_first_frame_s"] = run["report"]["since_launch_s"]["first_frame"]
    base_cold, base_warm = summarize(base), summarize(base, "render_s")
    ours_cold, ours_warm = summarize(cold), summarize(warm)
    return {
        "size": [w, h], "frames": n_frames, "points": n_points, "fps": fps,
        "frames_source": "gpurender.pointcloud.example_sequence('sphere', seed=0), saved as .npy and loaded by both",
        "baseline_writer": base[0]["report"]["writer"],
        "baseline_versions": baseline_versions(),
        "gpurender_encoder": first_call["encoder"],
        "outputs": facts,
        "baseline_cold_s": base_cold, "baseline_render_s": base_warm,
        "baseline_cpu_s": summarize(base, "cpu_s"),
        "gpurender_cold_s": ours_cold, "gpurender_cold_cpu_s": summarize(cold, "cpu_s"),
        "gpurender_cold_time_to_first_frame_s": summarize(cold, "time_to_first_frame_s"),
        "gpurender_warm_s": ours_warm, "gpurender_warm_cpu_s": summarize(warm, "cpu_s"),
        "gpurender_warm_time_to_first_frame_s": summarize(warm, "time_to_first_frame_s"),
        "gpurender_first_call_in_process": first_call,
        "ratio_cold": ratio(base_cold["median"], ours_cold["median"], 2),
        "ratio_warm": ratio(base_warm["median"], ours_warm["median"], 2),
        # What no renderer could go under here: libx264 alone on the export's frames (quality high:
        # veryfast CRF 18), and a fresh process that only imports gpurender and makes its device.
        "encoder_alone": floor,
        "startup_floor_s": summarize(startup),
        "best_possible_ratio_warm": ratio(base_warm["median"], floor["wall_s"]["median"], 2),
        "best_possible_ratio_cold": ratio(base_cold["median"],
                                          summarize(startup)["median"] + floor["wall_s"]["median"], 2),
        "cpu_ratio_cold": ratio(summarize(base, "cpu_s")["median"], summarize(cold, "cpu_s")["median"], 2),
        "runs": {"baseline": [lean(r) for r in base], "gpurender_cold": [lean(r) for r in cold],
                 "gpurender_warm": warm},
    }


def print_pointcloud(sec: dict) -> None:
    w, h = sec["size"]
    print(f"\n(b) matplotlib exporter vs export_point_cloud_video, {w}x{h}, {sec['frames']} frames of "
          f"{sec['points']} points; baseline writer {sec['baseline_writer']}, ours {sec['gpurender_encoder']}\n")
    rows = [
        ["cold: whole fresh process", sec["baseline_cold_s"]["median"], sec["gpurender_cold_s"]["median"],
         sec["ratio_cold"], sec["gpurender_cold_time_to_first_frame_s"]["median"]],
        ["warm: export call alone", sec["baseline_render_s"]["median"], sec["gpurender_warm_s"]["median"],
         sec["ratio_warm"], sec["gpurender_warm_time_to_first_frame_s"]["median"]],
    ]
    print_table(["measurement", "baseline s", "gpurender s", "ratio baseline/ours", "ours to 1st frame s"], rows)
    if "encoder_alone" in sec:
        print(f"\nfloors: libx264 alone on the export's frames {sec['encoder_alone']['wall_s']['median']:.3f} s "
              f"(so at best {sec['best_possible_ratio_warm']}x warm); a process that imports gpurender and makes "
              f"its device {sec['startup_floor_s']['median']:.3f} s (with the encoder: at best "
              f"{sec['best_possible_ratio_cold']}x cold)")


# -- section (c): size sweep ------------------------------------------------------------------------------


def section_sweep(cfg: dict, tmp: Path, repeats: int) -> dict:
    widths, h = cfg["sweep_widths"], cfg["sweep_height"]
    arr = sequence_array(cfg["pc_frames"], cfg["pc_points"])
    frames = [{"points": p} for p in arr]
    first = {wd: warm_export(frames, tmp / "sweep.mp4", cfg["pc_fps"], (wd, h)) for wd in widths}
    runs: dict[int, list[dict]] = {wd: [] for wd in widths}
    for r in range(repeats):
        for wd in widths:
            runs[wd].append(warm_export(frames, tmp / "sweep.mp4", cfg["pc_fps"], (wd, h)))
        print(f"  round {r + 1}/{repeats}: " + ", ".join(f"{wd}: {runs[wd][-1]['fps']:.1f} fps" for wd in widths),
              flush=True)
    results = []
    for wd in widths:
        s = summarize(runs[wd])
        mid = next(x for x in runs[wd] if x["wall_s"] == s["median"])
        results.append({"width": wd, "height": h, "fps": mid["fps"], "wall_s": s, "cpu_s": summarize(runs[wd], "cpu_s"),
                        "first_call_s": first[wd]["wall_s"], "runs": runs[wd]})
    for item in results:
        item["ratio_to_first"] = ratio(item["fps"], results[0]["fps"], 3)
    return {"height": h, "frames": cfg["pc_frames"], "points": cfg["pc_points"], "fps_video": cfg["pc_fps"],
            "sizes": results}


def print_sweep(sec: dict) -> None:
    print(f"\n(c) export_point_cloud_video size sweep, {sec['points']} points, {sec['frames']} frames, warm process\n")
    base = sec["sizes"][0]["width"]
    print_table(["size", "fps (median)", f"ratio to {base}", "CPU s", "first call s"],
                [[f"{s['width']}x{s['height']}", s["fps"], s["ratio_to_first"], s["cpu_s"]["median"], s["first_call_s"]]
                 for s in sec["sizes"]])


# -- the whole run ----------------------------------------------------------------------------------------


def git_state() -> dict:
    """The commit measured and whether the package's files differed from it (others' work in progress)."""
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    # porcelain lines are "XY path": the status columns may be blank, so the output is not stripped
    changed = [ln[3:] for ln in git("status", "--porcelain", "--", "gpurender", "shaders").splitlines() if ln.strip()]
    import gpurender

    state = {"commit": git("rev-parse", "HEAD").strip(), "checkout": str(ROOT),
             "package_imported_from": str(Path(gpurender.__file__).resolve().parent), "package_files_changed": changed}
    if changed:
        import hashlib

        diff = git("diff", "HEAD", "--", "gpurender", "shaders")
        state["package_diff_sha1"] = hashlib.sha1(diff.encode()).hexdigest()
    return state


def targets_met(data: dict, quick: bool) -> list[dict]:
    found = {}
    peers = data.get("peers")
    if peers:
        spec = next(c for c in peers["comparisons"] if c["job"] == "spectrum")
        found["spectrum_1080p60_vs_showcqt"] = spec["ratio"]
    pc = data.get("pointcloud")
    if pc:
        found["matplotlib_722x756_cold"] = pc["ratio_cold"]
        found["matplotlib_722x756_warm"] = pc["ratio_warm"]
    sw = data.get("sweep")
    if sw:
        found["sweep_722_vs_720"] = next((s["ratio_to_first"] for s in sw["sizes"] if s["width"] == 722), None)
    out = []
    for name, measured in found.items():
        op, wanted = TARGETS[name]
        met = None if (quick or measured is None) else bool(measured >= wanted)
        out.append({"target": name, "wanted": f"{op} {wanted}", "measured": measured, "met": met})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections: peers, pointcloud, sweep")
    ap.add_argument("--quick", action="store_true", help="smoke run: short song, small sizes, one repeat")
    ap.add_argument("--repeats", type=int, default=None, help="runs of each measurement (median); default 3, quick 1")
    ap.add_argument("--machine", default=None, help="the machine part of the results file name")
    ap.add_argument("--out", default=None, help="write the JSON here instead")
    args = ap.parse_args()
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        ap.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    cfg = QUICK if args.quick else FULL
    repeats = max(1, args.repeats or cfg["repeats"])

    adapter = describe_adapter()
    started = time.perf_counter()
    data = {
        "benchmark": "peers",
        "description": "issue 14: gpurender vs FFmpeg showcqt/showwaves, vs the matplotlib exporter, and a size sweep",
        "command": command_line(),
        "quick": args.quick,
        "machine": describe_machine(),
        "adapter": adapter,
        "git": git_state(),
        "repeats": repeats,
        "load_average": {"before": load_average()},
        "targets": {k: f"{op} {v}" for k, (op, v) in TARGETS.items()},
    }
    slug = args.machine or machine_slug(adapter["name"], adapter["software"])
    default = RESULTS / f"peers-{slug}{'-quick' if args.quick else ''}.json"
    out_path = Path(args.out) if args.out else default
    tmp = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    try:
        for name in sections:
            print(f"\n== {name} ==", flush=True)
            t0 = time.perf_counter()
            load0 = load_average()
            run_section = {"peers": section_peers, "pointcloud": section_pointcloud, "sweep": section_sweep}[name]
            sec = run_section(cfg, tmp, repeats)
            sec["section_seconds"] = round(time.perf_counter() - t0, 1)
            sec["load_average"] = {"before": load0, "after": load_average()}
            data[name] = sec
            if name != sections[-1]:
                # a long run that fails later (the machine is shared, the package may be mid-edit)
                # keeps the sections it finished, marked incomplete
                write_json(out_path, {**data, "incomplete": f"stopped after {name}; sections asked: {sections}"})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    data["load_average"]["after"] = load_average()
    data["seconds"] = round(time.perf_counter() - started, 1)
    data["results_targets"] = targets_met(data, args.quick)

    print(f"\nadapter {adapter['summary']}; {os.cpu_count()} CPUs; "
          f"load average before {data['load_average']['before']}, after {data['load_average']['after']}")
    if "peers" in data:
        print_peers(data["peers"])
    if "pointcloud" in data:
        print_pointcloud(data["pointcloud"])
    if "sweep" in data:
        print_sweep(data["sweep"])
    print("\nissue 14 targets" + (" (quick run: other sizes, not judged)" if args.quick else "") + "\n")
    print_table(["target", "wanted", "measured", "met"],
                [[t["target"], t["wanted"], t["measured"], "-" if t["met"] is None else str(t["met"])]
                 for t in data["results_targets"]])
    path = write_json(out_path, data)
    print(f"\nwrote {path} ({data['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
