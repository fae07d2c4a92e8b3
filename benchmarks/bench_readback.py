"""Micro-benchmark of the render stage's exit: RGBA -> I420 conversion and the readback ring.

Measures, per frame size, in frames per second:

* ``source``            the synthetic frame source alone (a compute pass that paints a moving
                        pattern into an rgba8unorm texture), to know what the rest is paying for;
* ``convert_cpu``       :func:`rgba_to_i420_cpu` on one RGBA frame in NumPy;
* ``convert_gpu``       the :class:`YuvConverter` pass alone, on a texture already painted;
* ``ringK_i420``        source + GPU conversion + copy + readback of 1.5 bytes/pixel through a
                        :class:`ReadbackRing` of depth K (K=1 is synchronous readback);
* ``ringK_rgba``        source + readback of 4 bytes/pixel RGBA through the ring of depth K;
* ``ringK_rgba+cpu``    the same, then the consumer converts each frame with NumPy: the path one
                        takes without GPU conversion;
* ``ringK_i420+wait``   ``ringK_i420`` with a consumer that takes ``--consumer-ms`` per frame
                        without using the CPU (a sleep): a stand-in for an encoder on its own
                        core or engine (NVENC). This is where the ring pays: with K=1 the GPU
                        and the consumer take turns, with K>=2 they overlap.

Apart from those two variants the consumer does nothing with the frames, so the figures are upper
bounds for the render stage's output rate; the encoder is measured elsewhere. Each measurement
is repeated ``--repeats`` times and the fastest run is reported (this machine may be shared, and
interference only ever slows a run down); every run's fps is kept in the JSON.

Usage::

    python benchmarks/bench_readback.py                       # 720p and 1080p, 40 frames each
    python benchmarks/bench_readback.py --sizes 1280x720 --frames 30 --depths 1,2,3,5 --repeats 1
    python benchmarks/bench_readback.py --out benchmarks/results/readback-mybox.json

Writes ``benchmarks/results/readback-<machine>.json`` (machine = adapter and CPU count, or
``--machine``) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpurender.render.convert import YuvConverter, rgba_to_i420_cpu  # noqa: E402
from gpurender.render.device import adapter_info, get_device  # noqa: E402
from gpurender.errors import GpurenderError  # noqa: E402
from gpurender.render.readback import (  # noqa: E402
    ReadbackRing,
    record_texture_copy,
    strip_row_padding,
    texture_copy_layout,
)
from gpurender.settings import RESOLUTIONS, parse_resolution  # noqa: E402

# Benchmark-only synthetic content, kept inline because it is not part of the package's shaders.
PATTERN_WGSL = """
@group(0) @binding(0) var dst: texture_storage_2d<rgba8unorm, write>;
@group(0) @binding(1) var<uniform> frame: vec4<u32>;

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let size = textureDimensions(dst);
    if (gid.x >= size.x || gid.y >= size.y) {
        return;
    }
    let t = f32(frame.x);
    let u = f32(gid.x) / f32(size.x);
    let v = f32(gid.y) / f32(size.y);
    let c = vec4<f32>(
        0.5 + 0.5 * sin(6.2831853 * u + 0.10 * t),
        0.5 + 0.5 * sin(6.2831853 * v + 0.07 * t),
        fract(u + v + 0.01 * t),
        1.0,
    );
    textureStore(dst, vec2<i32>(gid.xy), c);
}
"""


class PatternSource:
    """Paints frame ``i`` into ``self.texture`` with one compute pass (no CPU upload)."""

    def __init__(self, device, width: int, height: int):
        import wgpu

        self.device = device
        self.width, self.height = width, height
        self.texture = device.create_texture(
            size=(width, height, 1),
            format="rgba8unorm",
            usage=wgpu.TextureUsage.STORAGE_BINDING
            | wgpu.TextureUsage.TEXTURE_BINDING
            | wgpu.TextureUsage.COPY_SRC,
        )
        self.view = self.texture.create_view()
        self.uniform = device.create_buffer(size=16, usage=wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST)
        module = device.create_shader_module(code=PATTERN_WGSL)
        self.pipeline = device.create_compute_pipeline(layout="auto", compute={"module": module, "entry_point": "main"})
        self.bind_group = device.create_bind_group(
            layout=self.pipeline.get_bind_group_layout(0),
            entries=[
                {"binding": 0, "resource": self.view},
                {"binding": 1, "resource": {"buffer": self.uniform, "offset": 0, "size": 16}},
            ],
        )

    def encode(self, index: int):
        """A new command encoder holding frame ``index``'s pass."""
        self.device.queue.write_buffer(self.uniform, 0, np.array([index, 0, 0, 0], np.uint32))
        enc = self.device.create_command_encoder()
        cpass = enc.begin_compute_pass()
        cpass.set_pipeline(self.pipeline)
        cpass.set_bind_group(0, self.bind_group)
        cpass.dispatch_workgroups((self.width + 7) // 8, (self.height + 7) // 8, 1)
        cpass.end()
        return enc


_FENCE = {}


def _wait_idle(device) -> None:
    """Block until everything submitted so far has run.

    queue.on_submitted_work_done_sync() fails in wgpu-py 0.32 (a callback signature mismatch),
    so submit a 4-byte copy and map its target: the queue completes in order, so once that copy
    is done every earlier submission is too.
    """
    import wgpu

    if device not in _FENCE:
        _FENCE[device] = (
            device.create_buffer(size=4, usage=wgpu.BufferUsage.COPY_SRC),
            device.create_buffer(size=4, usage=wgpu.BufferUsage.COPY_DST | wgpu.BufferUsage.MAP_READ),
        )
    src, dst = _FENCE[device]
    enc = device.create_command_encoder()
    enc.copy_buffer_to_buffer(src, 0, dst, 0, 4)
    device.queue.submit([enc.finish()])
    dst.map_sync("READ")
    dst.unmap()


def _rate(frames: int, seconds: float) -> dict:
    return {"frames": frames, "seconds": round(seconds, 4), "fps": round(frames / seconds, 2),
            "ms_per_frame": round(1000.0 * seconds / frames, 3)}


def bench_source(device, src: PatternSource, frames: int) -> dict:
    for i in range(3):
        device.queue.submit([src.encode(i).finish()])
    _wait_idle(device)
    t0 = time.perf_counter()
    for i in range(frames):
        device.queue.submit([src.encode(i).finish()])
    _wait_idle(device)
    return _rate(frames, time.perf_counter() - t0)


def bench_convert_gpu(device, src: PatternSource, conv: YuvConverter, frames: int) -> dict:
    device.queue.submit([src.encode(0).finish()])
    for _ in range(3):
        enc = device.create_command_encoder()
        conv.encode(enc, src.view)
        device.queue.submit([enc.finish()])
    _wait_idle(device)
    t0 = time.perf_counter()
    for _ in range(frames):
        enc = device.create_command_encoder()
        conv.encode(enc, src.view)
        device.queue.submit([enc.finish()])
    _wait_idle(device)
    return _rate(frames, time.perf_counter() - t0)


def bench_convert_cpu(rgba: np.ndarray, frames: int) -> dict:
    rgba_to_i420_cpu(rgba)
    t0 = time.perf_counter()
    for _ in range(frames):
        rgba_to_i420_cpu(rgba)
    return _rate(frames, time.perf_counter() - t0)


def bench_ring(device, src: PatternSource, frames: int, depth: int, mode: str, conv: YuvConverter | None,
               consumer_s: float = 0.0) -> dict:
    """Frames per second through the ring; ``mode`` is "i420", "i420+wait", "rgba" or "rgba+cpu"."""
    w, h = src.width, src.height
    if mode.startswith("i420"):
        ring = ReadbackRing(device, conv.nbytes, depth=depth)
        record_copy = conv.record_copy
    else:
        _, nbytes = texture_copy_layout(w, h)
        ring = ReadbackRing(device, nbytes, depth=depth, postprocess=lambda a: strip_row_padding(a, w, h))
        record_copy = record_texture_copy(src.texture, w, h)

    def consume(done):
        for _, arr in done:
            if mode == "rgba+cpu":
                rgba_to_i420_cpu(arr)
            elif mode == "i420+wait":
                time.sleep(consumer_s)
        return len(done)

    def frame(i):
        enc = src.encode(i)
        if mode.startswith("i420"):
            conv.encode(enc, src.view)
        return ring.submit(enc, record_copy, i)

    warm = min(depth + 2, 5)
    for i in range(warm):
        consume(frame(i))
    consume(ring.flush())
    delivered = 0
    t0 = time.perf_counter()
    for i in range(frames):
        delivered += consume(frame(warm + i))
    delivered += consume(ring.flush())
    seconds = time.perf_counter() - t0
    ring.close()
    assert delivered == frames, (delivered, frames)
    return _rate(frames, seconds)


def _check_conversion(device, src: PatternSource, conv: YuvConverter) -> int:
    """Largest difference between GPU and NumPy conversion of one painted frame."""
    _, nbytes = texture_copy_layout(src.width, src.height)
    ring = ReadbackRing(device, nbytes, depth=1, postprocess=lambda a: strip_row_padding(a, src.width, src.height))
    enc = src.encode(7)
    conv.encode(enc, src.view)
    [(_, rgba)] = ring.submit(enc, record_texture_copy(src.texture, src.width, src.height), 7)
    yuv = np.frombuffer(device.queue.read_buffer(conv.buffer), np.uint8)[: conv.nbytes]
    ring.close()
    return int(np.abs(yuv.astype(np.int16) - rgba_to_i420_cpu(rgba)).max())


def _parse_size(text: str) -> tuple[str, int, int]:
    """``(label, width, height)``: a named size keeps its name, WxH is labelled ``{w}x{h}``."""
    try:
        w, h = parse_resolution(text)
    except GpurenderError as exc:
        raise SystemExit(str(exc)) from None
    key = text.strip().lower()
    return (key if key in RESOLUTIONS else f"{w}x{h}"), w, h


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):  # not on every platform
        return None


def _machine_slug(adapter_name: str) -> str:
    words = re.sub(r"\(.*?\)", "", adapter_name).lower().split()
    keep = words[:2] if words and words[0] in {"nvidia", "amd", "intel", "apple"} else words[:1]
    return "-".join(re.sub(r"[^a-z0-9]+", "", w) for w in keep) + f"-{os.cpu_count()}cpu"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="720p,1080p", help="comma-separated: 720p, 1080p, 4k or WxH")
    ap.add_argument("--frames", type=int, default=40, help="frames per measurement")
    ap.add_argument("--depths", default="1,3", help="ring depths to compare")
    ap.add_argument("--repeats", type=int, default=3, help="runs per measurement; the fastest counts")
    ap.add_argument("--consumer-ms", type=float, default=10.0, help="per-frame time of the waiting consumer")
    ap.add_argument("--machine", default=None, help="name used in the results file")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/readback-<machine>.json)")
    args = ap.parse_args(argv)

    device = get_device()
    info = adapter_info()
    depths = [int(d) for d in args.depths.split(",")]
    machine = args.machine or _machine_slug(info.name)
    results = {
        "benchmark": "readback",
        "machine": {"name": machine, "platform": platform.platform(), "processor": _cpu_model(),
                    "cpu_count": os.cpu_count(), "python": platform.python_version()},
        "adapter": {"name": info.name, "backend": info.backend, "type": info.adapter_type,
                    "description": info.description},
        "encoder": None,  # this benchmark stops before encoding
        # Other work on the machine slows runs down; the load average says how much there was.
        "loadavg_start": _loadavg(),
        "frames_per_measurement": args.frames,
        "repeats": args.repeats,
        "consumer_ms": args.consumer_ms,
        "sizes": {},
    }
    print(f"adapter: {info.summary()}   machine: {machine} ({os.cpu_count()} CPUs)   frames: {args.frames}")

    rows = []
    for spec in args.sizes.split(","):
        label, w, h = _parse_size(spec)
        src = PatternSource(device, w, h)
        conv = YuvConverter(device, w, h)
        entry = {"width": w, "height": h, "max_abs_diff_gpu_vs_cpu": _check_conversion(device, src, conv)}
        entry["kernel"] = conv.kernel
        n = args.frames
        rgba = np.random.default_rng(0).integers(0, 256, (h, w, 4), dtype=np.uint8)
        plan = {
            "source": (bench_source, (device, src, n)),
            "convert_cpu": (bench_convert_cpu, (rgba, n)),
            "convert_gpu": (bench_convert_gpu, (device, src, conv, n)),
        }
        for k in depths:
            for mode in ("i420", "i420+wait", "rgba", "rgba+cpu"):
                plan[f"ring{k}_{mode}"] = (bench_ring, (device, src, n, k, mode, conv, args.consumer_ms / 1000.0))
        # Repeats go round the whole plan, so that a burst of other work on the machine hits
        # all measurements alike instead of spoiling every run of one of them.
        runs: dict[str, list] = {key: [] for key in plan}
        for _ in range(args.repeats):
            for key, (fn, fn_args) in plan.items():
                runs[key].append(fn(*fn_args))
        for key, key_runs in runs.items():
            best = min(key_runs, key=lambda r: r["seconds"])
            entry[key] = {**best, "repeats_fps": [r["fps"] for r in key_runs]}
        if 1 in depths and len(depths) > 1:
            best = max(depths)
            for mode in ("i420", "i420+wait", "rgba", "rgba+cpu"):
                entry[f"speedup_ring{best}_vs_ring1_{mode}"] = round(
                    entry[f"ring{best}_{mode}"]["fps"] / entry[f"ring1_{mode}"]["fps"], 3)
        results["sizes"][label] = entry
        for key, val in entry.items():
            if isinstance(val, dict):
                rows.append((label, key, val["fps"], val["ms_per_frame"]))
        print(f"  {label}: done (GPU vs NumPy conversion differ by at most {entry['max_abs_diff_gpu_vs_cpu']})",
              flush=True)

    print(f"\n{'size':<10}{'measurement':<22}{'fps':>10}{'ms/frame':>12}")
    for label, key, fps, ms in rows:
        print(f"{label:<10}{key:<22}{fps:>10.1f}{ms:>12.2f}")
    print()
    for label, entry in results["sizes"].items():
        for key, val in entry.items():
            if key.startswith("speedup"):
                print(f"{label:<10}{key:<34}{val:>6.2f}x")

    results["loadavg_end"] = _loadavg()
    print(f"load average: {results['loadavg_start']} at start, {results['loadavg_end']} at end")
    out = Path(args.out) if args.out else Path(__file__).resolve().parent / "results" / f"readback-{machine}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    tmp.replace(out)
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
