"""Benchmark of picture quality per codec and quality preset: PSNR against the lossless render.

Renders the same frames of a real scene (default ``examples/torus_spectrum.toml`` over the built-in
demo track, 1080p, 2 s at 30 fps from 3 s in) once, on whatever adapter is there, and keeps the
8-bit I420 frames the GPU conversion produced: exactly what every encoder is fed, and what a
lossless encode holds (checked: lossless H.264 decodes to them bit for bit). Then, for each codec
(``--codecs``, default h264, hevc, vp9, av1) at each quality preset (``--qualities``), it encodes
those frames with the encoder ``choose_encoder`` picks (``--encoder cpu`` by default, so the table
shows the CPU encoders' presets; ``--encoder auto`` measures NVENC where it opens), decodes the file
and compares it with the frames it was fed.

PSNR is computed over the whole sequence (the mean squared error of every sample of every frame,
then ``10 log10(255^2 / MSE)``), per plane (Y, Cb, Cr), plus ``YCbCr`` with the planes weighted
6:1:1. **The tuning target is Y-PSNR**: the presets are set so that ``high`` lands within 1.5 dB
across H.264, HEVC, VP9 and AV1 (the table prints the spread).

``--sweep codec=v1,v2,...`` encodes at the given values of the codec's constant-quality control
(CRF; CQ for NVENC) instead of the presets: how the presets in ``gpurender/encode/encoders.py``
were tuned. ``--frames-cache FILE.npy`` keeps the rendered frames between runs (190 MB at 1080p
for 60 frames).

Usage::

    python benchmarks/bench_quality.py                     # ~6 min on 2 CPU cores (lavapipe)
    python benchmarks/bench_quality.py --seconds 1 --resolution 720p
    python benchmarks/bench_quality.py --sweep hevc=20,22,24 --sweep vp9=28,32 --frames-cache /tmp/q.npy
    python benchmarks/bench_quality.py --encoder auto      # NVENC where an NVIDIA encoder opens

Writes ``benchmarks/results/quality-<machine>.json`` (``--out`` to choose), naming the machine, the
adapter, each encoder with its options, and the command.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    RESULTS,
    ROOT,
    command_line,
    describe_adapter,
    describe_encoder,
    describe_machine,
    load_average,
    machine_slug,
    print_table,
    write_json,
)

from gpurender.audio import AnalysisSettings, analyze, demo_track  # noqa: E402
from gpurender.encode import EncodeSettings, VideoWriter, choose_encoder  # noqa: E402
from gpurender.settings import parse_resolution  # noqa: E402

CONTAINER = {"h264": "mp4", "hevc": "mp4", "av1": "mp4", "vp9": "webm", "prores": "mov", "ffv1": "mkv"}
PLANE_WEIGHTS = (6, 1, 1)


def render_frames(scene_path: Path, width: int, height: int, fps: int, start: float, seconds: float) -> np.ndarray:
    """The scene's I420 frames ``[n, w*h*3/2]`` as the GPU conversion makes them for the encoder."""
    from gpurender.render.renderer import FrameRenderer
    from gpurender.scene import load_scene

    audio = demo_track(duration=start + seconds + 1.0)
    features = analyze(audio, fps, settings=AnalysisSettings(keep_spectrum=False))
    renderer = FrameRenderer(load_scene(scene_path), features, width, height, fps)
    first, count = round(start * fps), round(seconds * fps)
    out = np.empty((count, width * height * 3 // 2), np.uint8)
    for k, (_, data) in enumerate(renderer.frames(first, count)):
        out[k] = data
    return out


def planes_of(frame, width: int, height: int) -> list[np.ndarray]:
    """The Y, Cb, Cr planes of a decoded yuv420p frame, without row padding."""
    sizes = ((height, width), (height // 2, width // 2), (height // 2, width // 2))
    out = []
    for plane, (rows, cols) in zip(frame.planes, sizes):
        arr = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
        out.append(arr[:rows, :cols])
    return out


def decoded_sse(path: Path, reference: np.ndarray, width: int, height: int) -> tuple[list[float], int, int]:
    """Sum of squared errors per plane over every frame, the samples per plane, and the frame count."""
    import av

    n_y = width * height
    n_c = n_y // 4
    sse = [0.0, 0.0, 0.0]
    count = 0
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.format.name != "yuv420p":
                frame = frame.reformat(format="yuv420p")
            ref = reference[count]
            ref_planes = (ref[:n_y].reshape(height, width), ref[n_y:n_y + n_c].reshape(height // 2, width // 2),
                          ref[n_y + n_c:].reshape(height // 2, width // 2))
            for i, (got, want) in enumerate(zip(planes_of(frame, width, height), ref_planes)):
                d = got.astype(np.int32) - want
                sse[i] += float(np.dot(d.ravel(), d.ravel()))
            count += 1
    return sse, count, len(reference)


def psnr(sse: float, samples: int) -> float:
    if sse == 0:
        return math.inf
    return 10.0 * math.log10(255.0 ** 2 / (sse / samples))


def encode_and_measure(frames: np.ndarray, settings: EncodeSettings, choice, folder: Path, label: str) -> dict:
    path = folder / f"{label}.{settings.format}"
    t0 = time.perf_counter()
    with VideoWriter(path, settings, input_format="yuv420p", choice=choice) as writer:
        for frame in frames:
            writer.write(frame.copy())
    seconds = time.perf_counter() - t0
    w, h = settings.width, settings.height
    sse, decoded, expected = decoded_sse(path, frames, w, h)
    if decoded != expected:
        raise SystemExit(f"{label}: decoded {decoded} frames, wrote {expected}")
    n_y, n_c = w * h * decoded, w * h * decoded // 4
    planes = [psnr(sse[0], n_y), psnr(sse[1], n_c), psnr(sse[2], n_c)]
    weighted = sum(wt * s / n for wt, s, n in zip(PLANE_WEIGHTS, sse, (n_y, n_c, n_c))) / sum(PLANE_WEIGHTS)
    size = path.stat().st_size
    path.unlink()
    return {
        "psnr_y": _round(planes[0]), "psnr_cb": _round(planes[1]), "psnr_cr": _round(planes[2]),
        "psnr_ycbcr": _round(psnr(weighted, 1)), "bytes": size,
        "kbps": round(size * 8 / (decoded / settings.fps) / 1000.0, 1),
        "encode_fps": round(decoded / seconds, 2), "frames": decoded,
    }


def _round(value: float):
    return None if math.isinf(value) else round(value, 2)


def _control(choice) -> str:
    for key in ("crf", "cq", "qp", "profile"):
        if key in choice.options:
            return f"{key} {choice.options[key]}"
    return "-"


def parse_sweeps(items: list[str]) -> dict[str, list[str]]:
    sweeps = {}
    for item in items:
        codec, _, values = item.partition("=")
        if codec not in CONTAINER or not values:
            raise SystemExit(f"--sweep {item!r}: give codec=v1,v2 with a codec of {', '.join(CONTAINER)}")
        sweeps[codec] = [v.strip() for v in values.split(",") if v.strip()]
    return sweeps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scene", default=str(ROOT / "examples" / "torus_spectrum.toml"))
    parser.add_argument("--resolution", default="1080p")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--start", type=float, default=3.0, help="seconds into the demo track")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--codecs", default="h264,hevc,vp9,av1")
    parser.add_argument("--qualities", default="high,medium,low")
    parser.add_argument("--encoder", default="cpu", choices=("cpu", "auto", "gpu"))
    parser.add_argument("--sweep", action="append", default=[], metavar="CODEC=V1,V2",
                        help="encode at these CRF/CQ values instead of the presets")
    parser.add_argument("--frames-cache", default=None, help="an .npy file to keep the rendered frames in")
    parser.add_argument("--out", default=None, help="JSON path (default results/quality-<machine>.json)")
    args = parser.parse_args(argv)

    width, height = parse_resolution(args.resolution)
    codecs = [c.strip() for c in args.codecs.split(",") if c.strip()]
    qualities = [q.strip() for q in args.qualities.split(",") if q.strip()]
    sweeps = parse_sweeps(args.sweep)
    adapter = describe_adapter()

    cache = Path(args.frames_cache) if args.frames_cache else None
    t0 = time.perf_counter()
    if cache is not None and cache.exists():
        frames = np.load(cache, mmap_mode="r")
        if frames.shape[1] != width * height * 3 // 2:
            raise SystemExit(f"{cache} holds frames of another size; delete it or pick another --frames-cache")
        rendered = f"loaded {len(frames)} frames from {cache}"
    else:
        frames = render_frames(Path(args.scene), width, height, args.fps, args.start, args.seconds)
        if cache is not None:
            np.save(cache, frames)
        rendered = f"rendered {len(frames)} frames in {time.perf_counter() - t0:.1f} s"
    print(f"{rendered} at {width}x{height} on {adapter['summary']}", flush=True)

    rows, results = [], []
    with tempfile.TemporaryDirectory(prefix="gpurender-quality-") as tmp:
        folder = Path(tmp)
        # The reference is the lossless render: check that a lossless encode holds exactly these frames.
        lossless = EncodeSettings(width, height, args.fps, format="mkv", codec="h264", lossless=True, encoder="cpu")
        check = encode_and_measure(frames, lossless, choose_encoder(lossless), folder, "lossless")
        if check["psnr_y"] is not None:
            raise SystemExit("lossless H.264 does not decode to the rendered frames; the reference is wrong")
        print(f"lossless H.264 decodes to the rendered frames exactly ({check['kbps']:.0f} kb/s)", flush=True)

        jobs = []
        for codec in codecs:
            settings = EncodeSettings(width, height, args.fps, format=CONTAINER[codec], codec=codec,
                                      encoder=args.encoder)
            if codec in sweeps:
                base = choose_encoder(replace(settings, quality="high"))
                key = "cq" if "cq" in base.options else "crf"
                for value in sweeps[codec]:
                    choice = replace(base, options={**base.options, key: value})
                    jobs.append((codec, f"{key} {value}", settings, choice))
            else:
                for quality in qualities:
                    q_settings = replace(settings, quality=quality)
                    jobs.append((codec, quality, q_settings, choose_encoder(q_settings)))
        for codec, label, settings, choice in jobs:
            measured = encode_and_measure(frames, settings, choice, folder, f"{codec}-{label.replace(' ', '')}")
            entry = {"codec": codec, "preset": label, "control": _control(choice), "encoder": describe_encoder(choice),
                     **measured}
            results.append(entry)
            rows.append([codec, choice.name, label, entry["control"], entry["kbps"], entry["psnr_y"],
                         entry["psnr_cb"], entry["psnr_cr"], entry["psnr_ycbcr"], entry["encode_fps"]])
            print(f"  {codec} {label}: Y {entry['psnr_y']} dB at {entry['kbps']} kb/s", flush=True)

    print()
    print_table(["codec", "encoder", "preset", "control", "kb/s", "Y dB", "Cb dB", "Cr dB", "YCbCr dB", "enc fps"],
                rows)
    spreads = {}
    for quality in qualities:
        ys = {r["codec"]: r["psnr_y"] for r in results if r["preset"] == quality and r["psnr_y"] is not None}
        if len(ys) > 1:
            spreads[quality] = {"min": min(ys.values()), "max": max(ys.values()),
                                "spread_db": round(max(ys.values()) - min(ys.values()), 2), "by_codec": ys}
            print(f"{quality}: Y-PSNR {min(ys.values()):.2f}..{max(ys.values()):.2f} dB, "
                  f"spread {spreads[quality]['spread_db']:.2f} dB")

    data = {
        "benchmark": "quality",
        "command": command_line(),
        "machine": describe_machine(),
        "adapter": adapter,
        "load_average": load_average(),
        "scene": str(Path(args.scene).resolve().relative_to(ROOT)) if Path(args.scene).resolve().is_relative_to(ROOT)
        else args.scene,
        "audio": "built-in demo track",
        "size": [width, height], "fps": args.fps, "start_s": args.start, "seconds": args.seconds,
        "frames": int(len(frames)),
        "reference": "the 8-bit I420 frames of the GPU conversion (a lossless H.264 encode decodes to them exactly)",
        "psnr": "sequence PSNR per plane from the total squared error of every frame; tuning target Y; "
                "YCbCr weights the planes 6:1:1",
        "encoder_mode": args.encoder,
        "results": results,
        "spread_by_preset": spreads,
    }
    out = Path(args.out) if args.out else RESULTS / f"quality-{machine_slug(adapter['name'], adapter['software'])}.json"
    if not sweeps:
        write_json(out, data)
        print(f"wrote {out}")
    elif args.out:
        write_json(out, data)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
