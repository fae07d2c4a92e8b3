"""Drawing points: the direct export path at sizes around 720 wide, and the scene ``points`` layer.

Two measurements, each a fresh process per run so that contenders share the machine's state:

- ``sweep``: ``export_point_cloud_video`` of 96 frames of 10k points (an animated sphere held in
  memory) to MP4 at 720x480, 722x480, 724x480 and 728x480, end to end (checks, splat, I420,
  readback, libx264, verification), warm (one small export first in the same process). Before
  issue 14 the direct I420 path needed a width that is a multiple of 8 and other widths fell to
  the general frame loop (722 wide ran at a tenth of 720's rate); now every even size is drawn
  padded to a multiple of 8 and cropped. Target: 722x480 within 10% of 720x480.
- ``layer``: a scene with one ``points`` layer of 30k points (sphere, size 4) at 1280x720, frames
  through the frame loop (layer, composite, conversion to I420, readback; no encoder), per draw
  mode; ``depth`` is the compute splat (issue 14; it was depth-tested sprites), anti-aliased by
  default (four samples a pixel) and with ``antialias = false``.

``--against DIR`` runs every measurement also on another source tree (e.g. ``git archive`` of an
earlier commit unpacked in DIR; ``--this DIR`` replaces this checkout likewise), alternating the two, so before/after come from one run on one
loaded machine. Figures are medians of ``--repeats`` runs; CPU time counts every thread of the
process (the software adapter's and the encoder's), which other load disturbs less than wall time.

Usage::

    python benchmarks/bench_points.py                           # both, this tree, 3 repeats
    python benchmarks/bench_points.py --against /tmp/before --repeats 5
    python benchmarks/bench_points.py --only sweep --sizes 720x480,722x480,722x756

Prints a table and writes ``benchmarks/results/points-<machine>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
SWEEP_SIZES = "720x480,722x480,724x480,728x480"
LAYER_CASES = ("depth", "depth-noaa", "blend", "additive")


# -- one measurement, in a fresh process (--worker) ------------------------------------------------


def _sweep_worker(size: str, points: int, frames: int, antialias: bool) -> dict:
    import tempfile

    import gpurender
    from gpurender.pointcloud import example_sequence

    seq = list(example_sequence("sphere", frames, points))
    extra = {} if antialias else {"antialias": False}
    with tempfile.TemporaryDirectory() as tmp:
        gpurender.export_point_cloud_video(seq[:2], Path(tmp) / "warm.mp4", 30, resolution=size, progress=False)
        wall, cpu = time.perf_counter(), time.process_time()
        result = gpurender.export_point_cloud_video(seq, Path(tmp) / "out.mp4", 30, resolution=size,
                                                    progress=False, **extra)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"frames": result.frames, "fps": round(result.frames / wall, 2),
            "cpu_ms_per_frame": round(1000 * cpu / result.frames, 2)}


def _layer_worker(case: str, points: int, frames: int) -> dict:
    from gpurender.render.renderer import FrameRenderer
    from gpurender.scene import scene_from_dict

    draw, _, aa = case.partition("-")
    layer = {"type": "points", "shape": "sphere", "count": points, "size": 4, "draw": draw}
    renderer = FrameRenderer(scene_from_dict({"background": "#000000", "layers": [layer]}, source="bench"),
                             None, 1280, 720, 30)
    if aa == "noaa":
        renderer.ctx.antialias = False
    for _ in renderer.frames(0, 3):
        pass
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in renderer.frames(0, frames):
        pass
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"frames": frames, "wall_ms_per_frame": round(1000 * wall / frames, 2),
            "cpu_ms_per_frame": round(1000 * cpu / frames, 2)}


def _run(tree: Path, kind: str, case: str, args) -> dict | None:
    env = dict(os.environ, PYTHONPATH=str(tree))
    cmd = [sys.executable, str(HERE), "--worker", json.dumps({"kind": kind, "case": case, "points": args.points,
                                                               "layer_points": args.layer_points,
                                                               "frames": args.frames})]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=str(tree))
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
        print(f"  {tree.name}: {kind} {case} failed: {tail[0]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median(runs: list[dict]) -> dict:
    runs = [r for r in runs if r]
    if not runs:
        return {}
    out = {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0] if k != "frames"}
    out["frames"] = runs[0]["frames"]
    out["runs"] = len(runs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=("sweep", "layer"), default=None)
    parser.add_argument("--sizes", default=SWEEP_SIZES, help="sweep sizes, WxH,...")
    parser.add_argument("--points", type=int, default=10_000, help="points per frame in the sweep")
    parser.add_argument("--frames", type=int, default=96, help="frames per sweep export / layer run")
    parser.add_argument("--layer-points", type=int, default=30_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-antialias", action="store_true", help="sweep with antialias=False as well")
    parser.add_argument("--this", default=str(ROOT), help="the source tree measured as 'this' (default: this checkout)")
    parser.add_argument("--against", default=None, help="another source tree to measure alternately (before)")
    parser.add_argument("--machine", default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        job = json.loads(args.worker)
        if job["kind"] == "sweep":
            size, _, aa = job["case"].partition(":")
            print(json.dumps(_sweep_worker(size, job["points"], job["frames"], aa != "noaa")))
        else:
            print(json.dumps(_layer_worker(job["case"], job["layer_points"], max(job["frames"] // 3, 10))))
        return

    # (imported here, not by the workers: common puts this checkout first on sys.path)
    sys.path.insert(0, str(HERE.parent))
    from common import (
        RESULTS, command_line, describe_adapter, describe_machine, load_average, machine_slug, print_table,
        write_json,
    )

    trees = {"this": Path(args.this).resolve()}
    if args.against:
        trees["against"] = Path(args.against).resolve()
    cases = []
    if args.only in (None, "sweep"):
        for size in args.sizes.split(","):
            cases.append(("sweep", size))
            if args.no_antialias:
                cases.append(("sweep", size + ":noaa"))
    if args.only in (None, "layer"):
        cases += [("layer", c) for c in LAYER_CASES]
    load_before = load_average()
    runs: dict = {(t, k, c): [] for t in trees for k, c in cases}
    for rep in range(args.repeats):
        for kind, case in cases:
            for name, tree in trees.items():  # alternate the contenders
                if kind == "sweep" and case.endswith(":noaa") and name == "against":
                    continue  # an older tree may have no antialias option
                runs[(name, kind, case)].append(_run(tree, kind, case, args))
        print(f"repeat {rep + 1}/{args.repeats} done", file=sys.stderr)
    results = {f"{name}/{kind}/{case}": _median(r) for (name, kind, case), r in runs.items() if any(r)}

    rows = []
    for kind, case in cases:
        for name in trees:
            r = results.get(f"{name}/{kind}/{case}")
            if not r:
                continue
            if kind == "sweep":
                base = results.get(f"{name}/sweep/{args.sizes.split(',')[0]}" + (":noaa" if case.endswith(":noaa") else ""))
                rel = round(r["fps"] / base["fps"], 2) if base else None
                rows.append([name, f"export {case}", r["fps"], r["cpu_ms_per_frame"], rel])
            else:
                rows.append([name, f"points layer {case}", round(1000 / r["wall_ms_per_frame"], 1),
                             r["cpu_ms_per_frame"], None])
    print(f"\npoints: sweep {args.points} points x {args.frames} frames; layer {args.layer_points} points at "
          f"1280x720; adapter {describe_adapter()['summary']}; load before {load_before}\n")
    print_table(["tree", "measurement", "fps", "CPU ms/frame", "fps vs first size"], rows)
    adapter = describe_adapter()
    data = {
        "benchmark": "points",
        "description": "direct point export across sizes around 720 wide; the scene points layer per draw mode",
        "command": command_line(),
        "machine": describe_machine(),
        "adapter": adapter,
        "trees": {k: str(v) for k, v in trees.items()},
        "repeats": args.repeats,
        "load_average": {"before": load_before, "after": load_average()},
        "results": results,
    }
    slug = args.machine or machine_slug(adapter["name"], adapter["software"])
    path = write_json(Path(args.out) if args.out else RESULTS / f"points-{slug}.json", data)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
