"""Benchmark of chunked renders: the cost of chunking, and scaling over Ray workers.

Renders ``examples/particles.toml`` (a stateful particles layer over a waveform) over the built-in
synthesized track, end to end (analysis, rendering, encoding, join, audio mux), and reports the
median wall time of ``--repeats`` runs of each case, after one untimed warm-up run per case:

* ``single``        one pass, as ``gpurender render`` without chunk options;
* ``chunked-local`` the same frames as ``--chunk-frames N`` chunks in this process (segments,
                    manifest, checksums, join by stream copy): its time over ``single`` is the
                    overhead of chunking;
* ``ray-K``         the same chunks on a local Ray cluster of ``max(K)`` CPUs whose tasks each ask
                    for ``max(K)/K`` CPUs, so K workers render one chunk each at a time, together
                    using the whole machine. ``ray-2`` over ``ray-1`` is the scaling from one to
                    two workers. Ray's start-up and the workers' first start are not timed; its
                    per-job costs (scheduling, features file, a renderer per worker, join) are.

``single`` and ``chunked-local`` run round-robin (each once per round), so load from elsewhere on
a shared machine touches them alike; the load average is recorded with each case.

On a machine without a GPU the workers share the node's CPU cores: each task's software adapter
(lavapipe) keeps to the CPUs Ray gave it (``LP_NUM_THREADS``), x264 still sizes its own thread
pool. On a multi-GPU machine each worker gets a GPU of its own (``num_gpus=1`` per task).

Usage::

    python benchmarks/bench_farm.py                          # 320x180, 30 fps, 6 s, chunks of 45, 5 repeats
    python benchmarks/bench_farm.py --resolution 640x360 --seconds 8 --chunk-frames 60 --repeats 5
    python benchmarks/bench_farm.py --workers 1,2,4          # more Ray workers (needs the cores)
    python benchmarks/bench_farm.py --no-ray                 # only single vs chunked-local

Writes ``benchmarks/results/farm-<machine>.json`` (machine = adapter and CPU count, or
``--machine``) and prints a table.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (RESULTS, ROOT, command_line, describe_adapter, describe_machine,  # noqa: E402
                    load_average, machine_slug, print_table, ratio, write_json)

from gpurender.audio import demo_track  # noqa: E402
from gpurender.farm import JobOptions  # noqa: E402
from gpurender.pipeline import render_video  # noqa: E402
from gpurender.scene import load_scene  # noqa: E402
from gpurender.settings import RenderSettings, parse_resolution  # noqa: E402

SCENE = ROOT / "examples" / "particles.toml"


def _measure(runs: dict, repeats: int, frames: int) -> list[dict]:
    """One untimed warm-up run of each case, then ``repeats`` rounds running every case once.

    Round-robin, so that a change in the machine's load touches every case alike.
    """
    for run in runs.values():
        run()
    seconds = {name: [] for name in runs}
    last = {}
    for _ in range(repeats):
        for name, run in runs.items():
            t0 = time.perf_counter()
            last[name] = run()
            seconds[name].append(time.perf_counter() - t0)
    cases = []
    for name, times in seconds.items():
        median = statistics.median(times)
        print(f"  {name}: median {median:.2f} s over {repeats} runs ({', '.join(f'{s:.2f}' for s in times)})",
              flush=True)
        cases.append({"case": name, "frames": frames, "seconds_runs": [round(s, 3) for s in times],
                      "median_s": round(median, 3), "fps": round(frames / median, 2),
                      "encoder": last[name].encoder, "adapter": last[name].adapter,
                      "load_average_after": load_average()})
    return cases


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--resolution", default="320x180")
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=6.0, help="length of the rendered video")
    ap.add_argument("--chunk-frames", type=int, default=45)
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per case (after one warm-up)")
    ap.add_argument("--workers", default="1,2", help="Ray cluster sizes (num_cpus) to compare")
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray cases")
    ap.add_argument("--machine", default=None, help="name used in the results file")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/farm-<machine>.json)")
    args = ap.parse_args(argv)

    width, height = parse_resolution(args.resolution)
    settings = RenderSettings(width=width, height=height, fps=args.fps)
    audio = demo_track(duration=args.seconds)
    scene = load_scene(SCENE)
    frames = round(args.seconds * args.fps)
    chunks = -(-frames // args.chunk_frames)
    work = Path(tempfile.mkdtemp(prefix="bench-farm-"))
    adapter = describe_adapter()
    machine = args.machine or machine_slug(adapter["name"], adapter["software"])
    print(f"adapter: {adapter['summary']}   machine: {machine}   {frames} frames at {width}x{height}, "
          f"{args.fps} fps, {chunks} chunks of up to {args.chunk_frames}", flush=True)
    counter = [0]

    def out_path() -> Path:
        counter[0] += 1
        return work / f"run{counter[0]}.mp4"

    def local(job):
        return lambda: render_video(scene, audio, out_path(), settings, job=job)

    def on_ray(cpus_per_chunk):
        def run():
            executor = RayExecutor(task_options={"num_cpus": cpus_per_chunk})
            return render_video(scene, audio, out_path(), settings,
                                job=JobOptions(chunk_frames=args.chunk_frames, farm=executor))
        return run

    runs = {"single": local(None), "chunked-local": local(JobOptions(chunk_frames=args.chunk_frames))}
    workers = [] if args.no_ray else [int(x) for x in args.workers.split(",") if x.strip()]
    cluster = max(workers) if workers else 0
    for k in workers:
        if cluster % k:
            ap.error(f"--workers: {cluster} CPUs cannot be shared evenly by {k} workers")
    cases = []
    try:
        cases += _measure(runs, args.repeats, frames)
        if workers:
            import ray

            from gpurender.farm.rayfarm import RayExecutor, runtime_env

            # One cluster of max(K) CPUs; K workers at a time by asking max(K)/K CPUs per chunk.
            # The Ray cases run one after the other, not round-robin: each CPU share is its own
            # worker pool (its own LP_NUM_THREADS), and alternating would restart the workers.
            ray.init(num_cpus=cluster, include_dashboard=False, log_to_driver=False,
                     runtime_env=runtime_env(work / "code") or None)
            for k in workers:
                cases += _measure({f"ray-{k}": on_ray(cluster // k)}, args.repeats, frames)
    finally:
        if workers:
            ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)

    by = {c["case"]: c for c in cases}
    summary = {
        "chunking_overhead": ratio(by["chunked-local"]["median_s"], by["single"]["median_s"]),
    }
    if "ray-1" in by:
        for c in cases:
            if c["case"].startswith("ray-") and c["case"] != "ray-1":
                k = int(c["case"].split("-")[1])
                speedup = ratio(by["ray-1"]["median_s"], c["median_s"])
                summary[f"speedup_{c['case']}_over_ray-1"] = speedup
                summary[f"efficiency_{c['case']}"] = round(speedup / k, 3) if speedup else None
    rows = [[c["case"], c["frames"], c["median_s"], c["fps"],
             ratio(c["median_s"], by["single"]["median_s"]), c["encoder"]] for c in cases]
    print()
    print_table(["case", "frames", "median s", "fps", "x single", "encoder"], rows)
    print()
    for key, value in summary.items():
        print(f"{key}: {value}")
    results = {
        "benchmark": "farm",
        "command": command_line(),
        "machine": {"name": machine, **describe_machine(), "load_average": load_average()},
        "adapter": adapter,
        "settings": {"scene": str(SCENE.relative_to(ROOT)), "width": width, "height": height, "fps": args.fps,
                     "seconds": args.seconds, "frames": frames, "chunk_frames": args.chunk_frames,
                     "chunks": chunks, "repeats": args.repeats, "quality": settings.quality},
        "cases": cases,
        "summary": summary,
    }
    out = Path(args.out) if args.out else RESULTS / f"farm-{machine}.json"
    write_json(out, results)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
