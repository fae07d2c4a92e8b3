"""Cost of each effect layer per frame (bloom, blur, trails, vignette, grain), at 1080p by default.

``kernel``: the effect's own passes, on their own: a source texture already filled (rgba16float,
premultiplied, with HDR values), ``apply()`` recorded and submitted frame after frame, the queue
drained at the end; milliseconds per frame, the median of ``--repeats`` runs of ``--frames`` frames
(and the best: on a shared machine, interference only slows a run down), and the median CPU time per
frame of all the process's threads (lavapipe draws on threads of this process; on a loaded
machine CPU time moves much less than wall time). The cases take turns within each round of runs.
Bloom and blur are measured at several radii (their cost should not depend on it) and trails with
and without motion (the identity warp reads texels directly). ``passes`` is the number of render
passes per frame and ``Mpx`` the pixels they draw (millions), which for bloom and blur are the same
at every radius.

``--scene`` also times whole frames through the frame loop (``FrameRenderer.frames``, I420 out,
nothing encoded) of ``examples/torus_spectrum.toml`` alone and with each effect on top, in rounds
as the kernels; the difference is what the effect costs in a render, its compositing included.

Usage::

    python benchmarks/bench_effects.py                         # 1920x1080, kernels only
    python benchmarks/bench_effects.py --scene                 # and whole frames with each effect
    python benchmarks/bench_effects.py --size 1280x720 --frames 10 --repeats 3 --out /tmp/fx.json

Writes ``benchmarks/results/effects-<machine>.json`` (or ``--out``) and prints a table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (RESULTS, command_line, describe_adapter, describe_machine, load_average, machine_slug,  # noqa: E402
                    print_table, wait_idle, write_json)

#: (label, layer table) of every measurement.
CASES = [
    ("bloom r=0.01", {"type": "bloom", "radius": 0.01}),
    ("bloom r=0.08", {"type": "bloom", "radius": 0.08}),
    ("bloom r=0.5", {"type": "bloom", "radius": 0.5}),
    ("blur r=0.002", {"type": "blur", "radius": 0.002}),
    ("blur r=0.01", {"type": "blur", "radius": 0.01}),
    ("blur r=0.25", {"type": "blur", "radius": 0.25}),
    ("trails still", {"type": "trails"}),
    ("trails zoom+rotate", {"type": "trails", "zoom": 1.3, "rotate": 20, "offset_y": 0.05}),
    ("vignette", {"type": "vignette"}),
    ("grain size=1.5", {"type": "grain"}),
    ("grain size=4", {"type": "grain", "size": 4.0}),
]


def median(values):
    """The lower median (the middle run of an odd count)."""
    return sorted(values)[(len(values) - 1) // 2]


def source_image(width: int, height: int) -> np.ndarray:
    """A premultiplied picture with bright (HDR) parts, soft shapes and a dim background."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = xs / width, ys / height
    img = np.empty((height, width, 4), np.float32)
    img[..., 0] = 0.05 + 1.6 * np.exp(-((u - 0.3) ** 2 + (v - 0.4) ** 2) * 60)
    img[..., 1] = 0.04 + 0.9 * (np.sin(u * 40) > 0.95) * (v > 0.7)
    img[..., 2] = 0.10 + 2.5 * np.exp(-((u - 0.7) ** 2 + (v - 0.5) ** 2) * 400)
    img[..., 3] = 1.0
    return img


class KernelBench:
    def __init__(self, layer: dict, width: int, height: int):
        import wgpu

        from gpurender.render.device import get_device
        from gpurender.render.layers import FrameInfo, RenderContext, create_renderer
        from gpurender.scene import scene_from_dict
        from gpurender.scene.evaluate import ParamEvaluator

        self.device = device = get_device()
        ctx = RenderContext(device=device, width=width, height=height, fps=30.0, features=None,
                            params=ParamEvaluator(None, 30))
        [spec] = scene_from_dict({"layers": [layer]}).layers
        self.renderer = create_renderer(ctx, spec)
        usage = (wgpu.TextureUsage.TEXTURE_BINDING | wgpu.TextureUsage.RENDER_ATTACHMENT
                 | wgpu.TextureUsage.COPY_DST | wgpu.TextureUsage.STORAGE_BINDING)
        self.source = device.create_texture(size=(width, height, 1), format="rgba16float", usage=usage)
        self.target = device.create_texture(size=(width, height, 1), format="rgba16float", usage=usage)
        data = source_image(width, height).astype(np.float16)
        device.queue.write_texture({"texture": self.source, "mip_level": 0, "origin": (0, 0, 0)}, data,
                                   {"offset": 0, "bytes_per_row": width * 8, "rows_per_image": height},
                                   (width, height, 1))
        self.views = self.source.create_view(), self.target.create_view()
        self.frame_info = FrameInfo
        self.index = 0
        self.passes, self.pixels = self._count()

    def _count(self) -> tuple[int, int]:
        """Render passes per frame and the pixels they draw, by watching one frame's passes."""
        counted = []

        class Watch:
            def __init__(self, inner):
                self.inner = inner

            def begin_render_pass(self, **kw):
                views = [a["view"] for a in kw["color_attachments"]]
                size = views[0].texture.size
                counted.append(size[0] * size[1])
                return self.inner.begin_render_pass(**kw)

            def __getattr__(self, name):
                return getattr(self.inner, name)

        encoder = Watch(self.device.create_command_encoder())
        self.renderer.apply(encoder, self._frame(), *self.views)
        self.device.queue.submit([encoder.inner.finish()])
        return len(counted), sum(counted)

    def _frame(self):
        frame = self.frame_info(index=self.index, time=self.index / 30, fps=30.0)
        self.index += 1
        return frame

    def run(self, frames: int) -> tuple[float, float]:
        """Seconds per frame over ``frames`` frames, queue drained: wall clock, and CPU time of all the
        process's threads (lavapipe draws on its own threads in this process)."""
        wait_idle(self.device)
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(frames):
            encoder = self.device.create_command_encoder()
            self.renderer.apply(encoder, self._frame(), *self.views)
            self.device.queue.submit([encoder.finish()])
        wait_idle(self.device)
        return (time.perf_counter() - t0) / frames, (time.process_time() - c0) / frames


def kernel_rows(width, height, frames, repeats):
    """Every case, timed in rounds: each round runs every case once, so a change of the machine's
    load falls on all of them alike."""
    benches = []
    for label, layer in CASES:
        bench = KernelBench(layer, width, height)
        bench.run(2)  # pipelines and the shaders' first use
        benches.append((label, layer, bench, []))
    for round_ in range(repeats):
        for label, layer, bench, runs in benches:
            runs.append(bench.run(frames))
        print(f"  round {round_ + 1}/{repeats}, load {load_average()}", file=sys.stderr)
    rows = []
    for label, layer, bench, runs in benches:
        ordered = sorted(runs)  # by wall time
        wall, cpu = ordered[(len(runs) - 1) // 2][0], median([c for _, c in runs])
        rows.append({"effect": label, "layer": layer, "ms": round(1000 * wall, 2), "cpu_ms": round(1000 * cpu, 2),
                     "best_ms": round(1000 * ordered[0][0], 2), "runs_ms": [round(1000 * r[0], 2) for r in runs],
                     "runs_cpu_ms": [round(1000 * r[1], 2) for r in runs],
                     "passes": bench.passes, "mpixels": round(bench.pixels / 1e6, 3)})
    return rows


def scene_rows(width, height, frames, repeats):
    """Whole frames of torus_spectrum alone and with each effect on top (where the frame loop draws effects)."""
    import dataclasses

    from gpurender.audio import analyze, demo_track
    from gpurender.render.renderer import FrameRenderer
    from gpurender.scene import load_scene, scene_from_dict

    root = Path(__file__).resolve().parents[1]
    base = load_scene(root / "examples" / "torus_spectrum.toml")
    features = analyze(demo_track(duration=max(4.0, (frames * repeats + 200) / 30)), 30)
    cases = [("(scene alone)", None)] + [(label, layer) for label, layer in CASES
                                          if label in ("bloom r=0.08", "blur r=0.01", "trails zoom+rotate",
                                                       "vignette", "grain size=1.5")]
    renderers = []
    for label, layer in cases:
        scene = base
        if layer is not None:
            [extra] = scene_from_dict({"layers": [layer]}).layers
            scene = dataclasses.replace(base, layers=base.layers + (extra,))
        fr = FrameRenderer(scene, features, width, height, 30)
        list(fr.frames(0, 2))  # pipelines; later runs continue from here (no pre-roll)
        renderers.append((label, fr, []))
    for r in range(repeats):  # in rounds, each case once a round, as the kernels
        for label, fr, runs in renderers:
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in fr.frames(2 + r * frames, frames):
                pass
            runs.append(((time.perf_counter() - t0) / frames, (time.process_time() - c0) / frames))
        print(f"  scene round {r + 1}/{repeats}, load {load_average()}", file=sys.stderr)
    rows = []
    for label, fr, runs in renderers:
        ordered = sorted(runs)
        wall, cpu = ordered[(len(runs) - 1) // 2][0], median([c for _, c in runs])
        rows.append({"case": label, "ms": round(1000 * wall, 1), "best_ms": round(1000 * ordered[0][0], 1),
                     "cpu_ms": round(1000 * cpu, 1), "runs_cpu_ms": [round(1000 * c, 1) for _, c in runs]})
    alone, alone_cpu = rows[0]["ms"], rows[0]["cpu_ms"]
    for row in rows[1:]:
        row["added_ms"] = round(row["ms"] - alone, 1)
        row["added_cpu_ms"] = round(row["cpu_ms"] - alone_cpu, 1)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--frames", type=int, default=8, help="frames per timed run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scene", action="store_true", help="also time whole frames through the frame loop")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))

    adapter = describe_adapter()
    kernels = kernel_rows(width, height, args.frames, args.repeats)
    print(f"\nEffect kernels at {width}x{height} on {adapter.get('summary', adapter.get('name'))} "
          f"(ms per frame, median of {args.repeats} runs of {args.frames} frames)\n")
    print_table(["effect", "ms", "best ms", "CPU ms", "passes", "Mpx drawn"],
                [[r["effect"], r["ms"], r["best_ms"], r["cpu_ms"], r["passes"], r["mpixels"]] for r in kernels])
    result = {"benchmark": "effects", "command": command_line(), "machine": describe_machine(), "adapter": adapter,
              "load_average": load_average(), "size": [width, height], "frames": args.frames,
              "repeats": args.repeats, "kernels": kernels}
    if args.scene:
        scenes = scene_rows(width, height, max(2, args.frames // 2), args.repeats)
        print("\nWhole frames of torus_spectrum with each effect on top (ms per frame, I420 out)\n")
        print_table(["case", "ms", "added ms", "CPU ms", "added CPU ms"],
                    [[r["case"], r["ms"], r.get("added_ms"), r["cpu_ms"], r.get("added_cpu_ms")] for r in scenes])
        result["scene"] = scenes
    result["load_average_after"] = load_average()
    slug = machine_slug(adapter.get("name", "unknown"), bool(adapter.get("software")))
    out = args.out or RESULTS / f"effects-{slug}.json"
    write_json(out, result)
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
