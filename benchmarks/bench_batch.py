"""Benchmark of batch renders: one ``gpurender batch`` against a ``gpurender render`` per song.

Writes ``--songs`` distinct synthesized songs (the built-in demo track with a different seed each,
``--seconds`` long) and renders them with ``examples/torus_spectrum.toml`` in two ways, each a
fresh process as a user would start it:

* ``separate``  one ``gpurender render SCENE --audio SONG -o OUT`` per song, one after the other
                (a shell loop): every song pays the interpreter, the imports, the wgpu device and
                the shader compilation again;
* ``batch``     one ``gpurender batch SCENE SONG... -o OUTDIR`` into a new folder (nothing to
                skip): one process, one device, shaders compiled once, songs one after another;
* ``batch-parallel-N``  the same with ``--parallel N`` (``--parallel``, default 2): N worker
                processes, each with its own device, render the songs side by side.

After one untimed warm-up of each (so Mesa's on-disk shader cache and the page cache are warm for
both), ``--repeats`` rounds run each case once, in turn, so load from elsewhere on a shared machine
touches all alike. The figure is ``separate / batch`` of the median wall times; the median of
the per-round ratios is reported too (steadier when the machine's load drifts), and so is the
ratio of the CPU time (user + system, every thread) the processes used, which a busy shared
machine disturbs far less than wall time.

A profile (``--no-profile`` to skip) then runs one child process that times what a separate
render pays before its first frame and what a second song in the same process pays: imports,
device creation, building a renderer (WGSL to shader modules and pipelines) and its first frame,
for the first and the second renderer, against a steady frame.

Usage::

    python benchmarks/bench_batch.py                                # 4 songs of 6 s, 640x360, 30 fps, 3 rounds
    python benchmarks/bench_batch.py --resolution 720p --repeats 5
    python benchmarks/bench_batch.py --songs 8 --seconds 4 --no-profile --parallel 1

Writes ``benchmarks/results/batch-<machine>.json`` (machine = adapter and CPU count, or
``--machine``) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (RESULTS, ROOT, command_line, describe_adapter, describe_encoder,  # noqa: E402
                    describe_machine, load_average, machine_slug, print_table, ratio, write_json)

SCENE = ROOT / "examples" / "torus_spectrum.toml"

# Run in a fresh child: what one process pays before its first frame, and what a second renderer
# of the same scene pays in that process (the batch's case).
_PROFILE = r"""
import json, sys, time
t0 = time.perf_counter()
import gpurender.cli, gpurender.pipeline, gpurender.encode.writer, wgpu, av
t_import = time.perf_counter() - t0
from gpurender.render.device import get_device
from gpurender.pipeline import SceneRecipe, analyse, audio_of, scene_of
from gpurender.progress import Progress
from gpurender.settings import RenderSettings
scene_path, song = sys.argv[1], sys.argv[2]
width, height, fps = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
t = time.perf_counter()
get_device()
t_device = time.perf_counter() - t
settings = RenderSettings(width=width, height=height, fps=fps)
scene, audio = scene_of(scene_path), audio_of(song)
def timed(fn):
    t = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t
features, t_analysis = timed(lambda: analyse(audio, settings, Progress(quiet=True), scene))
out = {"import_s": t_import, "device_s": t_device, "analysis_first_s": t_analysis}
for k in (1, 2):
    source, out[f"build{k}_s"] = timed(lambda: SceneRecipe(scene, features, width, height, fps).build())
    _, out[f"first_frame{k}_s"] = timed(lambda: list(source.frames(0, 1)))
    _, seconds = timed(lambda: list(source.frames(1, 20)))
    out[f"frame{k}_s"] = seconds / 20
    del source
_, out["analysis_again_s"] = timed(lambda: analyse(audio, settings, Progress(quiet=True), scene))
print(json.dumps(out))
"""


def _gpurender() -> list[str]:
    """How a user starts gpurender: the installed script, else ``python -m gpurender``."""
    script = shutil.which("gpurender")
    return [script] if script else [sys.executable, "-m", "gpurender"]


def _write_songs(folder: Path, count: int, seconds: float) -> list[Path]:
    import soundfile as sf

    from gpurender.audio import demo_track

    songs = []
    for i in range(count):
        track = demo_track(duration=seconds, seed=i + 1)
        path = folder / f"song{i + 1}.wav"
        sf.write(path, track.samples, track.sample_rate)
        songs.append(path)
    return songs


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(args: list[str]) -> tuple[float, float]:
    """Run one command; its wall time and the CPU time (user + system, all threads) it used."""
    t0, c0 = time.perf_counter(), _children_cpu()
    proc = subprocess.run(args, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return seconds, cpu


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--songs", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=6.0, help="length of each song")
    ap.add_argument("--resolution", default="640x360")
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3, help="timed rounds (after one warm-up of each case)")
    ap.add_argument("--parallel", type=int, default=2, help="also time 'batch --parallel N' (1: skip that case)")
    ap.add_argument("--no-profile", action="store_true", help="skip the start-up profile")
    ap.add_argument("--machine", default=None, help="name used in the results file")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/batch-<machine>.json)")
    args = ap.parse_args(argv)

    from gpurender.encode import EncodeSettings, choose_encoder
    from gpurender.settings import parse_resolution

    width, height = parse_resolution(args.resolution)
    adapter = describe_adapter()
    machine = args.machine or machine_slug(adapter["name"], adapter["software"])
    encoder = describe_encoder(choose_encoder(EncodeSettings(width=width, height=height, fps=args.fps, format="mp4")))
    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    frames = round(args.seconds * args.fps)
    print(f"adapter: {adapter['summary']}   machine: {machine}   encoder: {encoder['name']}   "
          f"{args.songs} songs x {frames} frames at {width}x{height}, {args.fps} fps", flush=True)
    gpurender = _gpurender()
    common = ["--resolution", f"{width}x{height}", "--fps", str(args.fps), "--quiet"]
    try:
        songs = _write_songs(work, args.songs, args.seconds)
        counter = [0]

        def separate() -> tuple[float, float]:
            counter[0] += 1
            wall = cpu = 0.0
            for song in songs:
                out = work / f"sep{counter[0]}-{song.stem}.mp4"
                w, c = _run([*gpurender, "render", str(SCENE), "--audio", str(song), "-o", str(out), *common])
                wall, cpu = wall + w, cpu + c
            return wall, cpu

        def batch(parallel: int):
            def run() -> tuple[float, float]:
                counter[0] += 1
                return _run([*gpurender, "batch", str(SCENE), *map(str, songs), "-o",
                             str(work / f"batch{counter[0]}"), "--parallel", str(parallel), *common])
            return run

        cases = {"separate": separate, "batch": batch(1)}
        if args.parallel > 1:
            cases[f"batch-parallel-{args.parallel}"] = batch(args.parallel)
        times: dict[str, list[float]] = {name: [] for name in cases}
        cpu: dict[str, list[float]] = {name: [] for name in cases}
        loads = []
        for fn in cases.values():  # warm-up
            fn()
        for r in range(args.repeats):
            for name, fn in cases.items():
                wall, used = fn()
                times[name].append(round(wall, 3))
                cpu[name].append(round(used, 3))
            loads.append(load_average())
            print(f"round {r + 1}: " + ", ".join(f"{name} {times[name][-1]:.1f} s ({cpu[name][-1]:.1f} s CPU)"
                                                 for name in cases) + f", load {loads[-1]}", flush=True)
        med = {name: statistics.median(v) for name, v in times.items()}
        med_cpu = {name: statistics.median(v) for name, v in cpu.items()}
        batches = [name for name in cases if name != "separate"]
        paired = {name: [s / b for s, b in zip(times["separate"], times[name])] for name in batches}
        speedup = {name: ratio(med["separate"], med[name]) for name in batches}
        cpu_speedup = {name: ratio(med_cpu["separate"], med_cpu[name]) for name in batches}
        profile = None
        if not args.no_profile:
            proc = subprocess.run([sys.executable, "-c", _PROFILE, str(SCENE), str(songs[0]), str(width),
                                   str(height), str(args.fps)], capture_output=True, text=True)
            if proc.returncode == 0:
                profile = {k: round(v, 4) for k, v in json.loads(proc.stdout.strip().splitlines()[-1]).items()}
            else:
                print(f"profile failed: {proc.stderr[-1000:]}", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows = [[name, len(songs), len(songs) * frames, round(med[name], 2), round(med[name] / len(songs), 2),
             round(len(songs) * frames / med[name], 1), round(med_cpu[name], 1), times[name]] for name in cases]
    print()
    print_table(["case", "songs", "frames", "median s", "s per song", "fps", "CPU s", "runs s"], rows)
    print()
    for name in batches:
        print(f"{name} speed-up over separate: {speedup[name]}x (median wall times); median of per-round "
              f"ratios {round(statistics.median(paired[name]), 3)}x; CPU time {cpu_speedup[name]}x; target 1.5x")
    if profile:
        p = profile
        print("\nprofile of one process (seconds):")
        print_table(["step", "first renderer", "second renderer"], [
            ["imports", p["import_s"], None],
            ["device", p["device_s"], None],
            ["analysis", p["analysis_first_s"], p["analysis_again_s"]],
            ["build (shaders, pipelines)", p["build1_s"], p["build2_s"]],
            ["first frame", p["first_frame1_s"], p["first_frame2_s"]],
            ["a steady frame", p["frame1_s"], p["frame2_s"]],
        ])
    data = {
        "benchmark": "batch",
        "command": command_line(),
        "machine": describe_machine(),
        "adapter": adapter,
        "encoder": encoder,
        "config": {"songs": len(songs), "seconds": args.seconds, "width": width, "height": height, "fps": args.fps,
                   "parallel": args.parallel,
                   "frames_per_song": frames, "scene": str(SCENE.relative_to(ROOT)), "repeats": args.repeats,
                   "launcher": " ".join(Path(a).name for a in gpurender)},
        "times_s": times,
        "median_s": {k: round(v, 3) for k, v in med.items()},
        "cpu_s": cpu,
        "median_cpu_s": {k: round(v, 3) for k, v in med_cpu.items()},
        "cpu_speedup": cpu_speedup,
        "speedup": speedup,
        "speedup_per_round": {name: [round(x, 3) for x in v] for name, v in paired.items()},
        "speedup_median_of_rounds": {name: round(statistics.median(v), 3) for name, v in paired.items()},
        "target": 1.5,
        "load_average": loads,
        "profile_s": profile,
    }
    out = Path(args.out) if args.out else RESULTS / f"batch-{machine}.json"
    write_json(out, data)
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
