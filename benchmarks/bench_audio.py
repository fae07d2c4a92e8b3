"""Benchmark of the audio analysis stage: batched FFT over all frames versus a per-frame loop.

The workload is issue 3's: a 10-minute stereo 48 kHz track (the built-in demo music) analysed at
120 fps (72,001 frames, window ends at ``round(i * 48000 / 120)``) with an FFT of 4096 samples.
Variants, each run in a fresh Python process so that its peak memory is its own:

* ``numpy_batched``          :func:`gpurender.audio.analyze` on NumPy/SciPy, default settings
                             (every feature, the full ``[frames, 2049]`` spectrum kept);
* ``numpy_batched_nospec``   the same with ``keep_spectrum=False`` (bands and scalars only), which
                             shows the working memory of the blocked FFT itself;
* ``numpy_batched_webaudio`` the Web Audio mode (float64, smoothing, bytes), ``keep_spectrum=False``;
* ``numpy_loop``             the way a naive exporter does it: a Python loop over frames, one
                             ``np.fft.rfft`` per frame, computing the same spectrum, bands, RMS and
                             peak. It is *sampled*: ``--loop-frames`` frames spread evenly over the
                             track are timed and the time is extrapolated to all frames (the
                             output says so). Its spectra are checked against the batched ones;
* ``cupy_batched`` / ``cupy_batched_nospec``  the batched analysis on CuPy, when a CUDA device
                             is usable (skipped otherwise, and the JSON says why).

Reported per variant (best of ``--repeats`` rounds; the variants take turns, round-robin, so
that load from other work on a shared machine falls on all alike): wall and CPU seconds of a warm
run (the second in its process), ``cold_seconds`` of the first run in a fresh process, frames per
second, real-time factor, and peak memory two ways — ``rss_peak_mb``: the process's resident-set high-water mark during the
analysis above what it held just before (track, mono mix; Linux ``VmHWM`` after resetting it
through ``/proc/self/clear_refs``), and ``traced_peak_mb``: the peak of Python/NumPy allocations
traced by ``tracemalloc`` during a separate run. Both include the output arrays; ``output_mb``
gives their size. On CuPy, ``gpu_pool_mb`` is CuPy's memory pool after the run.

``--beats`` measures the beat tracker instead (issue 13): its cost on a ``--beat-minutes`` (3)
minute demo track at 60 fps, stage by stage (its own batched FFT at 100 frames a second; tempo,
dynamic programming and downbeats; mapping to frames), best of ``--repeats``, beside the whole
analysis of the same track; and its accuracy on the generated tracks with known beats that
tests/test_audio_beats.py uses (found, extras, largest and median timing error; counted as
:func:`gpurender.audio.synth.score_beats` says). It writes the ``beat_tracker`` entry of the
results file and keeps the rest of it.

Usage::

    python benchmarks/bench_audio.py                          # issue 3's workload (a few minutes)
    python benchmarks/bench_audio.py --minutes 1 --repeats 1  # a quick look
    python benchmarks/bench_audio.py --out benchmarks/results/audio-mybox.json
    python benchmarks/bench_audio.py --beats                  # the beat tracker (about a minute)

Writes ``benchmarks/results/audio-<machine>.json`` (machine = CPU architecture and count, plus
the GPU when CuPy runs, or ``--machine``) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpurender.audio import AnalysisSettings, AudioData, analyze, cupy_status, demo_track  # noqa: E402
from gpurender.audio.analysis import make_plan  # noqa: E402

VARIANTS = (
    "numpy_batched", "numpy_batched_nospec", "numpy_batched_webaudio", "numpy_loop",
    "cupy_batched", "cupy_batched_nospec",
)


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # Linux >= 4.0: reset VmHWM to the current RSS
        return True
    except OSError:
        return False


def per_frame_loop(mono, sample_rate, fps, frames, settings, spectra=None):
    """A naive exporter: one FFT per frame in a Python loop (same window, scaling and bands)."""
    plan = make_plan(settings, sample_rate)
    size = settings.fft_size
    window = plan.window.astype(np.float32)
    weights = plan.band_weights.astype(np.float32)
    scale = 1.0 / (settings.max_decibels - settings.min_decibels)
    floor = 10.0 ** ((settings.min_decibels - 10.0) / 10.0)
    n = len(frames)
    bands = np.zeros((n, settings.n_bands), np.float32)
    rms = np.zeros(n, np.float32)
    peak = np.zeros(n, np.float32)
    for row, i in enumerate(frames):
        end = round(i * sample_rate / fps)
        start = end - size
        chunk = mono[max(start, 0):max(min(end, len(mono)), 0)]
        if len(chunk) < size:
            before = max(0, -start)
            chunk = np.pad(chunk, (before, size - len(chunk) - before))
        magnitude = np.abs(np.fft.rfft(chunk * window)) / size
        if spectra is not None:
            spectra[row] = magnitude
        energy = (magnitude * magnitude) @ weights
        decibels = 10.0 * np.log10(np.maximum(energy, floor))
        bands[row] = np.clip((decibels - settings.min_decibels) * scale, 0.0, 1.0)
        rms[row] = np.sqrt(np.mean(chunk * chunk))
        peak[row] = np.abs(chunk).max()
    return bands, rms, peak


def _settings(variant: str, fft_size: int) -> AnalysisSettings:
    backend = "cupy" if variant.startswith("cupy") else "numpy"
    mode = "webaudio" if variant.endswith("webaudio") else "default"
    keep = not (variant.endswith("nospec") or variant.endswith("webaudio"))
    return AnalysisSettings(fft_size=fft_size, mode=mode, keep_spectrum=keep, backend=backend)


def _output_mb(features) -> float:
    total = 0
    for value in [*vars(features).values(), *features.scalars.values()]:
        if isinstance(value, np.ndarray):
            total += value.nbytes
    return total / 2**20


def _timed(run):
    """Wall and CPU seconds (all threads of this process) of ``run()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = run()
    return time.perf_counter() - wall, time.process_time() - cpu, value


def worker(args) -> dict:
    """One timed run of one variant in this (fresh) process, plus memory checks if ``--memory``."""
    samples = np.load(args.track)
    audio = AudioData(samples, args.sample_rate)
    mono = audio.mono  # decoding and mixing are not part of the analysis being measured
    n_frames = int(args.minutes * 60 * args.fps) + 1
    settings = _settings(args.variant, args.fft)
    result = {"variant": args.variant}

    if args.variant == "numpy_loop":
        sample = np.unique(np.linspace(0, n_frames - 1, min(args.loop_frames, n_frames)).round().astype(np.int64))
        per_frame_loop(mono, args.sample_rate, args.fps, sample[:50], settings)  # warm-up
        scale = n_frames / len(sample)  # extrapolation from the sampled frames to all of them
        wall, cpu, _ = _timed(lambda: per_frame_loop(mono, args.sample_rate, args.fps, sample, settings))
        result.update(seconds=wall * scale, cpu_seconds=cpu * scale, loop_frames_timed=int(len(sample)))
        if args.memory:
            # Correctness: the loop's spectra equal the batched analysis' at the sampled frames.
            spectra = np.zeros((len(sample), args.fft // 2 + 1), np.float32)
            bands, rms, _ = per_frame_loop(mono, args.sample_rate, args.fps, sample, settings, spectra)
            check = analyze(audio, args.fps, n_frames, _settings("numpy_batched", args.fft))
            reference = check.spectrum[sample]
            result["max_rel_diff_spectrum_vs_batched"] = float(np.abs(spectra - reference).max() / reference.max())
            result["max_abs_diff_bands_vs_batched"] = float(np.abs(bands - check.bands[sample]).max())
            result["max_abs_diff_rms_vs_batched"] = float(np.abs(rms - check.rms[sample]).max())
            del check, reference
            # The loop's own working set over the sample; keeping its outputs for all frames adds
            # n_frames * (bands + 2) floats (output_mb), or n_frames * 2049 more to keep spectra.
            _reset_peak_rss()
            base = _status_kb("VmRSS")
            per_frame_loop(mono, args.sample_rate, args.fps, sample, settings)
            result["rss_peak_mb"] = max(0, _status_kb("VmHWM") - base) / 1024
            tracemalloc.start()
            per_frame_loop(mono, args.sample_rate, args.fps, sample, settings)
            result["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            result["output_mb"] = n_frames * (settings.n_bands + 2) * 4 / 2**20
        return result

    analyze(AudioData(samples[: args.sample_rate], args.sample_rate), args.fps, None, settings)  # warm-up
    measure_rss = args.memory and _reset_peak_rss()
    base = _status_kb("VmRSS")

    def run():
        features = analyze(audio, args.fps, n_frames, settings)
        if settings.backend == "cupy":
            import cupy

            cupy.cuda.Device().synchronize()
        return features

    # First run: "cold", as a fresh `gpurender analyze` process meets it (in a VM, memory first
    # touched by a process can be slow to fault in). Second run: "warm", the steady state of a
    # process that has analysed before; it is the figure compared with the (small, warm) loop.
    cold_wall, cold_cpu, features = _timed(run)
    result.update(cold_seconds=cold_wall, cold_cpu_seconds=cold_cpu, backend=features.backend,
                  beats_found=int((features.beat == 1).sum()), output_mb=_output_mb(features))
    if measure_rss:
        result["rss_peak_mb"] = max(0, _status_kb("VmHWM") - base) / 1024
    del features
    wall, cpu, features = _timed(run)
    result.update(seconds=wall, cpu_seconds=cpu)
    del features
    if settings.backend == "cupy":
        import cupy

        result["gpu_pool_mb"] = cupy.get_default_memory_pool().total_bytes() / 2**20
    if args.memory:
        tracemalloc.start()
        features = analyze(audio, args.fps, n_frames, settings)
        result["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        del features
    return result


BEAT_TRACKS = {
    # name: (sections of gpurender.audio.synth.beat_track, keyword arguments)
    "kick 120 BPM + off-beat hats": ([(120, 48)], {}),
    "kick 97 BPM + off-beat hats": ([(97, 48)], {}),
    "100 -> 130 BPM": ([(100, 24), (130, 32)], {}),
    "120 BPM, 4.25 s silence, 120 BPM": ([(120, 24), (0, 4.25), (120, 24)], {}),
    "3/4 at 110 BPM": ([(110, 36)], {"meter": 3}),
    "kick 180 BPM + off-beat hats": ([(180, 60)], {}),
    "85 -> 170 BPM (not required)": ([(85, 16), (170, 32)], {}),
}


def beat_benchmark(args) -> dict:
    """The beat tracker's cost on a demo track and its accuracy on generated tracks."""
    from gpurender.audio.analysis import _Analysis
    from gpurender.audio.backend import get_backend
    from gpurender.audio.beats import beat_series, track_beats
    from gpurender.audio.framing import fps_fraction
    from gpurender.audio.synth import beat_track, score_beats

    settings = AnalysisSettings(backend="numpy", keep_spectrum=False)
    audio = demo_track(args.beat_minutes * 60, sample_rate=args.sample_rate)
    fps = 60
    stages: dict[str, list[float]] = {"fft": [], "track": [], "frames": [], "analyze": [], "cpu": []}
    load_before = os.getloadavg()[0]
    for _ in range(args.repeats):
        analysis = _Analysis(audio, fps_fraction(fps), int(audio.duration * fps) + 1, settings,
                             get_backend("numpy"))
        start, cpu = time.perf_counter(), time.process_time()
        blocks, hop = analysis._beat_energy()
        for _ in blocks():  # one pass of the batched FFT (the tracker makes two)
            pass
        stages["fft"].append(time.perf_counter() - start)
        start = time.perf_counter()
        beats = track_beats(blocks, audio.sample_rate, hop, audio.mono)
        stages["track"].append(time.perf_counter() - start)
        stages["cpu"].append(time.process_time() - cpu)
        ends = np.round(np.arange(analysis.n) * audio.sample_rate / fps).astype(np.int64)
        start = time.perf_counter()
        beat_series(beats, ends, audio.sample_rate, fps, settings.beat_decay)
        stages["frames"].append(time.perf_counter() - start)
        start = time.perf_counter()
        analyze(audio, fps, settings=settings)
        stages["analyze"].append(time.perf_counter() - start)
    load_after = os.getloadavg()[0]
    best = {k: min(v) for k, v in stages.items()}
    tracker = best["fft"] + best["track"] + best["frames"]
    # Memory of the tracker alone (its FFT and search), as tracemalloc sees it.
    tracemalloc.start()
    blocks, hop = analysis._beat_energy()
    track_beats(blocks, audio.sample_rate, hop, audio.mono)
    traced_peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(f"\nbeat tracker on a {args.beat_minutes:g}-minute demo track ({audio.sample_rate} Hz, {fps} fps), "
          f"best of {args.repeats}:")
    print(f"  batched FFT at 100 frames/s {best['fft']:6.2f} s")
    print(f"  levels, tempo, DP, downbeats {best['track']:5.2f} s (with the second FFT pass)")
    print(f"  beats to frames             {best['frames']:6.2f} s")
    print(f"  tracker total               {tracker:6.2f} s  ({tracker / best['analyze'] * 100:.0f}% of the whole "
          f"analysis, {best['analyze']:.2f} s; {len(beats.times)} beats, {beats.tempo:.1f} BPM)")
    print(f"  FFT + search, CPU time        {best['cpu']:6.2f} s (all threads of this process)")
    print(f"  tracker peak memory (traced) {traced_peak_mb:5.1f} MB; load average {load_before:.1f} -> "
          f"{load_after:.1f} on {os.cpu_count()} CPUs")

    accuracy = []
    print(f"\n{'generated track':36s} {'beats':>5s} {'found':>7s} {'extras':>6s} {'strict':>14s} {'max ms':>6s} "
          f"{'med ms':>6s} {'bars':>4s} {'downbeats':>10s}")
    for name, (sections, options) in BEAT_TRACKS.items():
        track = beat_track(sections, **options)
        features = analyze(track.audio, 30, settings=settings)
        score = score_beats(features.beat_times, track.beats, 0.03, track.tempo_changes)
        strict = score_beats(features.beat_times, track.beats, 0.03)
        down = score_beats(features.downbeat_times, track.downbeats, 0.03)
        bars = int(round(len(features.beat_times) / max(len(features.downbeat_times), 1)))
        row = {"track": name, "sections": sections, **options, "true_beats": len(track.beats),
               "found_percent": 100 * score.found_fraction, "extras": score.extras,
               "found_percent_without_allowance": 100 * strict.found_fraction,
               "extras_without_allowance": strict.extras,
               "max_error_ms": score.max_error_ms, "median_error_ms": score.median_error_ms,
               "downbeats_found": down.found, "true_downbeats": len(track.downbeats),
               "downbeat_extras": down.extras}
        accuracy.append(row)
        print(f"{name:36s} {len(track.beats):5d} {row['found_percent']:6.1f}% {score.extras:6d} "
              f"{strict.found_fraction * 100:6.1f}% x{strict.extras:<5d} {score.max_error_ms:6.1f} {score.median_error_ms:6.1f} {bars:4d} "
              f"{down.found:4d}/{len(track.downbeats):<3d} x{down.extras}")
    print("found: true beats with a detection within 30 ms (one to one); extras: detections with no true beat;")
    print("errors: |detected - true| of matched beats; at a tempo change 4 beats may be missed (see score_beats);")
    print("strict: found and extras with no allowance at all; bars: beats per bar found")
    return {
        "command": "python benchmarks/bench_audio.py " + " ".join(sys.argv[1:]),
        "cost": {"minutes": args.beat_minutes, "sample_rate": audio.sample_rate, "fps": fps,
                 "track": "gpurender.audio.demo_track", "repeats": args.repeats,
                 "fft_seconds": best["fft"], "track_seconds": best["track"], "frames_seconds": best["frames"],
                 "tracker_seconds": tracker, "fft_and_search_cpu_seconds": best["cpu"],
                 "whole_analysis_seconds": best["analyze"],
                 "beats": int(len(beats.times)), "tempo_bpm": beats.tempo,
                 "load_average_before_after": [round(load_before, 2), round(load_after, 2)],
                 "traced_peak_mb_tracker": traced_peak_mb},
        "accuracy": {"tolerance_ms": 30, "fps": 30, "tracks": accuracy},
    }


def machine_info() -> dict:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = _status_kb("VmRSS") and os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import scipy

    usable, why = cupy_status()
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "memory_gb": round(memory, 1),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "cupy": why,
        "gpu_used": usable,
    }


def _machine_slug(info: dict) -> str:
    name = f"{platform.machine()}-{info['cpu_count']}cpu"
    if info["gpu_used"]:
        gpu = re.sub(r"^CuPy \S+ on ", "", info["cupy"])
        name += "-" + gpu
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="track length (default 10)")
    ap.add_argument("--fps", type=int, default=120)
    ap.add_argument("--fft", type=int, default=4096)
    ap.add_argument("--sample-rate", type=int, default=48000)
    ap.add_argument("--loop-frames", type=int, default=3000, help="frames timed in the per-frame loop")
    ap.add_argument("--repeats", type=int, default=3, help="rounds of runs; each variant's fastest is reported")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--machine", default=None, help="name used in the results file")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/audio-<machine>.json)")
    ap.add_argument("--beats", action="store_true", help="measure the beat tracker (cost and accuracy) only")
    ap.add_argument("--beat-minutes", type=float, default=3.0, help="track length for --beats (default 3)")
    ap.add_argument("--variant", help=argparse.SUPPRESS)  # internal: run one variant
    ap.add_argument("--track", help=argparse.SUPPRESS)
    ap.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.variant:
        print(json.dumps(worker(args)))
        return

    info = machine_info()
    machine = args.machine or _machine_slug(info)
    print(f"machine: {machine} | {info['cpu']} | {info['cpu_count']} CPUs | {info['cupy']}")
    if args.beats:
        out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"audio-{machine}.json"
        document = json.loads(out.read_text()) if out.exists() else {
            "benchmark": "audio analysis", "machine": {"name": machine, **info}}
        document["beat_tracker"] = {"machine": {"name": machine, **info}, **beat_benchmark(args)}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(document, indent=2) + "\n")
        print(f"wrote the beat_tracker entry of {out}")
        return
    n_frames = int(args.minutes * 60 * args.fps) + 1
    print(f"workload: {args.minutes:g} min stereo {args.sample_rate} Hz, {args.fps} fps ({n_frames} frames), "
          f"FFT {args.fft}")
    start = time.perf_counter()
    track = demo_track(args.minutes * 60, sample_rate=args.sample_rate)
    print(f"synthesized the track in {time.perf_counter() - start:.1f} s")
    variants = [v for v in args.variants.split(",") if v]
    skipped = {v: info["cupy"] for v in variants if v.startswith("cupy") and not info["gpu_used"]}
    variants = [v for v in variants if v not in skipped]
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "track.npy"
        np.save(path, track.samples)
        del track
        # Round-robin: every round runs each variant once, so that load from other work on a
        # shared machine falls on all of them alike; the first round also measures memory.
        for round_ in range(args.repeats):
            for variant in variants:
                command = [sys.executable, __file__, "--variant", variant, "--track", str(path),
                           "--minutes", str(args.minutes), "--fps", str(args.fps), "--fft", str(args.fft),
                           "--sample-rate", str(args.sample_rate), "--loop-frames", str(args.loop_frames)]
                if round_ == 0:
                    command.append("--memory")
                load_before = os.getloadavg()[0]
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode != 0:
                    print(done.stderr, file=sys.stderr)
                    raise SystemExit(f"variant {variant} failed")
                run = json.loads(done.stdout.strip().splitlines()[-1])
                run["load_average_before_after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
                runs[variant].append(run)
                print(f"  round {round_ + 1}: {variant:24s} {run['seconds']:8.2f} s wall {run['cpu_seconds']:8.2f} s cpu")

    results = []
    for variant, attempts in runs.items():
        first = attempts[0]
        timings = ("seconds", "cpu_seconds", "cold_seconds", "cold_cpu_seconds")
        summary = {k: v for k, v in first.items() if k not in timings + ("load_average_before_after",)}
        summary.update(frames=n_frames, fft_size=args.fft, fps=args.fps)
        for key in timings:
            if key in first:
                summary[key] = min(a[key] for a in attempts)
        summary["runs"] = [{k: a[k] for k in timings + ("load_average_before_after",) if k in a} for a in attempts]
        summary["fps_analysed"] = n_frames / summary["seconds"]
        summary["realtime_factor"] = args.minutes * 60 / summary["seconds"]
        if variant == "numpy_loop":
            summary["extrapolated"] = True
            summary["note"] = (f"per-frame loop timed on {first['loop_frames_timed']} of {n_frames} frames spread "
                               f"over the track and extrapolated linearly "
                               f"({summary['seconds'] / n_frames * 1e6:.1f} us/frame wall)")
        results.append(summary)

    batched = next((r for r in results if r["variant"] == "numpy_batched_nospec"), None)
    loop = next((r for r in results if r["variant"] == "numpy_loop"), None)
    print()
    print(f"{'variant':24s} {'wall s':>8s} {'cpu s':>8s} {'cold s':>8s} {'frames/s':>9s} {'x realtime':>10s} "
          f"{'vs loop':>8s} {'rss peak MB':>11s} {'traced MB':>9s} {'output MB':>9s}")
    for r in results:
        speedup = f"{loop['seconds'] / r['seconds']:7.1f}x" if loop else "-"
        print(f"{r['variant']:24s} {r['seconds']:8.2f} {r['cpu_seconds']:8.2f} {r.get('cold_seconds', float('nan')):8.2f} "
              f"{r['fps_analysed']:9.0f} "
              f"{r['realtime_factor']:10.1f} {speedup:>8s} {r.get('rss_peak_mb', float('nan')):11.0f} "
              f"{r.get('traced_peak_mb', float('nan')):9.0f} {r.get('output_mb', float('nan')):9.0f}"
              + ("  *" if r.get("extrapolated") else ""))
    if loop:
        print(f"* {loop['note']}")
    print("wall/cpu: warm run (second in its process); cold: first run in a fresh process")
    print(f"(best of {args.repeats} round-robin runs; 1-minute load average during the runs: "
          f"{min(a['load_average_before_after'][0] for v in runs.values() for a in v):.1f} to "
          f"{max(a['load_average_before_after'][1] for v in runs.values() for a in v):.1f} on {info['cpu_count']} CPUs)")
    for variant, why in skipped.items():
        print(f"{variant}: skipped ({why})")

    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"audio-{machine}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "audio analysis: batched FFT vs per-frame loop",
        "command": "python benchmarks/bench_audio.py " + " ".join(sys.argv[1:]),
        "machine": {"name": machine, **info},
        "adapter": "none (the audio stage uses no wgpu adapter)",
        "encoder": "none (no video is encoded)",
        "workload": {"minutes": args.minutes, "channels": 2, "sample_rate": args.sample_rate, "fps": args.fps,
                     "frames": n_frames, "fft_size": args.fft, "track": "gpurender.audio.demo_track"},
        "results": results,
        "skipped": skipped,
        "speedup_vs_loop_same_outputs": {
            "note": "numpy_batched_nospec keeps bands and scalars as the loop does (plus waveform, centroid, onsets)",
            "wall": loop["seconds"] / batched["seconds"] if loop and batched else None,
            "cpu": loop["cpu_seconds"] / batched["cpu_seconds"] if loop and batched else None,
        },
    }
    if out.exists():  # keep the beat tracker's entry (bench_audio.py --beats writes it)
        previous = json.loads(out.read_text())
        if "beat_tracker" in previous:
            document["beat_tracker"] = previous["beat_tracker"]
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
