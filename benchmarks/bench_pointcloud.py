"""gpurender's point-cloud export against the matplotlib + PNG + OpenCV baseline, side by side.

Both render the same frames (an animated sphere from ``gpurender.pointcloud.example_sequence``,
held in memory) to an MP4 of the same size: gpurender with ``export_point_cloud_video`` (checks,
depth-tested splats, title overlay, GPU YUV conversion, libx264, verification), the baseline with
``baseline_matplotlib.render_baseline`` (3D scatter with fixed axes, title, PNG per frame, OpenCV
``mp4v``). Each point count is timed end to end as frames per second (wall clock), and as CPU time per
frame of the whole process (all threads), which other load on a shared machine disturbs less;
gpurender's figure is the median of ``--repeats`` runs after one warm-up export (device creation and shader compilation
happen once per process and are reported separately as ``startup_s``); the baseline is slow enough
at 100k and 1M points that it renders only a few frames, once.

Usage::

    pip install opencv-python-headless       # the baseline's writer (without it: PyAV's mpeg4, the same encoder)
    python benchmarks/bench_pointcloud.py                       # 10k, 100k, 1M points at 640x480
    python benchmarks/bench_pointcloud.py --points 10000 --resolution 1280x720 --repeats 5

Prints a table and writes ``benchmarks/results/pointcloud-<machine>.json`` (machine = adapter and
CPU count, e.g. ``llvmpipe-2cpu``; ``--machine`` overrides it) with the machine, adapter, encoder,
load averages and the exact command. The default run takes about three minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline_matplotlib import render_baseline  # noqa: E402
from common import (  # noqa: E402
    RESULTS, command_line, describe_adapter, describe_machine, load_average, machine_slug, median_rate, print_table,
    rate, ratio, write_json,
)

# frames rendered per point count: gpurender, baseline (the baseline takes ~15 s a frame at 1M)
FRAMES = {10_000: (120, 24), 100_000: (30, 4), 1_000_000: (10, 2)}
TARGETS = {"software_adapter_2cpu": 20.0, "gpu": 200.0}


def timed_cpu(fn) -> dict:
    """One run of ``fn`` (which returns its frame count): wall-clock rate plus this process's CPU time
    (every thread: the adapter's, the encoder's), a figure other load on a shared machine moves less."""
    wall, cpu = time.perf_counter(), time.process_time()
    frames = fn()
    out = rate(frames, time.perf_counter() - wall)
    cpu = time.process_time() - cpu
    out.update(cpu_seconds=round(cpu, 3), cpu_ms_per_frame=round(1000.0 * cpu / max(frames, 1), 2))
    return out


def frames_for(points: int, count: int) -> list[dict]:
    from gpurender.pointcloud import example_sequence

    return list(example_sequence("sphere", count, points))


def bounds_of(frames) -> tuple[np.ndarray, np.ndarray]:
    from gpurender.pointcloud.frames import column_bounds

    lo, hi = zip(*(column_bounds(f["points"]) for f in frames))
    return np.min(lo, axis=0), np.max(hi, axis=0)


def breakdown(frames: list[dict], tmp: Path, width: int, height: int, fps: int, repeats: int) -> dict:
    """Where one export's CPU time per frame goes: the whole export, without the title, with a
    single point per frame (the pipeline's fixed cost: layers, compositor, YUV, readback, encoder on
    a nearly empty picture), and the encoder alone fed the very I420 frames of the whole export."""
    import av
    import gpurender
    from gpurender.encode import EncodeSettings, VideoWriter

    def export(fr, **kw):
        out = tmp / "breakdown.mp4"
        return lambda: gpurender.export_point_cloud_video(fr, out, fps, resolution=(width, height), progress=False,
                                                          **kw).frames

    one_point = [{"points": f["points"][:1]} for f in frames]
    parts = {
        "export": export(frames),
        "export_no_title": export(frames, title=None),
        "export_one_point": export(one_point, bounds=bounds_of(frames)),
    }
    out = {name: median_rate([timed_cpu(fn) for _ in range(repeats)]) for name, fn in parts.items()}
    gpurender.export_point_cloud_video(frames, tmp / "source.mp4", fps, resolution=(width, height), progress=False)
    with av.open(str(tmp / "source.mp4")) as c:
        i420 = [f.to_ndarray(format="yuv420p").reshape(-1) for f in c.decode(video=0)]
    settings = EncodeSettings(width=width, height=height, fps=fps)

    def encode() -> int:
        with VideoWriter(tmp / "encoded.mp4", settings) as writer:
            for frame in i420:
                writer.write(frame.copy())
        return len(i420)

    out["encoder_alone"] = median_rate([timed_cpu(encode) for _ in range(repeats)])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", default="10000,100000,1000000", help="comma-separated point counts per frame")
    parser.add_argument("--resolution", default="640x480", help="WxH of both videos (matplotlib's default figure)")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3, help="timed gpurender runs per point count (median)")
    parser.add_argument("--frames-scale", type=float, default=1.0, help="multiply every frame count")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the CPU-time breakdown at the first count")
    parser.add_argument("--machine", default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    import gpurender
    from gpurender.settings import parse_resolution

    width, height = parse_resolution(args.resolution)
    counts = [int(p) for p in args.points.split(",")]
    load_before = load_average()
    adapter = describe_adapter()
    tmp = Path(tempfile.mkdtemp(prefix="bench-pointcloud-"))
    started = time.perf_counter()
    warm = gpurender.export_point_cloud_video(frames_for(1000, 2), tmp / "warm.mp4", args.fps,
                                              resolution=(width, height), progress=False)
    startup_s = time.perf_counter() - started

    rows, results, parts = [], [], None
    baseline_writer: set[str] = set()  # OpenCV mp4v, or PyAV's mpeg4 where OpenCV is missing
    for n in counts:
        ours_frames, base_frames = (max(2, round(c * args.frames_scale)) for c in FRAMES.get(n, (20, 3)))
        frames = frames_for(n, max(ours_frames, base_frames))
        lo, hi = bounds_of(frames)
        out = tmp / f"gpurender-{n}.mp4"

        def ours() -> int:
            return gpurender.export_point_cloud_video(frames[:ours_frames], out, args.fps, resolution=(width, height),
                                                      progress=False).frames

        ours_rate = median_rate([timed_cpu(ours) for _ in range(max(1, args.repeats))])
        def baseline() -> int:
            result = render_baseline(frames[:base_frames], str(tmp / f"baseline-{n}.mp4"), width, height, args.fps,
                                     bounds=(lo, hi))
            baseline_writer.add(result["writer"])
            return result["frames"]

        base_rate = timed_cpu(baseline)
        speedup = ratio(ours_rate["fps"], base_rate["fps"], 1)
        cpu_speedup = ratio(base_rate["cpu_ms_per_frame"], ours_rate["cpu_ms_per_frame"], 1)
        results.append({"points": n, "gpurender": ours_rate, "baseline": base_rate, "speedup": speedup,
                        "cpu_time_speedup": cpu_speedup})
        rows.append([n, ours_rate["frames"], ours_rate["fps"], ours_rate["cpu_ms_per_frame"], base_rate["frames"],
                     base_rate["fps"], base_rate["cpu_ms_per_frame"], speedup, cpu_speedup])
        if parts is None and not args.no_breakdown:
            parts = {"points": n, **breakdown(frames[:ours_frames], tmp, width, height, args.fps, args.repeats)}
        del frames

    print(f"\npoint-cloud sequence to MP4 at {width}x{height}, {args.fps} fps; adapter {adapter['summary']}; "
          f"encoder {warm.encoder}; baseline writer {', '.join(sorted(baseline_writer))}; "
          f"gpurender start-up {startup_s:.1f} s (once per process)\n")
    print_table(["points/frame", "ours frames", "ours fps", "ours CPU ms/frame", "baseline frames", "baseline fps",
                 "baseline CPU ms/frame", "speed-up", "CPU-time speed-up"], rows)
    if parts:
        print(f"\nwhere gpurender's time goes at {parts['points']} points per frame (CPU ms per frame, all threads):\n")
        print_table(["measurement", "fps", "CPU ms/frame"],
                    [[name, r["fps"], r["cpu_ms_per_frame"]] for name, r in parts.items() if name != "points"])
    data = {
        "benchmark": "pointcloud",
        "description": "export_point_cloud_video vs matplotlib 3D scatter + PNG + OpenCV mp4v, same frames and size",
        "command": command_line(),
        "machine": describe_machine(),
        "adapter": adapter,
        "encoder": {"gpurender": warm.encoder, "notice": warm.encoder_notice, "baseline": ", ".join(sorted(baseline_writer))},
        "resolution": [width, height],
        "fps": args.fps,
        "repeats": args.repeats,
        "startup_s": round(startup_s, 2),
        "load_average": {"before": load_before, "after": load_average()},
        "targets_speedup": TARGETS,
        "results": results,
        "breakdown": parts,
    }
    slug = args.machine or machine_slug(adapter["name"], adapter["software"])
    path = write_json(Path(args.out) if args.out else RESULTS / f"pointcloud-{slug}.json", data)
    print(f"\nwrote {path}")
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()


if __name__ == "__main__":
    main()
