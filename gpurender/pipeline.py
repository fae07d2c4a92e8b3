"""Runs a whole render: analyse the audio, draw and encode every frame, mux the audio, publish.

This module only sequences the stages (audio → render → encode → mux) and reports progress;
each stage does its own work. A render runs in one pass, or, when :class:`~gpurender.farm.JobOptions`
are given, as chunks through the farm stage (in-process or on Ray) whose segments are joined by
stream copy; either way the audio is muxed once, over the whole video. The output appears at its
path only when complete: the video-only intermediate and the muxed file are written under
temporary names beside it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import GpurenderError
from .progress import Progress
from .scene.model import Scene, check_features
from .settings import RenderSettings, frame_span


@dataclass(frozen=True)
class RenderResult:
    path: str
    frames: int
    first_frame: int
    duration: float
    size_bytes: int
    encoder: str
    adapter: str
    seconds: float
    chunks: int = 0  # 0: a single pass
    chunks_rendered: int = 0  # chunks rendered by this run (the rest came from an earlier one)
    job_dir: str | None = None  # kept only with keep_job

    def summary(self) -> str:
        size = self.size_bytes / 1e6
        chunked = ""
        if self.chunks:
            chunked = f", {self.chunks} chunks ({self.chunks_rendered} rendered by this run)"
        return (f"wrote {self.path}: {size:.1f} MB, {self.duration:.3f} s, {self.frames} frames, "
                f"encoder {self.encoder}, adapter {self.adapter}{chunked}, {self.seconds:.1f} s")


def _encode_settings(settings: RenderSettings, fmt: str, alpha: bool, gop=None, container: str | None = None):
    """Encoder settings for output format ``fmt``, written into ``container`` (default: ``fmt``)."""
    from .encode import EncodeSettings, default_codec

    return EncodeSettings(
        width=settings.width, height=settings.height, fps=settings.fps, format=container or fmt,
        codec=settings.codec or default_codec(fmt), encoder=settings.encoder, quality=settings.quality,
        lossless=settings.lossless, alpha=alpha, gop=gop,
    )


def resolve_format(output, settings: RenderSettings) -> str:
    from .encode import format_from_path

    return settings.format or format_from_path(output)


def _refuse_inputs(output, scene: Scene, audio, fmt: str) -> None:
    """Refuse, before any work, an output that would replace the scene, a file it uses or the audio."""
    from .encode.files import refuse_input_as_output

    inputs = scene.input_files() + [("audio", getattr(audio, "source", None))]
    refuse_input_as_output(output, inputs, png=fmt == "png")


def analyse(audio, settings: RenderSettings, progress: Progress, scene: Scene | None = None):
    """The whole track's features, computed once before the first frame is drawn.

    The scene's bindings are checked against the feature names first, so a typo fails before
    any work. Layers read bands, waveform and scalars, never per-bin spectra, so those are not
    kept (a 10-minute track's spectrum would outgrow a storage buffer binding).
    """
    from .audio import AnalysisSettings, Features, analyze

    if scene is not None:
        check_features(scene, Features.SCALAR_NAMES)

    progress.phase("analysing", detail=f"{audio.duration:.2f} s of audio at {audio.sample_rate} Hz, "
                                        f"{settings.fps} fps, FFT {settings.fft_size}")
    features = analyze(audio, settings.fps,
                       settings=AnalysisSettings(fft_size=settings.fft_size, keep_spectrum=False))
    progress.info(f"analysis on {features.backend}: {features.n_frames} frames")
    return features


def render_video(scene: Scene, audio, output, settings: RenderSettings = RenderSettings(),
                 progress: Progress | None = None, *, job=None, audio_codec: str | None = None) -> RenderResult:
    """Render ``scene`` over ``audio`` (a :class:`gpurender.audio.AudioData`) to ``output``.

    With ``job`` (a :class:`gpurender.farm.JobOptions`) the frames are rendered as chunks through
    a job directory, in this process or on Ray, and can be resumed; Ctrl-C then raises
    :class:`gpurender.farm.JobInterrupted`. ``audio_codec`` overrides the format's default audio
    codec (e.g. ``"pcm_f32le"`` in mkv/mov keeps the source's samples exactly).
    """
    _refuse_inputs(output, scene, audio, resolve_format(Path(output), settings))
    if job is not None:
        return _render_chunked(scene, audio, output, settings, progress or Progress(quiet=True), job, audio_codec)
    from .encode import VideoWriter, mux_audio
    from .encode.files import check_output_dir, remove_quietly, temp_beside
    from .render.device import adapter_info
    from .render.renderer import FrameRenderer

    progress = progress or Progress(quiet=True)
    started = time.monotonic()
    output = Path(output)
    progress.phase("preparing")
    fmt = resolve_format(output, settings)
    check_output_dir(output)
    first, count = frame_span(settings.start, settings.duration, settings.fps, audio.duration)
    from .encode import default_codec

    # A transparent background survives only where the codec carries alpha (PNG, ProRes 4444).
    alpha = scene.transparent and (settings.codec or default_codec(fmt)) in ("png", "prores")
    needs_mux = fmt != "png"
    # The video-only intermediate uses the output's own container: Matroska's millisecond
    # timestamps would survive the stream copy and bend MP4's frame rate (12 fps -> 12.012).
    enc = _encode_settings(settings, fmt, alpha)

    features = analyse(audio, settings, progress, scene)
    renderer = FrameRenderer(scene, features, settings.width, settings.height, settings.fps, seed=settings.seed)
    adapter = adapter_info().summary()
    progress.info(f"adapter: {adapter}")

    video_path = temp_beside(output) if needs_mux else output
    input_format = "rgba" if (alpha or fmt == "png") else "yuv420p"
    try:
        with VideoWriter(video_path, enc, input_format=input_format, queue_size=settings.queue_size) as writer:
            progress.info(writer.choice.notice or f"encoder: {writer.choice.name}")
            progress.phase("rendering", total=count,
                           detail=f"{count} frames at {settings.width}x{settings.height}, {settings.fps} fps")
            done = 0
            for _, data in renderer.frames(first, count, output=input_format, ring_depth=settings.ring_depth):
                writer.write(data)
                done += 1
                progress.update(done)
            progress.phase("encoding", detail="flushing the encoder")
        encoder_name = writer.choice.name
        if needs_mux:
            progress.phase("muxing", detail=f"audio {first / settings.fps:.3f}s + {count / settings.fps:.3f}s")
            mux_audio(video_path, audio, output, start_time=first / settings.fps,
                      duration=count / settings.fps, format=fmt, audio_codec=audio_codec)
    finally:
        if needs_mux:
            remove_quietly(video_path)
    size = _size(output)
    progress.phase("complete")
    return RenderResult(path=str(output), frames=count, first_frame=first, duration=count / settings.fps,
                        size_bytes=size, encoder=encoder_name, adapter=adapter,
                        seconds=time.monotonic() - started)


def _output_settings(settings: RenderSettings, fmt: str, codec: str, alpha: bool, first: int, count: int,
                     audio_codec: str | None) -> dict:
    """The settings that change a chunked render's output (a job's identity covers exactly these)."""
    return {
        "width": settings.width, "height": settings.height, "fps": settings.fps, "quality": settings.quality,
        "format": fmt, "codec": codec, "encoder": settings.encoder, "lossless": settings.lossless,
        "alpha": alpha, "first": first, "count": count, "fft_size": settings.fft_size, "seed": settings.seed,
        "audio_codec": audio_codec,
    }


def _render_chunked(scene: Scene, audio, output, settings: RenderSettings, progress: Progress, options,
                    audio_codec: str | None) -> RenderResult:
    """Render in chunks through a job directory, then join the segments and mux the audio once."""
    from dataclasses import replace

    from . import __version__
    from .encode import default_codec, mux_audio
    from .encode.files import check_output_dir, remove_quietly, temp_beside
    from .farm import (ChunkRecord, ChunkTask, Manifest, check_finished, default_job_dir, job_identity,
                       join_segments, make_executor, open_job, plan_chunks, run_chunks, segment_gop)
    from .farm.driver import JobInterrupted
    from .farm.job import SEGMENT_FORMAT
    from .encode.encoders import NVENC

    started = time.monotonic()
    output = Path(output)
    progress.phase("preparing")
    fmt = resolve_format(output, settings)
    if fmt == "png":
        raise GpurenderError(
            "a PNG sequence is already one file per frame; leave out the chunk and farm options for --format png"
        )
    check_output_dir(output)
    first, count = frame_span(settings.start, settings.duration, settings.fps, audio.duration)
    codec = settings.codec or default_codec(fmt)
    alpha = scene.transparent and codec in ("png", "prores")
    _encode_settings(settings, fmt, alpha)  # refuses a format/codec pair before any work
    input_format = "rgba" if alpha else "yuv420p"
    executor = make_executor(options)  # says how to install Ray before anything is analysed
    plan = plan_chunks(first, count, options.chunk_frames, options.chunks, fps=settings.fps)  # fails early

    features = analyse(audio, settings, progress, scene)
    identity = job_identity(scene, audio, _output_settings(settings, fmt, codec, alpha, first, count, audio_codec))
    requested = options.requested_plan
    job_path = Path(options.job_dir) if options.job_dir else default_job_dir(output)

    def new_manifest():
        return Manifest(
            identity=identity, output=str(output), format=fmt, fps=settings.fps, first=first, count=count,
            gop=segment_gop(plan), plan=requested or {"chunk_frames": plan[0].count},
            settings=_output_settings(settings, fmt, codec, alpha, first, count, audio_codec),
            chunks=[ChunkRecord(c.index, c.first, c.count) for c in plan], version=__version__,
        )

    job = open_job(job_path, identity, new_manifest, options.resume, requested, str(output), info=progress.info)
    try:
        manifest = job.manifest
        pending = job.pending()
        total = len(manifest.chunks)
        progress.info(f"job {job.path}: {total} chunks of up to {max(c.count for c in manifest.chunks)} frames, "
                      f"{total - len(pending)} already done")
        encoder_mode = settings.encoder
        done_encoders = {c.encoder for c in manifest.chunks if c.state == "done" and c.encoder}
        if encoder_mode == "auto" and done_encoders:
            # Chunks rendered earlier fix the encoder: segments join only if one encoder wrote them all.
            encoder_mode = "gpu" if done_encoders & set(NVENC.values()) else "cpu"
        segment_enc = replace(_encode_settings(settings, fmt, alpha, gop=manifest.gop, container=SEGMENT_FORMAT),
                              encoder=encoder_mode)
        tasks = [
            ChunkTask(job=identity.job, job_dir=str(job.path.resolve()), index=c.index, first=c.first, count=c.count,
                      segment=str(job.segment_path(c).resolve()), encode=segment_enc, input_format=input_format,
                      width=settings.width, height=settings.height, fps=settings.fps, seed=settings.seed,
                      ring_depth=settings.ring_depth, queue_size=settings.queue_size,
                      features=str(job.features_path.resolve()), progress=str(job.progress_path(c).resolve()),
                      version=__version__)
            for c in pending
        ]
        if tasks:
            run_chunks(job, tasks, executor, _absolute_paths(scene), features, progress)
        check_finished(job)
        adapters = sorted({c.adapter for c in manifest.chunks if c.adapter})
        progress.phase("encoding", detail=f"joining {total} segments by stream copy")
        video_path = temp_beside(output)
        try:
            encoder_name = join_segments(job, video_path)
            progress.phase("muxing", detail=f"audio {first / settings.fps:.3f}s + {count / settings.fps:.3f}s")
            mux_audio(video_path, audio, output, start_time=first / settings.fps,
                      duration=count / settings.fps, format=fmt, audio_codec=audio_codec)
        finally:
            remove_quietly(video_path)
    except JobInterrupted:
        raise
    except KeyboardInterrupt:  # during the join or the mux: every chunk is kept
        counts = job.manifest.counts()
        raise JobInterrupted(job.path, counts["done"], len(job.manifest.chunks)) from None
    finally:
        job.close()
    if not options.keep_job:
        job.remove()
    size = _size(output)
    progress.phase("complete")
    return RenderResult(path=str(output), frames=count, first_frame=first, duration=count / settings.fps,
                        size_bytes=size, encoder=encoder_name, adapter="; ".join(adapters) or "none",
                        seconds=time.monotonic() - started, chunks=total, chunks_rendered=len(tasks),
                        job_dir=str(job.path) if options.keep_job else None)


def _absolute_paths(scene: Scene) -> Scene:
    """The scene with its layers' file paths made absolute, for workers in other directories."""
    from dataclasses import replace

    from .scene.model import layer_types

    types = layer_types()
    layers = []
    for layer in scene.layers:
        spec = types.get(layer.type)
        params = dict(layer.params)
        for key, value in params.items():
            if spec is not None and key in spec.params and spec.params[key].kind == "path" \
                    and isinstance(value, str) and value and not os.path.isabs(value):
                params[key] = os.path.abspath(value)
        layers.append(replace(layer, params=params))
    return replace(scene, layers=tuple(layers))


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    return path.stat().st_size if path.exists() else 0


def render_still(scene: Scene, audio, output, time_s: float, settings: RenderSettings = RenderSettings(),
                 sheet: tuple[int, int] | None = None, progress: Progress | None = None) -> str:
    """Render the frame at ``time_s`` (or a ``cols x rows`` contact sheet across the track) to a PNG."""
    import numpy as np
    from PIL import Image

    from .encode.files import check_output_dir, publish, remove_quietly, temp_beside
    from .render.renderer import FrameRenderer

    progress = progress or Progress(quiet=True)
    output = Path(output)
    check_output_dir(output)
    _refuse_inputs(output, scene, audio, "still")  # one file, not a sequence
    features = analyse(audio, settings, progress, scene)
    n_track = max(int(features.n_frames), 1)
    renderer = FrameRenderer(scene, features, settings.width, settings.height, settings.fps, seed=settings.seed)
    if sheet is None:
        if not 0 <= time_s <= audio.duration:
            raise GpurenderError(f"--time {time_s:g}s is outside the audio (0..{audio.duration:.3f}s)")
        indices = [min(round(time_s * settings.fps), n_track - 1)]
    else:
        cols, rows = sheet
        n = cols * rows
        indices = [min(round(k * (n_track - 1) / max(n - 1, 1)), n_track - 1) for k in range(n)]
    progress.phase("rendering", total=len(indices))
    images = []
    for k, index in enumerate(indices):
        images.append(renderer.render_rgba(index))
        progress.update(k + 1)
    if sheet is None:
        picture = images[0]
    else:
        h, w = settings.height, settings.width
        picture = np.zeros((rows * h, cols * w, 4), dtype=np.uint8)
        for k, img in enumerate(images):
            r, c = divmod(k, cols)
            picture[r * h:(r + 1) * h, c * w:(c + 1) * w] = img
    mode = "RGBA" if scene.transparent else "RGB"
    pil = Image.fromarray(picture if mode == "RGBA" else np.ascontiguousarray(picture[..., :3]), mode)
    tmp = temp_beside(output, ".png")
    try:
        pil.save(tmp, format="PNG")
        publish(tmp, output)
    finally:
        remove_quietly(tmp)  # gone already when published
    progress.phase("complete")
    return str(output)
