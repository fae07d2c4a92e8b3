"""Benchmark of the live preview page's cost to a render: the same render with and without --preview.

Renders the demo scene (``gpurender demo``'s) over the built-in synthesized track, end to end
(analysis, frame loop, encoder, mux, verification), ``--repeats`` times in each of three cases,
after one untimed warm-up run of each:

* ``off``             no preview;
* ``preview``         the page served (``Progress(preview=...)``, the frames tapped), nobody looking;
* ``preview+viewer``  the page served and a viewer doing what the page's script does, in a process
                      of its own as a browser would be: ``/progress.json`` every 0.5 s and
                      ``/frame.jpg`` whenever a newer frame is offered (so the server converts a
                      frame to JPEG up to 2 times a second, the most the page asks for).

The cases run round-robin (each once per round), so a change in a shared machine's load touches
them alike. Reported per case: the median wall time of the whole call and the median frames per
second of the rendering phase (from the "rendering" phase to "encoding"), the median CPU time of
the whole process meanwhile (every thread: the software adapter's, the encoder's, the server's),
and each preview case's ratio to ``off`` (median over median). On a machine shared with other
work the wall times move with its load (and so, less, does the CPU time), so the preview's own
cost is also measured directly, whatever the load:

* ``server_cpu_share_with_viewer``: the CPU time the page's server threads spent answering the
  viewer (``time.thread_time`` around each request: JSON, JPEG conversion, sending), as a share
  of the whole process's CPU time during the render; and the same per second of render;
* ``tap_us_per_frame``: what the preview adds to the render thread per frame (the frame offered
  by reference, the progress event forwarded), timed on a stand-in source that does no work
  (best of 5 loops of 20,000 frames, with against without), and its share of a frame's time;
* ``jpeg_ms_per_frame``: one frame of this size to the page's JPEG, alone (median of 20). Also the time one frame's JPEG takes alone
(``frame_to_rgb`` + ``rgb_to_jpeg``, median of 20), the cost the viewer adds at most twice a second.

Usage::

    python benchmarks/bench_preview.py                        # 1280x720, 30 fps, 8 s, 3 repeats
    python benchmarks/bench_preview.py --resolution 1920x1080 --seconds 5 --repeats 5

Writes ``benchmarks/results/preview-<machine>.json`` (machine = adapter and CPU count, or
``--machine``) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (RESULTS, ROOT, command_line, describe_adapter, describe_machine,  # noqa: E402
                    load_average, machine_slug, print_table, ratio, write_json)

from gpurender.audio import demo_track  # noqa: E402
from gpurender.pipeline import render_video  # noqa: E402
from gpurender.preview import Preview, TappedRecipe, _Handler, frame_to_rgb, rgb_to_jpeg  # noqa: E402
from gpurender.progress import Progress  # noqa: E402
from gpurender.scene import load_scene  # noqa: E402
from gpurender.scene.loader import default_scene_path  # noqa: E402
from gpurender.settings import RenderSettings, parse_resolution  # noqa: E402


# The viewer runs in a process of its own, as a browser would: its CPU time is not the render's.
VIEWER = r"""
import json, signal, sys, time, urllib.request
url, interval = sys.argv[1], float(sys.argv[2])
polls = jpegs = size = 0
shown = None
running = [True]
signal.signal(signal.SIGTERM, lambda *a: running.__setitem__(0, False))
print("ready", flush=True)
while running[0]:
    try:
        with urllib.request.urlopen(url + "progress.json", timeout=5) as r:
            state = json.load(r)
        polls += 1
        frame = state.get("frame")
        if frame and frame["seq"] != shown:
            shown = frame["seq"]
            with urllib.request.urlopen(url + "frame.jpg?seq=" + str(shown), timeout=5) as r:
                size += len(r.read())
            jpegs += 1
    except OSError:
        pass
    time.sleep(interval)
print(json.dumps({"polls": polls, "jpegs": jpegs, "bytes": size}), flush=True)
"""


class Viewer:
    """Polls the page's two endpoints as its script does (every 0.5 s), in another process."""

    def __init__(self, url: str, interval: float = 0.5):
        self.proc = subprocess.Popen([sys.executable, "-c", VIEWER, url, str(interval)], stdout=subprocess.PIPE,
                                     text=True)
        assert self.proc.stdout.readline().strip() == "ready"
        self.polls = self.jpegs = self.jpeg_bytes = 0

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        counts = json.loads(out.strip().splitlines()[-1])
        self.polls, self.jpegs, self.jpeg_bytes = counts["polls"], counts["jpegs"], counts["bytes"]


class PhaseClock:
    """A progress callback noting when the rendering phase starts and ends."""

    def __init__(self):
        self.start = self.end = None
        self.frames = 0

    def __call__(self, event):
        if event.kind == "phase" and event.phase == "rendering":
            self.start = time.perf_counter()
        elif event.kind == "phase" and event.phase == "encoding" and self.end is None:
            self.end = time.perf_counter()
        elif event.kind == "frames":
            self.frames = event.done


class ServerClock:
    """The CPU time the page's server threads spend answering (``time.thread_time`` around each
    request's handling): what the page costs, whatever else the machine is doing."""

    def __init__(self):
        self.seconds = 0.0
        self.requests = 0
        self._lock = __import__("threading").Lock()
        original = _Handler.handle
        clock = self

        def handle(handler):
            t0 = time.thread_time()
            try:
                original(handler)
            finally:
                with clock._lock:
                    clock.seconds += time.thread_time() - t0
                    clock.requests += 1

        _Handler.handle = handle

    def take(self) -> tuple[float, int]:
        with self._lock:
            out = (self.seconds, self.requests)
            self.seconds, self.requests = 0.0, 0
        return out


class _Frames:
    """A stand-in frame source: the same I420 frame again and again, no work."""

    def __init__(self, width, height):
        self.width, self.height = width, height
        self.frame = __import__("numpy").zeros(width * height * 3 // 2, "uint8")

    def frames(self, first, count, output="yuv420p", ring_depth=3):
        for i in range(first, first + count):
            yield i, self.frame

    def finish(self):
        return None


class _Recipe:
    def __init__(self, source):
        self.source = source

    def build(self):
        return self.source


def tap_cost_us(width: int, height: int, frames: int = 20000) -> float:
    """Microseconds the preview adds to each frame on the render thread: the frame offered to
    the page (by reference) and the progress event forwarded, against the same loop without."""
    def loop(preview):
        progress = Progress(quiet=True, preview=preview)
        progress.phase("rendering", total=frames)
        recipe = _Recipe(_Frames(width, height))
        source = (TappedRecipe(recipe, preview) if preview else recipe).build()
        t0 = time.perf_counter()
        for done, (_, _data) in enumerate(source.frames(0, frames), 1):
            progress.update(done)
        return time.perf_counter() - t0

    page = Preview("tap")
    best = {True: [], False: []}
    for _ in range(5):
        best[False].append(loop(None))
        best[True].append(loop(page))
    return round(1e6 * (min(best[True]) - min(best[False])) / frames, 2)


def jpeg_cost_ms(width: int, height: int, repeats: int = 20) -> float:
    """Median milliseconds to turn one I420 frame of this size into the page's JPEG."""
    rng = __import__("numpy").random.default_rng(0)
    frame = rng.integers(16, 235, size=width * height * 3 // 2, dtype="uint8")
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        rgb_to_jpeg(frame_to_rgb(frame, "yuv420p", width, height))
        times.append(time.perf_counter() - t0)
    return round(1000 * statistics.median(times), 2)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--resolution", default="1280x720")
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=8.0, help="length of the rendered video")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per case (after one warm-up)")
    ap.add_argument("--machine", default=None, help="name used in the results file")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/preview-<machine>.json)")
    args = ap.parse_args(argv)

    width, height = parse_resolution(args.resolution)
    settings = RenderSettings(width=width, height=height, fps=args.fps)
    audio = demo_track(duration=args.seconds)
    scene = load_scene(default_scene_path())
    frames = round(args.seconds * args.fps)
    work = Path(tempfile.mkdtemp(prefix="bench-preview-"))
    adapter = describe_adapter()
    machine = args.machine or machine_slug(adapter["name"], adapter["software"])
    print(f"adapter: {adapter['summary']}   machine: {machine}   {frames} frames at {width}x{height}, "
          f"{args.fps} fps", flush=True)
    counter = [0]
    server = ServerClock()

    def run(case: str) -> dict:
        counter[0] += 1
        out = work / f"run{counter[0]}.mp4"
        clock = PhaseClock()
        viewer = None
        t0, c0 = time.perf_counter(), time.process_time()
        if case == "off":
            result = render_video(scene, audio, out, settings, progress=Progress(quiet=True, callback=clock))
        else:
            with Preview(f"bench {case}") as page:
                if case == "preview+viewer":
                    viewer = Viewer(page.url)
                try:
                    result = render_video(scene, audio, out, settings,
                                          progress=Progress(quiet=True, callback=clock, preview=page))
                finally:
                    if viewer is not None:
                        viewer.stop()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        server_cpu, requests = server.take()
        out.unlink(missing_ok=True)
        return {"seconds": seconds, "cpu_s": cpu, "server_cpu_s": server_cpu, "requests": requests, "render_fps": clock.frames / (clock.end - clock.start),
                "encoder": result.encoder, "jpegs": viewer.jpegs if viewer else 0,
                "polls": viewer.polls if viewer else 0}

    cases = ("off", "preview", "preview+viewer")
    runs = {c: [] for c in cases}
    try:
        for c in cases:
            run(c)  # warm-up: pipelines compiled, encoder probed, caches filled
        for r in range(args.repeats):
            order = cases if r % 2 == 0 else tuple(reversed(cases))
            for c in order:
                runs[c].append(run(c))
                last = runs[c][-1]
                print(f"  round {r + 1} {c}: {last['seconds']:.2f} s, CPU {last['cpu_s']:.2f} s, "
                      f"rendering {last['render_fps']:.2f} fps"
                      + (f", {last['jpegs']} JPEGs and {last['requests']} requests served in "
                         f"{last['server_cpu_s']:.3f} s of CPU" if last["requests"] else ""), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    results_cases = []
    for c in cases:
        secs = [x["seconds"] for x in runs[c]]
        fps = [x["render_fps"] for x in runs[c]]
        cpu = [x["cpu_s"] for x in runs[c]]
        results_cases.append({
            "case": c, "frames": frames, "seconds_runs": [round(s, 3) for s in secs],
            "render_fps_runs": [round(f, 3) for f in fps], "median_s": round(statistics.median(secs), 3),
            "median_render_fps": round(statistics.median(fps), 3),
            "cpu_s_runs": [round(x, 3) for x in cpu], "median_cpu_s": round(statistics.median(cpu), 3), "encoder": runs[c][-1]["encoder"],
            "jpegs_served": [x["jpegs"] for x in runs[c]], "progress_polls": [x["polls"] for x in runs[c]],
            "server_cpu_s_runs": [round(x["server_cpu_s"], 4) for x in runs[c]],
            "server_cpu_share_runs": [round(x["server_cpu_s"] / x["cpu_s"], 5) for x in runs[c]],
        })
    by = {c["case"]: c for c in results_cases}
    base = by["off"]
    summary = {}
    for c in ("preview", "preview+viewer"):
        summary[f"slowdown_{c}_wall"] = ratio(by[c]["median_s"], base["median_s"])
        summary[f"slowdown_{c}_render_fps"] = ratio(base["median_render_fps"], by[c]["median_render_fps"])
        summary[f"cpu_{c}_over_off"] = ratio(by[c]["median_cpu_s"], base["median_cpu_s"])
    viewer_runs = runs["preview+viewer"]
    summary["server_cpu_share_with_viewer"] = round(
        statistics.median(x["server_cpu_s"] / x["cpu_s"] for x in viewer_runs), 5)
    summary["server_cpu_ms_per_second_with_viewer"] = round(
        statistics.median(1000 * x["server_cpu_s"] / x["seconds"] for x in viewer_runs), 2)
    summary["jpeg_ms_per_frame"] = jpeg_cost_ms(width, height)
    summary["tap_us_per_frame"] = tap_cost_us(width, height)
    summary["tap_share_of_frame_time"] = round(summary["tap_us_per_frame"] * 1e-6 * base["median_render_fps"], 6)
    rows = [[c["case"], c["frames"], c["median_s"], c["median_render_fps"], c["median_cpu_s"],
             ratio(c["median_s"], base["median_s"]), ratio(base["median_render_fps"], c["median_render_fps"]),
             ratio(c["median_cpu_s"], base["median_cpu_s"])]
            for c in results_cases]
    print()
    print_table(["case", "frames", "median s", "render fps", "CPU s", "wall x off", "frame time x off",
                 "CPU x off"], rows)
    print()
    for key, value in summary.items():
        print(f"{key}: {value}")
    results = {
        "benchmark": "preview",
        "command": command_line(),
        "machine": {"name": machine, **describe_machine(), "load_average": load_average()},
        "adapter": adapter,
        "settings": {"scene": str(Path(default_scene_path()).resolve().relative_to(ROOT))
                     if str(Path(default_scene_path()).resolve()).startswith(str(ROOT)) else "demo",
                     "width": width, "height": height, "fps": args.fps, "seconds": args.seconds,
                     "frames": frames, "repeats": args.repeats, "quality": settings.quality},
        "cases": results_cases,
        "summary": summary,
    }
    out = Path(args.out) if args.out else RESULTS / f"preview-{machine}.json"
    write_json(out, results)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
