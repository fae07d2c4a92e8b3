"""Memory of whole renders, for every layer type and the compositor's blend modes: flat with length.

Every render runs in a fresh child process, through the public API as a user runs it: the audio
decoded from a WAV file (``load_audio``), then ``render_video`` to an MP4 (analysis, frame loop,
encoder, mux). The point-sequence scenes go through ``export_point_cloud_video`` with frames made
on the fly and no audio. Per scene, three renders at a small size:

* ``10s_of_60s``: the first 10 s of a 60 s track, and ``60s``: all of it. Both hold the same track
  and features, so they differ only in how many frames pass through the frame loop: the loop's
  peak (``VmHWM`` from the first frame to the last) and the process's peak of the 60 s render must
  be within 10% of the 10 s one. ``loop_kb_per_frame`` is the difference per extra frame.
* ``10s``: a 10 s track. Against ``60s`` it shows how the whole process grows with the track: by
  no more than what a render holds for its whole duration (``held_mb``): the decoded samples
  (float32), their mono mix, the features, and on a software adapter the feature tables copied to
  the GPU (which then live in the same memory), with 5 MB of slack.

Then the same for one long render (``--long-seconds``, 10 minutes by default) of one scene
(``--long-scene``): 10 s of the long track, all of it, and the 10 s track.

The peak of the whole process is the highest of its steps' peaks: within the child, ``VmHWM`` is
reset at each step (through ``/proc/self/clear_refs``) to say which step sets it, and a reset also
clears what the kernel reports as the child's ``ru_maxrss`` (``common.run_for_peak_rss``), which
then covers only the last step. The steps: ``decode`` (``load_audio``), ``setup`` (analysis, pipelines; up to the first frame),
``frame_loop`` (render, convert, read back, encode; to the last frame) and ``finish`` (encoder
flush, mux, verification).

Scenes (160x90 at 30 fps by default; ``--scenes`` picks some): ``points``, ``spectrum``,
``waveform``, ``text`` (changing every frame), ``image`` (scaled with the bass, so filtered),
``particles``, ``shader`` (``examples/shaders/rings.wgsl``), ``blend`` (17 spectrum layers, one per
blend mode of the compositor), ``waveform_text`` (the long run's scene), ``particles_example``
(``examples/particles.toml``), ``effects`` (bloom, trails, blur, vignette and grain over a spectrum),
``pointseq`` (the point-sequence layer with a title, sprites through
the compositor) and ``pointvideo`` (the direct I420 point path with a title; these two have no
audio, so their runs are a 10 s and a 60 s sequence).

Usage::

    python benchmarks/bench_memory.py                      # every scene + the 10-minute run (~8-12 min on 2 cores)
    python benchmarks/bench_memory.py --scenes waveform,text --long-seconds 0
    python benchmarks/bench_memory.py --size 320x180 --fps 60 --out /tmp/memory.json

Prints a table and writes ``benchmarks/results/memory-<machine>.json`` (``--out`` elsewhere),
naming the machine, the adapter and the encoder; ``--table FILE`` prints a results file's table again.
``--child`` is the child process it starts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    ROOT,
    RESULTS,
    command_line,
    describe_adapter,
    describe_encoder,
    describe_machine,
    load_average,
    machine_slug,
    print_table,
    proc_status_mb,
    ratio,
    reset_peak_rss,
    run_for_peak_rss,
    write_json,
)

from gpurender.progress import Progress  # noqa: E402

AUDIO_MARGIN_S = 0.5  # the track runs past the rendered span, as a real song would
TARGET_LOOP_GROWTH = 1.10  # the frame loop's memory for 60 s within 10% of 10 s
SLACK_MB = 5.0  # allocator arenas and page granularity move a peak by a few MB between runs
POINT_SCENES = {"pointseq": "blend", "pointvideo": "depth"}  # export_point_cloud_video draw modes
BASS = {"feature": "bass", "scale": 0.5, "offset": 0.6}


def scene_layers(image: str) -> dict:
    """Layers of each scene-file scene by name (``image``: the PNG the image scene shows)."""
    from gpurender.render.compositor import BLEND_MODES

    waveform = {"type": "waveform", "style": "filled", "thickness": 1.5, "gain": 2.0}
    text = {"type": "text", "text": "{time:.2f} s  frame {frame}", "size": 14, "x": 0.03, "y": 0.95,
            "anchor": "top-left"}
    return {
        "points": [{"type": "points", "shape": "sphere", "count": 3000, "spin": 20,
                    "size": {"feature": "bass", "scale": 2.0, "offset": 1.5}}],
        "spectrum": [{"type": "spectrum", "bars": 64}],
        "waveform": [waveform],
        "text": [text],
        "image": [{"type": "image", "file": image, "scale": BASS}],
        "particles": [{"type": "particles", "count": 4000, "rate": 1500, "burst": 200}],
        "shader": [{"type": "shader", "file": str(ROOT / "examples" / "shaders" / "rings.wgsl"),
                    "param1": BASS, "param2": 14.0}],
        "blend": [{"type": "spectrum", "bars": 16, "blend": mode, "opacity": 0.8} for mode in BLEND_MODES],
        "waveform_text": [waveform, text],
        # every effect layer, bound to the music, over a spectrum (trails keeps state across frames)
        "effects": [{"type": "spectrum", "bars": 32, "style": "radial"},
                    {"type": "trails", "decay": 0.3, "zoom": 0.02, "rotate": 10.0},
                    {"type": "bloom", "threshold": 0.5, "intensity": BASS, "radius": 0.05},
                    {"type": "blur", "radius": 0.002, "opacity": 0.5},
                    {"type": "vignette"},
                    {"type": "grain", "amount": 0.05}],
    }


SCENES = (*scene_layers(""), "particles_example", *POINT_SCENES)


def load_scene(name: str, workdir: Path):
    from gpurender.scene import load_scene as load_file, scene_from_dict

    if name == "particles_example":
        return load_file(ROOT / "examples" / "particles.toml")
    image = workdir / "picture.png"
    if not image.exists():
        import numpy as np
        from PIL import Image

        yy, xx = np.mgrid[0:180, 0:320]
        rgba = np.stack([xx * 255 // 319, yy * 255 // 179, (xx ^ yy) & 255, np.full_like(xx, 255)], -1)
        Image.fromarray(rgba.astype(np.uint8)).save(image)
    return scene_from_dict({"background": "#07060d", "layers": scene_layers(str(image))[name]},
                           source=str(workdir / f"{name}.toml"))


# -- the child: one render, its memory at each phase ------------------------------------------------


class Marks(Progress):
    """A quiet Progress that takes the peak RSS of each step of a render (``VmHWM``, then a reset)."""

    STEPS = {"rendering": "setup", "encoding": "frame_loop"}  # a phase that begins ends this step

    def __init__(self, marks: dict):
        super().__init__(quiet=True)
        self.marks = marks

    def phase(self, name, total=None, detail=""):
        m = self.marks
        step = self.STEPS.get(name)
        if step is not None and f"{step}_peak_mb" not in m:
            m[f"{step}_peak_mb"] = proc_status_mb("VmHWM")
            m[f"rss_{'loop_start' if step == 'setup' else 'loop_end'}_mb"] = proc_status_mb("VmRSS")
            reset_peak_rss()
        super().phase(name, total, detail)


def _point_frames(count: int, n_points: int = 2000):
    import numpy as np

    rng = np.random.default_rng(0)
    base = rng.normal(size=(n_points, 3)).astype(np.float32) * 0.4
    for i in range(count):  # a new cloud every frame, as a recorded sequence gives
        yield {"points": base + np.float32(0.05 * np.sin(i / 10.0)) * rng.standard_normal((n_points, 3), np.float32)}


def _count_gpu_tables(tables: dict) -> None:
    """Note the size of every feature table the layers copy to the GPU (instrumentation only)."""
    from gpurender.render.layers.base import RenderContext

    upload = RenderContext.feature_buffer

    def counted(self, name):
        buf = upload(self, name)
        tables[name] = int(buf.size)
        return buf

    RenderContext.feature_buffer = counted


def child(name: str, seconds: float, size: str, fps: int, wav: str | None) -> dict:
    """Render the first ``seconds`` of scene ``name`` over ``wav`` in this process; its memory by step."""
    from gpurender.render.device import adapter_info
    from gpurender.settings import parse_resolution

    w, h = parse_resolution(size)
    marks: dict = {"scene": name, "rss_start_mb": proc_status_mb("VmRSS")}
    tables: dict = {}
    _count_gpu_tables(tables)
    with tempfile.TemporaryDirectory(prefix="gpurender-mem-") as tmp:
        out = Path(tmp) / "out.mp4"
        if name in POINT_SCENES:
            from gpurender.pointcloud.export import export_point_cloud_video

            n = int(round(seconds * fps))
            reset_peak_rss()
            t0 = time.perf_counter()
            result = export_point_cloud_video(_point_frames(n), out, fps, resolution=f"{w}x{h}",
                                              draw=POINT_SCENES[name], n_frames=n,
                                              bounds=((-2, -2, -2), (2, 2, 2)), progress=Marks(marks))
            marks["finish_peak_mb"] = proc_status_mb("VmHWM")
            marks["seconds"] = round(time.perf_counter() - t0, 2)
            marks.update(audio_mb=0.0, mono_mb=0.0, features_mb=0.0)
        else:
            import gpurender.pipeline as pipeline
            from gpurender.audio import load_audio
            from gpurender.settings import RenderSettings

            # What render_video holds for the whole render besides the track: the features it analyses.
            analysed = {}
            analyse = pipeline.analyse

            def measured(*a, **k):
                features = analyse(*a, **k)
                held = [v for v in vars(features).values() if hasattr(v, "nbytes")]
                held += list(features.scalars.values())  # the per-frame scalars, a dict of arrays
                analysed["mb"] = round(sum(v.nbytes for v in held) / 2**20, 1)
                return features

            pipeline.analyse = measured

            scene = load_scene(name, Path(tmp))
            reset_peak_rss()
            audio = load_audio(wav)
            marks["decode_peak_mb"] = proc_status_mb("VmHWM")
            reset_peak_rss()
            settings = RenderSettings(width=w, height=h, fps=fps, duration=seconds)
            t0 = time.perf_counter()
            result = pipeline.render_video(scene, audio, out, settings, progress=Marks(marks))
            marks["finish_peak_mb"] = proc_status_mb("VmHWM")
            marks["seconds"] = round(time.perf_counter() - t0, 2)
            marks["track_seconds"] = round(audio.duration, 2)
            marks["audio_mb"] = round(audio.samples.nbytes / 2**20, 1)
            # The mono mix is cached on the AudioData once the analysis made it.
            mono = audio.__dict__.get("mono")
            marks["mono_mb"] = round(mono.nbytes / 2**20, 1) if mono is not None else 0.0
            marks["features_mb"] = analysed["mb"]
        marks["frames"] = result.frames
        marks["encoder"] = result.encoder
    marks["gpu_tables_mb"] = round(sum(tables.values()) / 2**20, 1)
    # On a software adapter "GPU" buffers are this process's memory too.
    gpu_held = marks["gpu_tables_mb"] if adapter_info().is_software else 0.0
    marks["held_mb"] = round(marks["audio_mb"] + marks["mono_mb"] + marks["features_mb"] + gpu_held, 1)
    steps = {k[:-len("_peak_mb")]: marks[k] for k in ("decode_peak_mb", "setup_peak_mb", "frame_loop_peak_mb",
                                                       "finish_peak_mb") if marks.get(k) is not None}
    marks["peak_step"] = max(steps, key=steps.get)
    if "rss_loop_start_mb" in marks and "frame_loop_peak_mb" in marks:
        marks["frame_loop_increment_mb"] = round(marks["frame_loop_peak_mb"] - marks["rss_loop_start_mb"], 1)
    return marks


# -- the parent -------------------------------------------------------------------------------------


def write_track(workdir: Path, seconds: float) -> str:
    """The demo track as a 16-bit WAV (decoded by the child as a user's file would be)."""
    import soundfile

    from gpurender.audio import demo_track

    path = workdir / f"track-{seconds:g}s.wav"
    if not path.exists():
        audio = demo_track(seconds + AUDIO_MARGIN_S)
        soundfile.write(str(path), audio.samples, audio.sample_rate, subtype="PCM_16")
    return str(path)


def run_child(name: str, seconds: float, track: float | None, size: str, fps: int, workdir: Path,
              log=print) -> dict:
    """One render in a fresh process: the first ``seconds`` of a ``track``-second demo track."""
    args = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--child-seconds", str(seconds),
            "--size", size, "--fps", str(fps)]
    if name not in POINT_SCENES:
        args += ["--child-wav", write_track(workdir, track)]
    got = run_for_peak_rss(args, timeout=3600)
    if got["returncode"] != 0:
        raise SystemExit(f"{name} {seconds:g} s failed ({got['returncode']}):\n{got['stderr']}")
    res = json.loads(got["stdout"].strip().splitlines()[-1])
    # The kernel's peak for the child (ru_maxrss) only covers the time since the child last reset
    # VmHWM (at each step), so the process's peak is the highest of the steps' peaks and it.
    steps = [res[k] for k in ("decode_peak_mb", "setup_peak_mb", "frame_loop_peak_mb", "finish_peak_mb")
             if res.get(k) is not None]
    res["peak_rss_mb"] = max([got["peak_rss_mb"], *steps])
    of = f" of {track:g} s" if name not in POINT_SCENES and track != seconds else ""
    log(f"  {name:18s} {seconds:g} s{of:9s} ({res['frames']:6d} frames, {res['seconds']:6.1f} s): peak RSS "
        f"{res['peak_rss_mb']:6.1f} MB (in {res['peak_step']}), frame loop peak {res.get('frame_loop_peak_mb')} MB, "
        f"holds {res['held_mb']} MB", flush=True)
    return res


def scene_runs(name: str, short: float, long_: float, size: str, fps: int, workdir: Path) -> dict:
    """The short span of the long track, all of the long track, and (with audio) the short track."""
    runs = {f"{short:g}s_of_{long_:g}s": run_child(name, short, long_, size, fps, workdir),
            f"{long_:g}s": run_child(name, long_, long_, size, fps, workdir)}
    if name not in POINT_SCENES:
        runs[f"{short:g}s"] = run_child(name, short, short, size, fps, workdir)
    return runs


def compare(runs: dict) -> dict:
    """The frame loop flat with frame count; the whole process growing only by what it holds."""
    span, full, *rest = runs.values()
    short = rest[0] if rest else span  # without audio the short span is the short render
    extra_frames = max(full["frames"] - span["frames"], 1)
    out = {
        "frames": [span["frames"], full["frames"]],
        "frame_loop_peak_mb": [span.get("frame_loop_peak_mb"), full.get("frame_loop_peak_mb")],
        "frame_loop_growth": ratio(full.get("frame_loop_peak_mb"), span.get("frame_loop_peak_mb")),
        "loop_kb_per_frame": round((full["frame_loop_peak_mb"] - span["frame_loop_peak_mb"]) * 1024 / extra_frames, 2),
        "same_track_peak_rss_mb": [span["peak_rss_mb"], full["peak_rss_mb"]],
        "same_track_peak_growth": ratio(full["peak_rss_mb"], span["peak_rss_mb"]),
        "peak_rss_mb": [short["peak_rss_mb"], full["peak_rss_mb"]],
        "process_growth_mb": round(full["peak_rss_mb"] - short["peak_rss_mb"], 1),
        "held_growth_mb": round(full["held_mb"] - short["held_mb"], 1),
        "peak_step": full["peak_step"],
    }
    out["unexplained_growth_mb"] = round(out["process_growth_mb"] - out["held_growth_mb"], 1)
    # How much of that was there before the first frame (decode, analysis, renderer set-up with
    # its feature tables).
    if "rss_loop_start_mb" in full and "rss_loop_start_mb" in short:
        out["excess_at_first_frame_mb"] = round(full["rss_loop_start_mb"] - short["rss_loop_start_mb"]
                                                - out["held_growth_mb"], 1)
    out["frame_loop_flat"] = (out["frame_loop_growth"] or 99) <= TARGET_LOOP_GROWTH and \
        (out["same_track_peak_growth"] or 99) <= TARGET_LOOP_GROWTH
    out["process_within_held"] = out["unexplained_growth_mb"] <= SLACK_MB
    return out


def git_revision() -> str | None:
    import subprocess

    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenes", default=",".join(SCENES), help=f"comma-separated, of: {', '.join(SCENES)}")
    ap.add_argument("--seconds", default="10,60", help="the short and the long render of each scene")
    ap.add_argument("--size", default="160x90")
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--long-scene", default="waveform_text", help="the scene of the long run")
    ap.add_argument("--long-seconds", type=float, default=600.0, help="length of the long run; 0 skips it")
    ap.add_argument("--long-fps", type=int, default=None, help="frame rate of the long run (default --fps)")
    ap.add_argument("--machine", default=None, help="name used in the results file")
    ap.add_argument("--revision", default=None,
                    help="the code's commit, for the results (default: the checkout's HEAD, '+dirty' if changed)")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/memory-<machine>.json)")
    ap.add_argument("--table", metavar="JSON", default=None,
                    help="recompute the derived figures of a results file from its runs, print its table and exit")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-seconds", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-wav", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        print(json.dumps(child(args.child, args.child_seconds, args.size, args.fps, args.child_wav)))
        return 0
    if args.table:
        results = json.loads(Path(args.table).read_text())
        summarise(results)
        print_results(results)
        write_json(Path(args.table), results)
        return 0

    scenes = [s.strip() for s in args.scenes.split(",") if s.strip()]
    unknown = [s for s in scenes + [args.long_scene] if s not in SCENES]
    if unknown:
        raise SystemExit(f"unknown scene {unknown[0]!r}; use {', '.join(SCENES)}")
    short_s, long_s = (float(x) for x in args.seconds.split(","))
    long_fps = args.long_fps or args.fps

    from gpurender.encode import EncodeSettings, choose_encoder
    from gpurender.settings import RenderSettings, parse_resolution

    w, h = parse_resolution(args.size)
    adapter = describe_adapter()
    machine = args.machine or machine_slug(adapter["name"], adapter["software"])
    out = Path(args.out) if args.out else RESULTS / f"memory-{machine}.json"
    choice = choose_encoder(EncodeSettings(width=w, height=h, fps=args.fps, format="mp4",
                                           quality=RenderSettings().quality))
    started = time.perf_counter()
    results = {
        "benchmark": "memory of whole renders, every layer type (issue 11)",
        "command": command_line(),
        "revision": args.revision or git_revision(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": {"name": machine, **describe_machine()},
        "adapter": adapter,
        "encoder": describe_encoder(choice),
        "load_average_start": load_average(),
        "config": {"size": args.size, "fps": args.fps, "seconds": [short_s, long_s], "scenes": scenes,
                   "long": {"scene": args.long_scene, "seconds": args.long_seconds, "fps": long_fps},
                   "target_frame_loop_growth": TARGET_LOOP_GROWTH, "slack_mb": SLACK_MB},
        "complete": False,
        "scenes": {},
    }
    print(f"gpurender memory benchmark; adapter {adapter['summary']}; encoder {choice.name}; "
          f"{args.size} at {args.fps} fps; load {results['load_average_start']}", flush=True)
    with tempfile.TemporaryDirectory(prefix="gpurender-membench-") as tmp:
        workdir = Path(tmp)
        for name in scenes:
            runs = scene_runs(name, short_s, long_s, args.size, args.fps, workdir)
            results["scenes"][name] = {"runs": runs, **compare(runs)}
            write_json(out, results)  # what is done so far survives an interrupted run
        if args.long_seconds > 0:
            print(f"long run: {args.long_scene}, {args.long_seconds:g} s at {long_fps} fps", flush=True)
            runs = scene_runs(args.long_scene, short_s, args.long_seconds, args.size, long_fps, workdir)
            results["long"] = {"scene": args.long_scene, "fps": long_fps, "runs": runs, **compare(runs)}
    results["load_average_end"] = load_average()
    results["seconds"] = round(time.perf_counter() - started, 1)
    summarise(results)
    results["complete"] = True
    print_results(results)
    print(f"\n{results['seconds']:.0f} s; load average {results['load_average_start']} -> {results['load_average_end']}")
    print(f"wrote {write_json(out, results)}")
    return 0


def summarise(results: dict) -> None:
    """(Re)compute every derived figure of ``results`` from its runs."""
    for entry in [*results["scenes"].values(), *([results["long"]] if "long" in results else [])]:
        entry.update(compare(entry["runs"]))
    entries = _entries(results)
    results["all_frame_loops_flat"] = all(e["frame_loop_flat"] for _, e in entries)
    results["all_within_held"] = all(e["process_within_held"] for _, e in entries)


def _entries(results: dict) -> list:
    entries = list(results["scenes"].items())
    if "long" in results:
        entries.append((f"{results['long']['scene']} {results['config']['long']['seconds']:g} s", results["long"]))
    return entries


def print_results(results: dict) -> None:
    rows = []
    for name, e in _entries(results):
        rows.append([name, f"{e['frames'][0]}/{e['frames'][1]}", *e["frame_loop_peak_mb"], e["frame_loop_growth"],
                     e["loop_kb_per_frame"], e["same_track_peak_growth"], "yes" if e["frame_loop_flat"] else "NO",
                     *e["peak_rss_mb"], e["process_growth_mb"], e["held_growth_mb"], e.get("excess_at_first_frame_mb"),
                     "yes" if e["process_within_held"] else "NO", e["peak_step"]])
    cfg = results["config"]
    print(f"\n{cfg['size']} at {cfg['fps']} fps; frame loop: {cfg['seconds'][0]:g} s against {cfg['seconds'][1]:g} s "
          f"of the same track; process: the {cfg['seconds'][0]:g} s track against the long one")
    print_table(["scene", "frames", "loop peak MB", "(long)", "x", "KB/frame", "peak x", "flat",
                 "peak MB short track", "(long)", "growth MB", "held MB", "excess at frame 0", "within", "peak in"],
                rows)

if __name__ == "__main__":
    raise SystemExit(main())
