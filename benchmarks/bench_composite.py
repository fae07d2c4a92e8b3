"""The cost of a frame before and after the compositing core (issues 13 and 14), in one run.

Two scenes, each rendered by this checkout and by another checkout of gpurender (``--base``: e.g.
today's code, ``git worktree add /tmp/base <commit>``), in fresh processes that take turns within
each round of repeats, so a change in the machine's load falls on both:

* ``demo720``: the demo scene (``examples/torus_spectrum.toml``: a 64-bar spectrum at opacity 0.9
  under a 20,000-point torus screened over it) at 1280x720, 30 fps, ``--quality high``;
* ``spectrum1080``: one 64-bar spectrum layer (``benchmarks/scenes/spectrum64.toml``, the
  counterpart of FFmpeg's showcqt in bench_peers.py) at 1920x1080, 60 fps, ``--quality medium``.

For each, two measurements in a child process that imports the checkout being measured:

* ``loop``: ``FrameRenderer.frames`` to I420 with a consumer that does nothing (after a warm-up):
  the GPU work of a frame (layers, compositing, conversion, readback) without the encoder;
* ``e2e``: ``render_video`` to an MP4 with libx264 (the product path: frame loop, encoder thread,
  mux) over the built-in track; fps counts the frames from the start of the ``rendering`` phase to
  the end of encoding (setup and mux apart); ``wall_s`` is the whole call.

Each reports wall time and CPU time (all the child's threads: the software adapter's rasterizer
threads and the encoder's count) per frame; the CPU time moves less with other load on the machine
than wall time does. Then ``speedup`` = current fps / base fps, per measurement.

Usage::

    git worktree add /tmp/base <commit>          # the code to compare with
    python benchmarks/bench_composite.py --base /tmp/base
    python benchmarks/bench_composite.py --base /tmp/base --cases demo720 --seconds 4 --repeats 5
    python benchmarks/bench_composite.py --quick  # this checkout only, short

Prints a table and writes ``benchmarks/results/composite-<machine>.json`` (``--out`` elsewhere).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import (  # noqa: E402
    RESULTS, ROOT, command_line, describe_adapter, describe_machine, load_average, machine_slug, print_table,
    ratio, write_json,
)

CASES = {
    "demo720": {"scene": "examples/torus_spectrum.toml", "size": (1280, 720), "fps": 30, "quality": "high"},
    "spectrum1080": {"scene": "benchmarks/scenes/spectrum64.toml", "size": (1920, 1080), "fps": 60,
                     "quality": "medium"},
}

# The child: runs in the checkout measured (PYTHONPATH), prints one JSON line.
CHILD = r'''
import json, os, resource, sys, time, tempfile
mode, scene_path, w, h, fps, seconds, quality = sys.argv[1:8]
w, h, fps, seconds = int(w), int(h), int(fps), float(seconds)
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
from gpurender.audio import AnalysisSettings, analyze, demo_track
from gpurender.scene import load_scene
scene = load_scene(scene_path)
audio = demo_track(seconds + 1.0)
out = {}
if mode == "loop":
    from gpurender.render.renderer import FrameRenderer
    features = analyze(audio, fps, settings=AnalysisSettings(keep_spectrum=False))
    r = FrameRenderer(scene, features, w, h, fps)
    n = int(round(seconds * fps))
    for _ in r.frames(0, 3):  # warm-up: pipelines, first uploads
        pass
    t, c = time.perf_counter(), cpu()
    count = sum(1 for _ in r.frames(3, n))
    out = {"frames": count, "wall_s": time.perf_counter() - t, "cpu_s": cpu() - c}
else:
    from gpurender.pipeline import render_video
    from gpurender.settings import RenderSettings
    marks = {}
    def progress(event):
        if event.kind == "phase" and event.phase not in marks:
            marks[event.phase] = (time.perf_counter(), cpu())
    target = os.path.join(tempfile.mkdtemp(), "out.mp4")
    t0 = time.perf_counter()
    result = render_video(scene, audio, target, RenderSettings(width=w, height=h, fps=fps, quality=quality,
                          duration=seconds, encoder="cpu"), progress=progress)
    t1, c1 = time.perf_counter(), cpu()
    start = marks["rendering"]
    end = marks.get("muxing", (t1, c1))
    out = {"frames": result.frames, "wall_s": end[0] - start[0], "cpu_s": end[1] - start[1], "call_s": t1 - t0}
print(json.dumps(out))
'''


def run_child(checkout: Path, mode: str, case: dict, seconds: float) -> dict:
    env = dict(os.environ, PYTHONPATH=str(checkout), XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR", "/tmp"))
    w, h = case["size"]
    # the scene file from this checkout: the format is the same, and the other may not have it
    args = [sys.executable, "-c", CHILD, mode, str(ROOT / case["scene"]), str(w), str(h), str(case["fps"]),
            str(seconds), case["quality"]]
    proc = subprocess.run(args, env=env, cwd=str(checkout), capture_output=True, text=True, timeout=3600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{checkout} {mode} failed:\n{proc.stderr[-3000:]}")
    data = json.loads(lines[-1])
    data["fps"] = data["frames"] / data["wall_s"]
    data["cpu_ms_per_frame"] = 1000.0 * data["cpu_s"] / data["frames"]
    data["load"] = load_average()
    return data


def median_of(runs: list[dict]) -> dict:
    keys = ("fps", "cpu_ms_per_frame", "wall_s", "cpu_s")
    out = {k: round(statistics.median(r[k] for r in runs), 3) for k in keys}
    out["frames"] = runs[0]["frames"]
    out["runs"] = runs
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, default=None, help="another checkout to compare with (its root)")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    parser.add_argument("--modes", default="loop,e2e", help="loop, e2e or both")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds of video per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 repeat, 1 second")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.seconds = 1, 1.0
    checkouts = {"current": ROOT}
    if args.base is not None:
        checkouts = {"base": args.base.resolve(), "current": ROOT}
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    load_before = load_average()
    runs: dict = {}
    for rep in range(args.repeats):
        for case in cases:
            for mode in modes:
                for name, path in checkouts.items():
                    data = run_child(path, mode, CASES[case], args.seconds)
                    runs.setdefault(case, {}).setdefault(mode, {}).setdefault(name, []).append(data)
                    print(f"[{rep + 1}/{args.repeats}] {case} {mode} {name}: {data['fps']:.1f} fps, "
                          f"{data['cpu_ms_per_frame']:.1f} ms CPU/frame (load {data['load'][0] if data['load'] else '?'})",
                          flush=True)
    results: dict = {}
    rows = []
    for case, by_mode in runs.items():
        for mode, by_name in by_mode.items():
            entry = {name: median_of(r) for name, r in by_name.items()}
            if "base" in entry:
                entry["speedup_fps"] = ratio(entry["current"]["fps"], entry["base"]["fps"])
                entry["cpu_ratio"] = ratio(entry["base"]["cpu_ms_per_frame"], entry["current"]["cpu_ms_per_frame"])
            results.setdefault(case, {})[mode] = entry
            row = [case, mode]
            for name in checkouts:
                row += [f"{entry[name]['fps']:.1f}", f"{entry[name]['cpu_ms_per_frame']:.1f}"]
            if "base" in entry:
                row += [f"{entry['speedup_fps']:.2f}x", f"{entry['cpu_ratio']:.2f}x"]
            rows.append(row)
    headers = ["case", "measure"]
    for name in checkouts:
        headers += [f"{name} fps", f"{name} ms CPU/frame"]
    if "base" in checkouts:
        headers += ["speedup (fps)", "CPU per frame, base/current"]
    print_table(headers, rows)

    adapter = describe_adapter()
    data = {
        "benchmark": "composite",
        "description": "frame cost before/after the compositing core: the demo scene at 720p30 and a 64-bar spectrum "
                       "at 1080p60, frame loop alone and end to end with libx264",
        "command": command_line(),
        "machine": describe_machine(),
        "adapter": adapter,
        "checkouts": {name: _describe_checkout(path) for name, path in checkouts.items()},
        "cases": {case: CASES[case] for case in cases},
        "seconds": args.seconds,
        "repeats": args.repeats,
        "load_average": {"before": load_before, "after": load_average()},
        "results": results,
    }
    slug = machine_slug(adapter.get("name", "unknown"), adapter.get("software", False))
    out = args.out or RESULTS / f"composite-{slug}{'-quick' if args.quick else ''}.json"
    write_json(out, data)
    print(f"wrote {out}")


def _describe_checkout(path: Path) -> dict:
    def git(*a):
        try:
            return subprocess.run(["git", "-C", str(path), *a], capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"path": str(path), "commit": git("rev-parse", "HEAD"),
            "modified": [ln[3:] for ln in git("status", "--porcelain").splitlines()
                         if ln[3:].startswith(("gpurender/", "shaders/"))]}


if __name__ == "__main__":
    main()
