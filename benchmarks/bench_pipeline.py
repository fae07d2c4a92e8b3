"""Benchmark of the render pipeline: every stage alone, then the whole render, at several sizes.

Measures, per frame size, in frames per second (median of ``--repeats`` timed runs):

* ``render``          the frame loop's GPU work without its exit: every layer's pass and the
                      compositor, one submit per frame, waited for at the end (no conversion, no
                      readback). For each scene in ``--render-scenes``.
* ``convert_gpu``     the WGSL RGBA -> I420 pass alone, on a composited frame.
* ``convert_cpu``     :func:`rgba_to_i420_cpu` (NumPy) on the same frame, read back.
* ``readbackK``       the readback ring alone with depth K: copy the I420 buffer into a staging
                      slot, map, hand the bytes to the consumer (who does nothing).
* ``exit_gpuK``       GPU conversion + I420 readback (1.5 bytes/pixel), ring depth K;
* ``exit_cpuK``       RGBA readback (4 bytes/pixel) + NumPy conversion in the consumer: the path
                      without GPU conversion.
* ``loopK``           ``FrameRenderer.frames``: render + convert + readback through a ring of depth
                      K, the consumer doing nothing (K=1 is synchronous readback).
* ``loopK_offcpu``    the frame loop with a consumer that sleeps as long as the encoder alone takes
                      per frame: a stand-in for an encoder that uses no CPU (NVENC), where the ring
                      lets rendering and encoding overlap (first size, or with ``--offcpu-consumer``).
* ``encode_<name>``   :class:`VideoWriter` fed the I420 frames ``loop3`` produced (kept in memory),
                      with nothing else to do: libx264 (``--encoder cpu``) and whatever
                      ``choose_encoder`` picks for ``--encoder auto`` when that differs.
* ``mux``             :func:`mux_audio` adding the track's audio to the encoded video.
* ``e2eK``            :func:`gpurender.pipeline.render_video` to a temporary MP4 with ring depth K,
                      rendering exactly the frames the encoder alone was fed. fps counts the frame
                      loop and the encoder flush (from the "rendering" phase to "muxing"); the
                      setup (audio analysis, shader compilation) and the mux are reported apart,
                      with the whole call's wall time.

Every timed run also records the CPU time of all this process's threads (``time.process_time``:
the software adapter's and the encoder's threads count) as ``cpu_ms_per_frame`` and ``cores_busy``.
Where every stage runs on the same CPU cores, ``cpu_bound_fps`` = cores / (CPU time per frame of the
frame loop + of the encoder) is the most any overlap could give, and ``e2e_vs_cpu_bound`` how close
the render came to it.

Variants that are compared (K=1 and K=3, GPU and CPU conversion, ...) take turns within each
round of repeats, so a change in the machine's load does not fall on one side only.

Derived in the same run: ``efficiency`` = e2e fps / encoder-alone fps (the fraction of the
encoder's own speed the pipeline keeps); ``e2e_vs_bound`` = e2e fps / min(loop3, encoder) (how well
the stages overlap); the ring's speed-ups (K=3 over K=1) and GPU over CPU conversion.

Frame rate: the cost of a frame does not depend on the video's fps. fps only changes how many
frames a second of video has (and the audio analysis, done once before rendering), so each figure
is measured once, at ``--fps`` (default 60), and turned into a real-time factor
(``fps_measured / fps_video``) for each of ``--realtime-fps`` (default 60 and 120). With
``--fps-check`` the first size is rendered end to end again at each of those rates, the same
number of frames, to show that this holds (the encoder may differ a little: frames 1/120 s apart
change less than frames 1/60 s apart).

How many frames a measurement uses follows from a time budget (``--budget`` seconds per timed run):
after a warm-up, the per-frame time is estimated and the count chosen to fill the budget, between
``--min-frames`` and ``--max-frames``. A software adapter thus gets a handful of frames and a GPU
hundreds. The I420 frames kept for the encoder are capped at ``--keep-mb`` MB.

Scenes (the issue's standard scene and a lighter variant for software adapters):

* ``standard``: a point cloud of 1,000,000 points (a sphere, round sprites 1.5-3.5 px following
  the bass, screen-blended, spinning) over a 64-band spectrum layer, composited;
* ``light``:    the same with 30,000 points;
* ``small``:    the same with 3,000 points (only for the long memory runs on a software adapter).

Usage::

    python benchmarks/bench_pipeline.py                              # 720p, light scene
    python benchmarks/bench_pipeline.py --sizes 720p,1080p,4k --render-scenes standard,light
    python benchmarks/bench_pipeline.py --sizes 1280x720 --pipeline-scenes standard --budget 5
    python benchmarks/bench_pipeline.py --out /tmp/pipeline.json

``benchmarks/run_all.py`` runs the whole suite (this plus the memory runs) with one command and
writes ``benchmarks/results/pipeline-<machine>.json``; this script writes JSON only with ``--out``.
``--memory-child SECONDS`` is the child process run_all starts to measure peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    command_line,
    describe_adapter,
    describe_encoder,
    describe_machine,
    frames_for,
    load_average,
    median_rate,
    print_table,
    proc_status_mb,
    rate,
    ratio,
    reset_peak_rss,
    timed,
    wait_idle,
    write_json,
)

from gpurender.audio import AnalysisSettings, analyze, demo_track  # noqa: E402
from gpurender.encode import EncodeSettings, VideoWriter, choose_encoder, mux_audio  # noqa: E402
from gpurender.pipeline import render_video  # noqa: E402
from gpurender.progress import Progress  # noqa: E402
from gpurender.render.convert import YuvConverter, rgba_to_i420_cpu  # noqa: E402
from gpurender.render.readback import (  # noqa: E402
    ReadbackRing,
    record_texture_copy,
    strip_row_padding,
    texture_copy_layout,
)
from gpurender.render.renderer import FrameRenderer  # noqa: E402
from gpurender.scene.loader import scene_from_dict  # noqa: E402
from gpurender.errors import GpurenderError  # noqa: E402
from gpurender.settings import RenderSettings, parse_resolution  # noqa: E402

SCENE_POINTS = {"standard": 1_000_000, "light": 30_000, "small": 3_000}
AUDIO_MARGIN_S = 0.5  # the demo track runs past the rendered span, as a real track would


def scene_dict(points: int) -> dict:
    """The benchmark scene: a point cloud of ``points`` points over a spectrum layer."""
    return {
        "background": "#07060d",
        "camera": {"distance": 3.0, "elevation": 20, "orbit_speed": 24},
        "layers": [
            {"type": "spectrum", "bars": 64, "height": {"feature": "bass", "scale": 0.25, "offset": 0.3}},
            {"type": "points", "shape": "sphere", "count": int(points), "colormap": "viridis",
             "size": {"feature": "bass", "scale": 2.0, "offset": 1.5}, "spin": 20, "blend": "screen"},
        ],
    }


def make_scene(name: str):
    return scene_from_dict(scene_dict(SCENE_POINTS[name]), source=f"<benchmark scene {name}>")


def parse_size(text: str) -> tuple[str, int, int]:
    """``(label, width, height)`` with the size as given as its label."""
    try:
        w, h = parse_resolution(text)
    except GpurenderError as exc:
        raise SystemExit(str(exc)) from None
    return text.strip().lower(), w, h


class Budget:
    """How long a timed run may take and how many frames that allows."""

    def __init__(self, seconds: float, least: int, most: int, repeats: int):
        self.seconds, self.least, self.most, self.repeats = seconds, least, most, repeats

    def frames(self, seconds_per_frame: float, cap: int | None = None, least: int | None = None) -> int:
        least = self.least if least is None else least
        most = self.most if cap is None else max(least, min(self.most, cap))
        return frames_for(seconds_per_frame, self.seconds, least, most)


# -- one stage at a time ----------------------------------------------------------------------------


def render_only(renderer: FrameRenderer, n: int, first: int = 0) -> int:
    dev = renderer.device
    for j in range(n):
        enc = dev.create_command_encoder()
        renderer.encode_frame(enc, renderer.frame_info(first + j, j, n))
        dev.queue.submit([enc.finish()])
    wait_idle(dev)
    return n


def convert_gpu(device, conv: YuvConverter, view, n: int) -> int:
    for _ in range(n):
        enc = device.create_command_encoder()
        conv.encode(enc, view)
        device.queue.submit([enc.finish()])
    wait_idle(device)
    return n


def convert_cpu(rgba: np.ndarray, n: int) -> int:
    for _ in range(n):
        rgba_to_i420_cpu(rgba)
    return n


def readback(device, conv: YuvConverter, texture, n: int, depth: int, mode: str) -> int:
    """Frames through a ring of ``depth`` with no rendering; ``mode``: i420, exit_gpu or exit_cpu."""
    w, h = conv.width, conv.height
    if mode == "exit_cpu":
        _, nbytes = texture_copy_layout(w, h)
        ring = ReadbackRing(device, nbytes, depth=depth, postprocess=lambda a: strip_row_padding(a, w, h))
        record = record_texture_copy(texture, w, h)
    else:
        ring = ReadbackRing(device, conv.nbytes, depth=depth)
        record = conv.record_copy
    view = texture.create_view()
    delivered = 0

    def consume(done):
        nonlocal delivered
        for _, arr in done:
            if mode == "exit_cpu":
                rgba_to_i420_cpu(arr)
            delivered += 1

    try:
        for i in range(n):
            enc = device.create_command_encoder()
            if mode == "exit_gpu":
                conv.encode(enc, view)
            consume(ring.submit(enc, record, i))
        consume(ring.flush())
    finally:
        ring.close()
    if delivered != n:
        raise RuntimeError(f"the ring delivered {delivered} of {n} frames")
    return n


def frame_loop(renderer: FrameRenderer, n: int, depth: int, keep: list | None = None,
               consumer_s: float = 0.0) -> int:
    """``FrameRenderer.frames`` with a consumer that keeps the frames or sleeps ``consumer_s`` on each."""
    expected = 0
    for index, data in renderer.frames(0, n, ring_depth=depth):
        if index != expected:
            raise RuntimeError(f"frame loop delivered frame {index} where {expected} was due")
        expected += 1
        if keep is not None:
            keep.append(data)
        if consumer_s:
            time.sleep(consumer_s)
    return expected


def encode_settings(w: int, h: int, fps: int, encoder: str) -> EncodeSettings:
    # The same settings render_video derives for an MP4 at the default quality.
    return EncodeSettings(width=w, height=h, fps=fps, format="mp4", encoder=encoder,
                          quality=RenderSettings().quality)


def encode_only(frames: list, settings: EncodeSettings, choice, path: Path) -> dict:
    """Time VideoWriter.write for every frame plus close (the flush); the writer is opened untimed."""
    writer = VideoWriter(path, settings, input_format="yuv420p", choice=choice)
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        for frame in frames:
            writer.write(frame)  # the writer only reads the array, so the same one may go twice
        writer.close()
        return rate(len(frames), time.perf_counter() - t0, time.process_time() - c0)
    except BaseException:
        writer.abort()
        raise


def _reopen_frames(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.frames:
            return int(stream.frames)
        return sum(1 for _ in container.demux(stream) if _.size)


class PhaseClock(Progress):
    """A quiet Progress that notes when each phase of a render began (``time.perf_counter``)."""

    def __init__(self, on_phase=None):
        super().__init__(quiet=True)
        self.at: dict[str, float] = {}
        self.cpu_at: dict[str, float] = {}  # time.process_time: CPU time of all this process's threads
        self.on_phase = on_phase

    def phase(self, name, total=None, detail=""):
        self.at.setdefault(name, time.perf_counter())
        self.cpu_at.setdefault(name, time.process_time())
        if self.on_phase is not None:
            self.on_phase(name)
        super().phase(name, total, detail)


def end_to_end(scene, audio, w: int, h: int, fps: int, n: int, depth: int, path: Path) -> dict:
    settings = RenderSettings(width=w, height=h, fps=fps, duration=n / fps, ring_depth=depth)
    clock = PhaseClock()
    t0 = time.perf_counter()
    result = render_video(scene, audio, path, settings, progress=clock)
    total = time.perf_counter() - t0
    at = clock.at
    out = rate(result.frames, at["muxing"] - at["rendering"], clock.cpu_at["muxing"] - clock.cpu_at["rendering"])
    out.update({
        "setup_s": round(at["rendering"] - t0, 3),
        "flush_s": round(at["muxing"] - at["encoding"], 3),
        "mux_s": round(at["complete"] - at["muxing"], 3),
        "total_s": round(total, 3),
        "fps_including_setup": round(result.frames / total, 2),
        "encoder": result.encoder,
        "frames_in_file": _reopen_frames(path),
    })
    path.unlink()
    if out["frames_in_file"] != n:
        raise RuntimeError(f"render_video wrote {out['frames_in_file']} frames, expected {n}")
    return out


# -- one size ------------------------------------------------------------------------------------------


def _estimate(fn, least_s: float = 0.05) -> float:
    """Seconds per frame of ``fn(frames)``, after one call that warms it up.

    One frame is timed; when that is too quick to time well, a batch long enough to be.
    """
    fn(1)
    t0 = time.perf_counter()
    fn(1)
    one = time.perf_counter() - t0
    if one >= least_s:
        return one
    k = min(int(least_s / max(one, 1e-6)) + 1, 1000)
    t0 = time.perf_counter()
    fn(k)
    return (time.perf_counter() - t0) / k


def interleaved(variants: dict, repeats: int) -> dict:
    """Median run of each variant, the variants taking turns within every round.

    Taking turns (A B A B ...) rather than running all of A then all of B keeps a change in the
    machine's load from landing on one variant only, so ratios between them stay fair.
    """
    runs: dict = {key: [] for key in variants}
    for _ in range(max(1, repeats)):
        for key, fn in variants.items():
            runs[key].append(fn())
    return {key: median_rate(val) for key, val in runs.items()}


def _features(audio, fps: int):
    return analyze(audio, fps, settings=AnalysisSettings(fft_size=RenderSettings().fft_size))


def render_breakdown(label: str, w: int, h: int, fps: int, audio, budget: Budget, log=print) -> dict:
    """The render stage of the light scene taken apart: no layer, each layer alone, both."""
    features = _features(audio, fps)
    full = scene_dict(SCENE_POINTS["light"])
    parts = {"no_layers": [], "spectrum_only": [full["layers"][0]], "points_only": [full["layers"][1]],
             "both": full["layers"]}
    variants = {}
    for key, layers in parts.items():
        renderer = FrameRenderer(scene_from_dict({**full, "layers": layers}), features, w, h, fps)
        n = budget.frames(_estimate(lambda k, r=renderer: render_only(r, k)))
        variants[key] = lambda r=renderer, n=n: timed(lambda: render_only(r, n))
    out = interleaved(variants, budget.repeats)
    log(f"  {label} render breakdown: " + ", ".join(f"{k} {v['ms_per_frame']:.0f} ms" for k, v in out.items()))
    return out


def bench_size(label: str, w: int, h: int, fps: int, render_scenes: list[str], pipeline_scenes: list[str],
               budget: Budget, e2e_depths: list[int], keep_mb: float, workdir: Path, breakdown: bool = False,
               e2e_repeats: int | None = None, offcpu_consumer: bool = False, log=print) -> dict:
    """Every measurement at one frame size; returns the JSON entry for it."""
    entry: dict = {"width": w, "height": h, "fps": fps, "load_average_start": load_average(), "scenes": {}}
    r = budget.repeats
    # The audio is long enough for the longest run; features are the whole track's, as in render_video.
    audio = demo_track(budget.most / fps + AUDIO_MARGIN_S)
    features = _features(audio, fps)
    if breakdown:
        entry["render_breakdown"] = render_breakdown(label, w, h, fps, audio, budget, log)
    for name in dict.fromkeys(render_scenes + pipeline_scenes):
        scene = make_scene(name)
        t0 = time.perf_counter()
        renderer = FrameRenderer(scene, features, w, h, fps)
        spf = _estimate(lambda k: render_only(renderer, k))
        res: dict = {"points": SCENE_POINTS[name], "renderer_setup_s": round(time.perf_counter() - t0, 3)}
        # The render alone needs fewer frames than the budget's least when one takes seconds (a
        # million points on a software adapter); the frame loop and encoder below keep the least.
        n = budget.frames(spf, least=min(budget.least, 2))
        res.update(interleaved({"render": lambda: timed(lambda: render_only(renderer, n))}, r))
        log(f"  {label} {name}: render {res['render']['fps']:.2f} fps ({n} frames)")
        entry["scenes"][name] = res
        if name in pipeline_scenes:
            bench_pipeline_stages(res, label, name, scene, renderer, audio, w, h, fps, budget, e2e_depths,
                                  keep_mb, workdir, e2e_repeats or budget.repeats, offcpu_consumer, log)
        del renderer
    entry["load_average_end"] = load_average()
    return entry


def bench_pipeline_stages(res: dict, label: str, name: str, scene, renderer, audio, w: int, h: int, fps: int,
                          budget: Budget, e2e_depths: list[int], keep_mb: float, workdir: Path,
                          e2e_repeats: int, offcpu_consumer: bool = False, log=print) -> None:
    """Conversion, readback, frame loop, encoder, mux and end to end for one scene at one size."""
    r = budget.repeats
    device = renderer.device
    # The stages alone convert and read back a finished RGBA8 frame (the scene's frame 0): the frame
    # loop itself converts its float composite inside the conversion pass.
    import wgpu

    rgba = renderer.render_rgba(0)
    texture = device.create_texture(size=(w, h, 1), format="rgba8unorm",
                                    usage=wgpu.TextureUsage.TEXTURE_BINDING | wgpu.TextureUsage.COPY_SRC
                                    | wgpu.TextureUsage.COPY_DST)
    device.queue.write_texture({"texture": texture}, np.ascontiguousarray(rgba), {"bytes_per_row": 4 * w,
                                                                                "rows_per_image": h}, (w, h, 1))
    view = texture.create_view()
    conv = YuvConverter(device, w, h)

    n_gpu = budget.frames(_estimate(lambda k: convert_gpu(device, conv, view, k)))
    n_cpu = budget.frames(_estimate(lambda k: convert_cpu(rgba, k)))
    res.update(interleaved({
        "convert_gpu": lambda: timed(lambda: convert_gpu(device, conv, view, n_gpu)),
        "convert_cpu": lambda: timed(lambda: convert_cpu(rgba, n_cpu)),
    }, r))
    variants = {}
    for mode in ("i420", "exit_gpu", "exit_cpu"):
        for k in (1, 3):
            key = f"readback{k}" if mode == "i420" else f"{mode}{k}"
            n = budget.frames(_estimate(lambda m, k=k, mode=mode: readback(device, conv, texture, m, k, mode)))
            variants[key] = lambda n=n, k=k, mode=mode: timed(lambda: readback(device, conv, texture, n, k, mode))
    res.update(interleaved(variants, r))
    log(f"  {label} {name}: convert gpu {res['convert_gpu']['fps']:.1f} / cpu {res['convert_cpu']['fps']:.1f} fps, "
        f"readback K=1/3 {res['readback1']['fps']:.1f}/{res['readback3']['fps']:.1f} fps")

    # The frame loop; the first K=3 run keeps its frames for the encoder alone (up to keep_mb).
    frame_mb = w * h * 1.5 / 1e6
    n = budget.frames(_estimate(lambda k: frame_loop(renderer, k, 3)), cap=int(keep_mb // frame_mb))
    kept: list = []

    def loop3():
        return timed(lambda: frame_loop(renderer, n, 3, keep=None if kept else kept))

    res.update(interleaved({"loop3": loop3, "loop1": lambda: timed(lambda: frame_loop(renderer, n, 1))}, r))
    log(f"  {label} {name}: frame loop K=1 {res['loop1']['fps']:.2f} / K=3 {res['loop3']['fps']:.2f} fps ({n} frames)")

    # The encoder alone on exactly those frames (libx264, and the automatic choice if different).
    variants = {}
    for mode in ("cpu", "auto"):
        settings = encode_settings(w, h, fps, mode)
        choice = choose_encoder(settings)
        res[f"encoder_{mode}"] = choice.name
        key = f"encode_{choice.name}"
        if key in variants:
            continue
        res.setdefault("encoders", {})[choice.name] = describe_encoder(choice)
        path = workdir / f"enc-{choice.name}.mp4"
        variants[key] = lambda s=settings, c=choice, p=path: encode_only(kept, s, c, p)
    res.update(interleaved(variants, r))
    log(f"  {label} {name}: " + ", ".join(f"{k} {res[k]['fps']:.2f} fps" for k in variants))

    if offcpu_consumer:
        # The ring against a consumer that takes as long as the encoder but uses no CPU (an
        # encoder on its own chip, NVENC): with K=1 the renderer and it take turns, with K=3 they overlap.
        wait_s = res[f"encode_{res['encoder_auto']}"]["ms_per_frame"] / 1000.0
        res["offcpu_consumer_ms"] = round(1000.0 * wait_s, 3)
        res.update(interleaved({
            "loop3_offcpu": lambda: timed(lambda: frame_loop(renderer, n, 3, consumer_s=wait_s)),
            "loop1_offcpu": lambda: timed(lambda: frame_loop(renderer, n, 1, consumer_s=wait_s)),
        }, r))
        log(f"  {label} {name}: frame loop with an off-CPU consumer of {1000 * wait_s:.0f} ms: "
            f"K=1 {res['loop1_offcpu']['fps']:.2f} / K=3 {res['loop3_offcpu']['fps']:.2f} fps")

    video = workdir / f"enc-{res['encoder_auto']}.mp4"
    muxed = workdir / "muxed.mp4"

    def do_mux():
        mux_audio(video, audio, muxed, start_time=0.0, duration=n / fps, format="mp4")
        return n

    res.update(interleaved({"mux": lambda: timed(do_mux)}, r))
    for p in workdir.glob("*.mp4"):
        p.unlink()
    kept.clear()

    # End to end on the same frames; the setup (analysis, shader compilation) is reported apart.
    variants = {f"e2e{d}": (lambda d=d: end_to_end(scene, audio, w, h, fps, n, d, workdir / f"e2e{d}.mp4"))
                for d in e2e_depths}
    res.update(interleaved(variants, e2e_repeats))
    log(f"  {label} {name}: end to end " + ", ".join(
        f"K={d} {res[f'e2e{d}']['fps']:.2f} fps" for d in e2e_depths)
        + f" (setup {res[f'e2e{e2e_depths[0]}']['setup_s']:.1f} s)" if e2e_depths else "")
    res["derived"] = derive(res)


def derive(res: dict) -> dict:
    """Ratios between measurements of the same run."""
    enc = res.get(f"encode_{res.get('encoder_auto')}", {}).get("fps")
    loop3 = res.get("loop3", {}).get("fps")
    d = {
        "ring_speedup_loop": ratio(loop3, res.get("loop1", {}).get("fps")),
        "ring_speedup_readback": ratio(res.get("readback3", {}).get("fps"), res.get("readback1", {}).get("fps")),
        "gpu_over_cpu_conversion": ratio(res.get("convert_gpu", {}).get("fps"), res.get("convert_cpu", {}).get("fps")),
        "gpu_over_cpu_exit": ratio(res.get("exit_gpu3", {}).get("fps"), res.get("exit_cpu3", {}).get("fps")),
    }
    if "e2e3" in res:
        e2e = res["e2e3"]["fps"]
        bound = min(x for x in (loop3, enc) if x)
        d["efficiency"] = ratio(e2e, enc)
        d["e2e_vs_bound"] = ratio(e2e, bound)
        d["limit"] = "encoder" if enc and loop3 and enc < loop3 else "render+convert+readback"
        # Were the stages run one after another, each frame would cost the sum of their times.
        if enc and loop3:
            d["serial_fps"] = round(1.0 / (1.0 / enc + 1.0 / loop3), 2)
            d["e2e_over_serial"] = ratio(e2e, d["serial_fps"])
    if "loop3_offcpu" in res:
        d["ring_speedup_offcpu_consumer"] = ratio(res["loop3_offcpu"]["fps"], res["loop1_offcpu"]["fps"])
    # CPU time per frame of each stage alone: on a machine where every stage runs on the same cores
    # (a software adapter and a CPU encoder), no overlap beats cores / (their sum).
    cpu_loop = res.get("loop3", {}).get("cpu_ms_per_frame")
    cpu_enc = res.get(f"encode_{res.get('encoder_auto')}", {}).get("cpu_ms_per_frame")
    if cpu_loop and cpu_enc and "e2e3" in res:
        cores = _usable_cores()
        d["cpu_bound_fps"] = round(1000.0 * cores / (cpu_loop + cpu_enc), 2)
        d["e2e_vs_cpu_bound"] = ratio(res["e2e3"]["fps"], d["cpu_bound_fps"])
    if "e2e1" in res and "e2e3" in res:
        d["ring_speedup_e2e"] = ratio(res["e2e3"]["fps"], res["e2e1"]["fps"])
    return d


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def fps_check(scene_name: str, w: int, h: int, fps_list: list[int], n: int, repeats: int, workdir: Path,
              log=print) -> dict:
    """End to end at one size and frame count at each rate: the per-frame cost should not change."""
    scene = make_scene(scene_name)
    out = {"scene": scene_name, "width": w, "height": h}
    variants = {}
    for fps in fps_list:
        audio = demo_track(n / fps + AUDIO_MARGIN_S)
        variants[f"e2e3_at_{fps}fps"] = lambda fps=fps, audio=audio: end_to_end(
            scene, audio, w, h, fps, n, 3, workdir / f"fps-{fps}.mp4")
    out.update(interleaved(variants, repeats))
    log("  fps check: " + ", ".join(f"{k} {v['fps']:.2f} fps" for k, v in out.items() if isinstance(v, dict)))
    return out


# -- memory child ---------------------------------------------------------------------------------------


def memory_child(seconds: float, size: str, fps: int, scene_name: str) -> dict:
    """Render ``seconds`` of video in this process; report what memory it used at each phase."""
    _, w, h = parse_size(size)
    marks: dict = {"rss_start_mb": proc_status_mb("VmRSS")}
    audio = demo_track(seconds + AUDIO_MARGIN_S)
    marks["audio_mb"] = round(audio.samples.nbytes / 2**20, 1)

    def on_phase(name):
        if name == "rendering":
            # From here on only frames stream; the peak of this part must not grow with length.
            marks["rss_render_start_mb"] = proc_status_mb("VmRSS")
            marks["peak_before_render_mb"] = proc_status_mb("VmHWM")
            marks["peak_reset"] = reset_peak_rss()
        elif name == "muxing":
            marks["frame_loop_peak_mb"] = proc_status_mb("VmHWM")
            marks["rss_render_end_mb"] = proc_status_mb("VmRSS")

    with tempfile.TemporaryDirectory(prefix="gpurender-mem-") as tmp:
        settings = RenderSettings(width=w, height=h, fps=fps, duration=seconds)
        t0 = time.perf_counter()
        result = render_video(make_scene(scene_name), audio, Path(tmp) / "mem.mp4", settings,
                              progress=PhaseClock(on_phase))
        marks["seconds"] = round(time.perf_counter() - t0, 2)
        marks["frames"] = result.frames
        marks["encoder"] = result.encoder
    # VmHWM was reset when the frames began, so the process's own peak is the larger of the two parts.
    marks["vmhwm_mb"] = max(marks.get("peak_before_render_mb") or 0.0, proc_status_mb("VmHWM") or 0.0)
    # What render_video held for the whole render besides the track: the features it analysed.
    feats = _features(audio, fps)
    marks["features_mb"] = round(sum(v.nbytes for v in vars(feats).values() if isinstance(v, np.ndarray)) / 2**20, 1)
    marks["spectrum_mb"] = round(feats.spectrum.nbytes / 2**20, 1) if feats.spectrum is not None else 0.0
    del feats
    if marks.get("peak_reset"):
        marks["frame_loop_increment_mb"] = round(marks["frame_loop_peak_mb"] - marks["rss_render_start_mb"], 1)
    return marks


# -- command line ----------------------------------------------------------------------------------------


def table_rows(sizes: dict, realtime_fps: list[int]) -> list[list]:
    rows = []
    for label, entry in sizes.items():
        for name, res in entry["scenes"].items():
            for key, val in res.items():
                if isinstance(val, dict) and "fps" in val:
                    rows.append([label, name, key, val["frames"], val["fps"], val["ms_per_frame"],
                                 *[round(val["fps"] / f, 3) for f in realtime_fps]])
    return rows


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENE_POINTS]
    if unknown:
        raise SystemExit(f"unknown scene {unknown[0]!r}; use {', '.join(SCENE_POINTS)}")
    return names


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="720p", help="comma-separated: 720p, 1080p, 4k or WxH")
    ap.add_argument("--render-scenes", default="standard,light", help="scenes whose render stage is timed")
    ap.add_argument("--pipeline-scenes", default="light", help="scenes run through every stage and end to end")
    ap.add_argument("--fps", type=int, default=60, help="video frame rate of the measured renders")
    ap.add_argument("--realtime-fps", default="60,120", help="rates the figures are turned into real-time factors for")
    ap.add_argument("--budget", type=float, default=2.0, help="seconds per timed run")
    ap.add_argument("--min-frames", type=int, default=4)
    ap.add_argument("--max-frames", type=int, default=600)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--e2e-depths", default="3,1", help="ring depths of the end-to-end renders")
    ap.add_argument("--breakdown", action=argparse.BooleanOptionalAction, default=True,
                    help="time each layer of the light scene alone at the first size")
    ap.add_argument("--fps-check", action=argparse.BooleanOptionalAction, default=False,
                    help="render the first size end to end at each --realtime-fps too")
    ap.add_argument("--offcpu-consumer", action="store_true",
                    help="time the frame loop with an off-CPU consumer at every size, not only the first")
    ap.add_argument("--keep-mb", type=float, default=1000.0, help="memory for the frames kept for the encoder")
    ap.add_argument("--memory-child", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--memory-size", default="256x144", help=argparse.SUPPRESS)
    ap.add_argument("--memory-scene", default="light", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)

    if args.memory_child is not None:
        print(json.dumps(memory_child(args.memory_child, args.memory_size, args.fps, args.memory_scene)))
        return 0

    realtime = [int(x) for x in args.realtime_fps.split(",")]
    budget = Budget(args.budget, args.min_frames, args.max_frames, args.repeats)
    results = {
        "benchmark": "pipeline",
        "command": command_line(),
        "machine": describe_machine(),
        "adapter": describe_adapter(),
        "load_average_start": load_average(),
        "sizes": {},
    }
    with tempfile.TemporaryDirectory(prefix="gpurender-bench-") as tmp:
        for spec in args.sizes.split(","):
            label, w, h = parse_size(spec)
            results["sizes"][label] = bench_size(
                label, w, h, args.fps, _names(args.render_scenes), _names(args.pipeline_scenes), budget,
                [int(d) for d in args.e2e_depths.split(",") if d], args.keep_mb, Path(tmp),
                breakdown=args.breakdown and not results["sizes"],
                offcpu_consumer=args.offcpu_consumer or not results["sizes"])
        if args.fps_check and _names(args.pipeline_scenes):
            label, w, h = parse_size(args.sizes.split(",")[0])
            first = results["sizes"][label]["scenes"][_names(args.pipeline_scenes)[0]]
            results["fps_check"] = fps_check(_names(args.pipeline_scenes)[0], w, h, realtime,
                                             first["loop3"]["frames"], budget.repeats, Path(tmp))
    results["load_average_end"] = load_average()
    print_table(["size", "scene", "measurement", "frames", "fps", "ms/frame", *[f"x{f}" for f in realtime]],
                table_rows(results["sizes"], realtime))
    if args.out:
        print(f"wrote {write_json(Path(args.out), results)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
