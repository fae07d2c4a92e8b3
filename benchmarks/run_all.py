"""Runs issue 5's benchmark suite with one command: prints the tables and writes one JSON file.

The suite, at 720p, 1080p and 4K (see ``bench_pipeline.py`` for what each measurement is):

1. every stage alone, in frames per second: render (layers + composite, for the standard scene of
   1,000,000 points and the light scene of 30,000), GPU and CPU colour conversion, readback through
   the ring (K=1 and K=3), the frame loop (render + convert + readback), the encoder fed
   pre-made I420 frames (libx264, and ``choose_encoder``'s automatic pick when that differs), mux;
2. end to end (``render_video`` to a temporary MP4), ring K=3 and K=1;
3. ratios from the same run: the ring's speed-up, GPU over CPU conversion, and the pipeline's
   efficiency = end-to-end fps / encoder-alone fps on the very same frames;
4. real-time factors at 60 and 120 fps (a frame costs the same at any fps; fps only sets how many
   frames a second of video needs), with one end-to-end check at both rates;
5. peak memory (the child process's RSS high-water mark, from ``os.wait4``) of a 10 s and a 60 s
   render at a small size, which must be flat; the frame loop's own peak is reported too.

Modes (on a 2-core machine with the software adapter; a GPU machine runs more frames in the
same time, since frame counts follow a time budget per measurement):

* ``--quick``  1-2 minutes: one run per measurement, short budgets, small memory runs;
* default      6-9 minutes: medians of 3 runs, 2 s per run;
* ``--full``   about 40 minutes (an estimate): medians of 5, 5 s per run, both scenes end to end at every size.

On a software adapter the stages after the render are measured with the light scene (1,000,000
points take about a second a frame on lavapipe); on a GPU with the standard scene as well.

Usage::

    python benchmarks/run_all.py                 # the suite; writes benchmarks/results/pipeline-<machine>.json
    python benchmarks/run_all.py --quick         # a quick look; writes pipeline-<machine>-quick.json
    python benchmarks/run_all.py --full
    python benchmarks/run_all.py --sizes 720p --no-memory --out /tmp/p.json

``<machine>`` is the adapter and CPU count, e.g. ``llvmpipe-2cpu`` or ``nvidia-h100-16cpu``
(``--machine`` overrides it). The JSON names the machine, adapter, encoders, versions, the load
average before, during and after, and the exact command.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_pipeline as bp  # noqa: E402
from common import (  # noqa: E402
    RESULTS,
    command_line,
    describe_adapter,
    describe_machine,
    load_average,
    machine_slug,
    print_table,
    ratio,
    run_for_peak_rss,
    write_json,
)

MODES = {
    "quick": {"budget": 0.5, "repeats": 1, "e2e_repeats_first": 1, "min_frames": 2, "max_frames": 300,
              "e2e_k1_all": False, "fps_check": False, "memory": {"size": "160x90", "fps": 10, "scene": "small"}},
    "default": {"budget": 2.0, "repeats": 3, "e2e_repeats_first": 5, "min_frames": 4, "max_frames": 600,
                "e2e_k1_all": False, "fps_check": True, "memory": {"size": "256x144", "fps": 30, "scene": "small"}},
    "full": {"budget": 5.0, "repeats": 5, "e2e_repeats_first": 7, "min_frames": 6, "max_frames": 1200,
             "e2e_k1_all": True, "fps_check": True, "memory": {"size": "320x180", "fps": 30, "scene": "light"}},
}
MEMORY_SECONDS = (10.0, 60.0)

# Issue 5's targets, measured here and never asserted in tests.
TARGET_SOFTWARE_EFFICIENCY = 0.75  # 720p30 on 2 cores: end to end within 25% of the encoder alone
TARGET_SOFTWARE_RING = 1.5  # the ring at least 1.5x synchronous readback
TARGET_GPU_LOOP_FPS = 600.0  # 4K/120 standard scene: render + conversion + readback
TARGET_GPU_EFFICIENCY = 0.90
TARGET_MEMORY_GROWTH = 1.10  # 60 s within 10% of 10 s


def memory_runs(cfg: dict, log=print) -> dict:
    """Peak memory of a 10 s and a 60 s render, each in a fresh child process."""
    out = {"size": cfg["size"], "fps": cfg["fps"], "scene": cfg["scene"],
           "points": bp.SCENE_POINTS[cfg["scene"]], "runs": {}}
    script = str(Path(bp.__file__).resolve())
    for seconds in MEMORY_SECONDS:
        args = [sys.executable, script, "--memory-child", str(seconds), "--memory-size", cfg["size"],
                "--fps", str(cfg["fps"]), "--memory-scene", cfg["scene"]]
        got = run_for_peak_rss(args, timeout=1800)
        if got["returncode"] != 0:
            raise SystemExit(f"memory run of {seconds:g} s failed ({got['returncode']}):\n{got['stderr']}")
        child = json.loads(got["stdout"].strip().splitlines()[-1])
        child["peak_rss_mb"] = got["peak_rss_mb"]
        out["runs"][f"{seconds:g}s"] = child
        log(f"  memory {seconds:g} s ({child['frames']} frames): peak RSS {got['peak_rss_mb']:.0f} MB, "
            f"the frame loop adds {child.get('frame_loop_increment_mb')} MB to {child['rss_render_start_mb']} MB")
    short, long_ = (out["runs"][f"{s:g}s"] for s in MEMORY_SECONDS)
    out["growth_peak_rss"] = ratio(long_["peak_rss_mb"], short["peak_rss_mb"])
    if short.get("peak_reset") and long_.get("peak_reset"):
        # What the streaming part adds on top of what was held when the first frame began.
        out["growth_frame_loop_increment"] = ratio(long_["frame_loop_increment_mb"], short["frame_loop_increment_mb"])
    # What legitimately grows with length: the decoded track and its features, held for the whole render.
    out["audio_mb_difference"] = round(long_["audio_mb"] - short["audio_mb"], 1)
    out["rss_at_first_frame_difference_mb"] = round(long_["rss_render_start_mb"] - short["rss_render_start_mb"], 1)
    return out


def evaluate_targets(results: dict) -> dict:
    """Issue 5's targets against this run's figures (None where this run cannot say)."""
    software = results["adapter"]["software"]
    sizes = results["sizes"]
    t: dict = {}
    if software and "720p" in sizes:
        res = sizes["720p"]["scenes"].get("light", {})
        d = res.get("derived", {})
        t["software_720p_efficiency"] = {"target": f">= {TARGET_SOFTWARE_EFFICIENCY}", "value": d.get("efficiency"),
                                         "limit": d.get("limit")}
        t["software_720p_ring_e2e"] = {"target": f">= {TARGET_SOFTWARE_RING}", "value": d.get("ring_speedup_e2e")}
        t["software_720p_ring_loop"] = {"target": f">= {TARGET_SOFTWARE_RING}", "value": d.get("ring_speedup_loop")}
        t["software_720p_ring_offcpu_consumer"] = {"target": f">= {TARGET_SOFTWARE_RING}",
                                                   "value": d.get("ring_speedup_offcpu_consumer")}
    if not software and "4k" in sizes:
        res = sizes["4k"]["scenes"].get("standard", {})
        d = res.get("derived", {})
        t["gpu_4k_loop_fps"] = {"target": f">= {TARGET_GPU_LOOP_FPS}", "value": res.get("loop3", {}).get("fps")}
        t["gpu_4k_efficiency"] = {"target": f">= {TARGET_GPU_EFFICIENCY}", "value": d.get("efficiency"),
                                  "limit": d.get("limit")}
    mem = results.get("memory")
    if mem:
        t["memory_growth_peak_rss"] = {"target": f"<= {TARGET_MEMORY_GROWTH}", "value": mem.get("growth_peak_rss")}
        t["memory_growth_frame_loop"] = {"target": f"<= {TARGET_MEMORY_GROWTH}",
                                         "value": mem.get("growth_frame_loop_increment")}
    for entry in t.values():
        value, target = entry["value"], entry["target"]
        if value is None:
            entry["met"] = None
        else:
            op, bound = target.split()
            entry["met"] = value >= float(bound) if op == ">=" else value <= float(bound)
    return t


# -- tables ------------------------------------------------------------------------------------------------

STAGES = [
    ("render", "render (layers + composite)"),
    ("convert_gpu", "GPU conversion"),
    ("convert_cpu", "CPU conversion (NumPy)"),
    ("readback1", "readback ring K=1"),
    ("readback3", "readback ring K=3"),
    ("exit_gpu3", "GPU convert + I420 readback"),
    ("exit_cpu3", "RGBA readback + CPU convert"),
    ("loop1", "frame loop K=1"),
    ("loop3", "frame loop K=3"),
    ("loop1_offcpu", "frame loop K=1, off-CPU consumer"),
    ("loop3_offcpu", "frame loop K=3, off-CPU consumer"),
    ("encode", "encoder alone"),
    ("mux", "mux"),
    ("e2e1", "end to end K=1"),
    ("e2e3", "end to end K=3"),
]


def _fps(res: dict, key: str):
    if key == "encode":
        key = f"encode_{res.get('encoder_auto')}"
    val = res.get(key)
    return val.get("fps") if isinstance(val, dict) else None


def print_tables(results: dict, realtime: list[int]) -> None:
    sizes = results["sizes"]
    columns = [(label, name) for label, entry in sizes.items() for name in entry["scenes"]]
    print("\nframes per second (median); x60 / x120 = real-time factor of the end-to-end render")
    headers = ["stage"] + [f"{label} {name}" for label, name in columns]
    rows = []
    for key, title in STAGES:
        row = [title] + [_fps(sizes[label]["scenes"][name], key) for label, name in columns]
        if any(v is not None for v in row[1:]):
            rows.append(row)
    for f in realtime:
        rows.append([f"e2e K=3 x{f}"] + [ratio(_fps(sizes[label]["scenes"][name], "e2e3"), f)
                                          for label, name in columns])
    print_table(headers, rows)

    print("\nratios from the same run")
    keys = [("efficiency", "efficiency: e2e / encoder alone"), ("e2e_vs_bound", "e2e / slowest stage"),
            ("cpu_bound_fps", "cores / CPU time of the stages, fps"), ("e2e_vs_cpu_bound", "e2e / that CPU bound"),
            ("e2e_over_serial", "e2e / stages one after another"), ("ring_speedup_e2e", "ring K=3 / K=1, e2e"),
            ("ring_speedup_loop", "ring K=3 / K=1, frame loop"),
            ("ring_speedup_offcpu_consumer", "ring K=3 / K=1, off-CPU consumer"),
            ("ring_speedup_readback", "ring K=3 / K=1, readback"),
            ("gpu_over_cpu_conversion", "GPU / CPU conversion"), ("gpu_over_cpu_exit", "GPU / CPU exit path")]
    pipeline_cols = [(label, name) for label, name in columns if "derived" in sizes[label]["scenes"][name]]
    rows = [[title] + [sizes[label]["scenes"][name]["derived"].get(key) for label, name in pipeline_cols]
            for key, title in keys]
    rows.append(["limit"] + [sizes[label]["scenes"][name]["derived"].get("limit") for label, name in pipeline_cols])
    print_table(["ratio"] + [f"{label} {name}" for label, name in pipeline_cols], rows)

    for label, entry in sizes.items():
        if "render_breakdown" in entry:
            print(f"\nrender breakdown at {label}, light scene (ms per frame)")
            print_table(["layers", "ms/frame"], [[k, v["ms_per_frame"]] for k, v in entry["render_breakdown"].items()])
    if "fps_check" in results:
        fc = results["fps_check"]
        print(f"\nsame frames end to end at each video frame rate ({fc['width']}x{fc['height']}, {fc['scene']})")
        print_table(["run", "frames", "fps"],
                    [[k, v["frames"], v["fps"]] for k, v in fc.items() if isinstance(v, dict)])
    if "memory" in results:
        mem = results["memory"]
        print(f"\npeak memory, {mem['size']} at {mem['fps']} fps, {mem['scene']} scene ({mem['points']} points)")
        print_table(["video", "frames", "peak RSS MB", "RSS at frame 0 MB", "frame loop adds MB", "audio MB"],
                    [[k, v["frames"], v["peak_rss_mb"], v["rss_render_start_mb"], v.get("frame_loop_increment_mb"),
                      v["audio_mb"]] for k, v in mem["runs"].items()])
        print(f"growth 60 s / 10 s: peak RSS {mem['growth_peak_rss']}, "
              f"frame loop increment {mem.get('growth_frame_loop_increment')}")
    print("\nissue 5 targets")
    print_table(["target", "wanted", "measured", "met"],
                [[k, v["target"], v["value"], v["met"]] for k, v in results["targets"].items()])


def markdown(results: dict) -> str:
    """The main figures of a results file as Markdown tables (for benchmarks/README.md)."""
    sizes = results["sizes"]
    cols = [(label, name) for label, entry in sizes.items() for name in entry["scenes"]]

    def cell(v, digits=3):
        if v is None:
            return "–"
        if isinstance(v, float):
            return f"{v:.{digits}g}" if abs(v) < 100 else f"{v:.0f}"
        return str(v)

    lines = [f"| stage (fps) | " + " | ".join(f"{label} {name}" for label, name in cols) + " |",
             "|---|" + "---:|" * len(cols)]
    for key, title in STAGES:
        vals = [_fps(sizes[label]["scenes"][name], key) for label, name in cols]
        if any(v is not None for v in vals):
            lines.append(f"| {title} | " + " | ".join(cell(v) for v in vals) + " |")
    for f in results["config"]["realtime_fps"]:
        vals = [ratio(_fps(sizes[label]["scenes"][name], "e2e3"), f) for label, name in cols]
        lines.append(f"| e2e K=3, real-time factor at {f} fps | " + " | ".join(cell(v, 2) for v in vals) + " |")
    pcols = [(label, name) for label, name in cols if "derived" in sizes[label]["scenes"][name]]
    lines += ["", "| ratio (same run) | " + " | ".join(f"{label} {name}" for label, name in pcols) + " |",
              "|---|" + "---:|" * len(pcols)]
    for key, title in [("efficiency", "efficiency = e2e / encoder alone"), ("e2e_vs_bound", "e2e / slowest stage"),
                       ("e2e_over_serial", "e2e / stages one after another"),
                       ("cpu_bound_fps", "CPU bound: cores / CPU ms per frame (fps)"),
                       ("e2e_vs_cpu_bound", "e2e / CPU bound"), ("ring_speedup_e2e", "ring K=3 / K=1, e2e"),
                       ("ring_speedup_loop", "ring K=3 / K=1, frame loop"),
                       ("ring_speedup_offcpu_consumer", "ring K=3 / K=1, off-CPU consumer"),
                       ("ring_speedup_readback", "ring K=3 / K=1, readback alone"),
                       ("gpu_over_cpu_conversion", "GPU / CPU conversion"),
                       ("gpu_over_cpu_exit", "GPU / CPU exit (convert + readback)"), ("limit", "slowest stage")]:
        vals = [sizes[label]["scenes"][name]["derived"].get(key) for label, name in pcols]
        lines.append(f"| {title} | " + " | ".join(cell(v) for v in vals) + " |")
    lines += ["", "| CPU cores busy (CPU time / wall time) | " + " | ".join(f"{l} {n}" for l, n in pcols) + " |",
              "|---|" + "---:|" * len(pcols)]
    for key, title in [("render", "render"), ("loop3", "frame loop K=3"), ("encode", "encoder alone"),
                       ("e2e3", "end to end K=3")]:
        vals = []
        for label, name in pcols:
            res = sizes[label]["scenes"][name]
            k = f"encode_{res.get('encoder_auto')}" if key == "encode" else key
            vals.append(res.get(k, {}).get("cores_busy"))
        lines.append(f"| {title} | " + " | ".join(cell(v) for v in vals) + " |")
    for label, entry in sizes.items():
        if "render_breakdown" in entry:
            lines += ["", f"| render at {label}, light scene | ms per frame |", "|---|---:|"]
            lines += [f"| {k} | {cell(v['ms_per_frame'])} |" for k, v in entry["render_breakdown"].items()]
    if "fps_check" in results:
        fc = results["fps_check"]
        lines += ["", f"| same {fc['width']}x{fc['height']} frames end to end | frames | fps |", "|---|---:|---:|"]
        lines += [f"| {k} | {v['frames']} | {cell(v['fps'])} |" for k, v in fc.items() if isinstance(v, dict)]
    if "memory" in results:
        mem = results["memory"]
        lines += ["", f"| memory, {mem['size']} at {mem['fps']} fps, {mem['points']} points | frames | peak RSS MB "
                      f"| RSS at frame 0 MB | frame loop adds MB | audio MB | features MB |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {k} | {v['frames']} | {cell(v['peak_rss_mb'])} | {cell(v['rss_render_start_mb'])} | "
                  f"{cell(v.get('frame_loop_increment_mb'))} | {cell(v['audio_mb'])} | {cell(v.get('features_mb'))} |"
                  for k, v in mem["runs"].items()]
    lines += ["", "| issue 5 target | wanted | measured | met |", "|---|---|---:|---|"]
    lines += [f"| {k} | {v['target']} | {cell(v['value'])} | {v['met']} |" for k, v in results["targets"].items()]
    return "\n".join(lines)


# -- command line ---------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="1-2 minutes on 2 cores")
    group.add_argument("--full", action="store_true", help="longer runs, more repeats, both scenes end to end")
    ap.add_argument("--sizes", default="720p,1080p,4k")
    ap.add_argument("--fps", type=int, default=60, help="video frame rate of the measured renders")
    ap.add_argument("--realtime-fps", default="60,120")
    ap.add_argument("--pipeline-scenes", default=None,
                    help="scenes run through every stage (default: light on a software adapter, "
                         "standard,light on a GPU)")
    ap.add_argument("--budget", type=float, default=None, help="seconds per timed run (overrides the mode's)")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per measurement (overrides the mode's)")
    ap.add_argument("--max-frames", type=int, default=None, help="most frames per timed run (overrides the mode's)")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    ap.add_argument("--machine", default=None, help="name used in the results file")
    ap.add_argument("--results-dir", default=str(RESULTS), help="folder of the JSON file (default benchmarks/results)")
    ap.add_argument("--out", default=None, help="JSON path (default <results-dir>/pipeline-<machine>[-<mode>].json)")
    ap.add_argument("--markdown", metavar="JSON", default=None,
                    help="print the figures of a results file as Markdown tables and exit")
    args = ap.parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(Path(args.markdown).read_text())))
        return 0

    mode = "quick" if args.quick else "full" if args.full else "default"
    cfg = dict(MODES[mode])
    for key in ("budget", "repeats", "max_frames"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    adapter = describe_adapter()
    machine = args.machine or machine_slug(adapter["name"], adapter["software"])
    if args.pipeline_scenes:
        pipeline_scenes = args.pipeline_scenes.split(",")
    elif adapter["software"] and mode != "full":
        pipeline_scenes = ["light"]
    else:
        pipeline_scenes = ["standard", "light"]
    render_scenes = ["standard", "light"]
    realtime = [int(x) for x in args.realtime_fps.split(",")]
    budget = bp.Budget(cfg["budget"], cfg["min_frames"], cfg["max_frames"], cfg["repeats"])
    memory_cfg = dict(cfg["memory"])
    if not adapter["software"]:
        memory_cfg["scene"] = "standard"  # a million points cost a GPU little
    suffix = "" if mode == "default" else f"-{mode}"
    out = Path(args.out) if args.out else Path(args.results_dir) / f"pipeline-{machine}{suffix}.json"
    started = time.perf_counter()
    results = {
        "benchmark": "pipeline suite (issue 5)",
        "mode": mode,
        "command": command_line(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": {"name": machine, **describe_machine()},
        "adapter": adapter,
        "encoders": {},
        "load_average_start": load_average(),
        "complete": False,
        "config": {**{k: v for k, v in cfg.items() if k != "memory"}, "fps": args.fps, "realtime_fps": realtime,
                   "render_scenes": render_scenes, "pipeline_scenes": pipeline_scenes},
        "scenes": {name: bp.scene_dict(points) for name, points in bp.SCENE_POINTS.items()},
        "note": "fps changes only the audio analysis and how many frames a second of video needs; a frame "
                "costs the same at any rate, so figures are measured at config.fps and real-time factors "
                "are fps_measured / rate (see fps_check).",
        "sizes": {},
    }
    print(f"gpurender pipeline suite ({mode}); adapter {adapter['summary']}; machine {machine} "
          f"({results['machine']['cpu']}, {results['machine']['cpu_count']} CPUs); "
          f"load {results['load_average_start']}")
    with tempfile.TemporaryDirectory(prefix="gpurender-suite-") as tmp:
        for i, spec in enumerate(args.sizes.split(",")):
            label, w, h = bp.parse_size(spec)
            depths = [3, 1] if (i == 0 or cfg["e2e_k1_all"]) else [3]
            # The first size carries the software targets: its end-to-end comparison gets more runs.
            entry = bp.bench_size(label, w, h, args.fps, render_scenes, pipeline_scenes, budget, depths,
                                  keep_mb=1000.0, workdir=Path(tmp), breakdown=(i == 0),
                                  e2e_repeats=max(cfg["repeats"], cfg["e2e_repeats_first"]) if i == 0 else None,
                                  offcpu_consumer=(i == 0 or mode == "full"))
            results["sizes"][label] = entry
            for res in entry["scenes"].values():
                results["encoders"].update(res.get("encoders", {}))
            write_json(out, results)  # what is done so far survives an interrupted run
        if cfg["fps_check"]:
            label, w, h = bp.parse_size(args.sizes.split(",")[0])
            scene = pipeline_scenes[-1]
            n = results["sizes"][label]["scenes"][scene]["loop3"]["frames"]
            results["fps_check"] = bp.fps_check(scene, w, h, realtime, n, cfg["repeats"], Path(tmp))
    if not args.no_memory:
        results["memory"] = memory_runs(memory_cfg)
    results["load_average_end"] = load_average()
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["targets"] = evaluate_targets(results)
    print_tables(results, realtime)
    results["complete"] = True
    print(f"\n{results['seconds']:.0f} s; load average {results['load_average_start']} "
          f"-> {results['load_average_end']}")
    print(f"wrote {write_json(out, results)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
