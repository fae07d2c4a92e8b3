"""The one road from frames to a published file: a frame source, an output plan, one routine.

Whatever produces frames (the scene renderer, the point-sequence renderer, later sources) is
reached through a *recipe*: a small picklable value that builds the :class:`FrameSource` in this
process or in a farm worker. :func:`render_to_file` takes a recipe and an :class:`OutputPlan`
(file, encode settings, frame span, audio) to a published file, in one of two ways:

- one pass: open the writer with encoder fallback (naming the encoder used), run the ring-fed
  frame loop (Ctrl-C lands at frame boundaries), mux the audio, reopen and verify the file, and
  publish it atomically;
- chunked (with :class:`gpurender.farm.JobOptions`): the same frames as segments in a resumable
  job directory, rendered in this process or on Ray, joined by stream copy, then the same mux,
  verification and publish.

So every source gets fallback, verification, chunks, resume and the farm. Nothing here knows
what a scene or a point cloud is.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np

from .errors import EncodeError, GpurenderError, RenderError
from .progress import Progress, ProgressCancelled
from .settings import fps_json, fps_label


class FrameSource(Protocol):
    """Produces frames of one size and rate, in track order, as the encoder takes them."""

    width: int
    height: int
    fps: object  # int, or an exact Fraction such as 30000/1001

    def frames(self, first: int, count: int, output: str = "yuv420p", ring_depth: int = 3
               ) -> Iterator[tuple[int, np.ndarray]]:
        """``(frame index, data)`` for frames ``first .. first+count-1`` (fewer if the source ends)."""

    def finish(self) -> int | None:
        """How many frames the source had, when it learns that only by running out (else None)."""


class SourceRecipe(Protocol):
    """A picklable description of a frame source that builds it where the frames are drawn."""

    def build(self) -> FrameSource:
        """The source, in this process."""

    def for_workers(self, job) -> "SourceRecipe":
        """The recipe to send to worker processes of ``job`` (e.g. large data moved to files)."""

    def digests(self) -> dict:
        """What the frames depend on besides the output settings: ``{"scene": ..., "audio": ...}``."""


@dataclass(frozen=True)
class OutputPlan:
    """What file to make from a source's frames.

    ``count`` None: until the source runs out (a one-shot iterator of unknown length); then the
    render cannot be chunked. ``audio`` (AudioData) is trimmed to the video's span starting at
    ``audio_start`` seconds. ``settings`` are the output-changing values a chunked job's identity
    covers (besides the source's digests).
    """

    path: Path
    encode: object  # gpurender.encode.EncodeSettings
    input_format: str = "yuv420p"  # or "rgba"
    first: int = 0
    count: int | None = None
    audio: object = None
    audio_start: float = 0.0  # seconds (a Fraction is kept exact until the mux)
    audio_codec: str | None = None
    ring_depth: int = 3
    queue_size: int = 8
    settings: dict = field(default_factory=dict)

    @property
    def format(self) -> str:
        return self.encode.format


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
    encoder_notice: str = ""
    files: tuple = ()  # a PNG sequence: the files written, in order

    def written(self) -> str:
        """What was written, as a person would look for it: the file, or the PNG files."""
        if not self.files:
            return self.path
        first, last = Path(self.files[0]), Path(self.files[-1])
        names = first.name if len(self.files) == 1 else f"{first.name} .. {last.name}"
        return f"{len(self.files)} PNG files {names} in {first.parent}{os.sep}"

    def chunk_note(self) -> str:
        """``", 4 chunks (1 rendered by this run)"`` for a chunked render, else ``""``."""
        return f", {self.chunks} chunks ({self.chunks_rendered} rendered by this run)" if self.chunks else ""

    def summary(self) -> str:
        size = self.size_bytes / 1e6
        return (f"wrote {self.written()}: {size:.1f} MB, {self.duration:.3f} s, {self.frames} frames, "
                f"encoder {self.encoder}, adapter {self.adapter}{self.chunk_note()}, {self.seconds:.1f} s")


# -- encoder with fallback ----------------------------------------------------------------------


def _encoder_candidates(enc):
    """Encoder choices to try, best first: the usual choice, then every other one that opens here."""
    from .encode import choose_encoder, probe_encoder
    from .encode.encoders import CPU_ENCODER, NVENC
    from .encode.formats import COMPATIBLE

    yield choose_encoder(enc)  # raises for --encoder gpu without NVENC: that request is kept strict
    if enc.format == "png" or enc.alpha:
        return  # PNG has one encoder; alpha only survives in the codec chosen for it
    codecs = [enc.resolved_codec] + [c for c in COMPATIBLE[enc.format] if c != enc.resolved_codec]
    modes = ("cpu",) if enc.encoder == "cpu" else ("gpu", "cpu")
    for codec in codecs:
        for mode in modes:
            name = (NVENC if mode == "gpu" else CPU_ENCODER).get(codec)
            if name is None or not probe_encoder(name)[0]:
                continue
            try:
                yield choose_encoder(replace(enc, codec=codec, encoder=mode))
            except EncodeError:
                continue  # this codec cannot take these settings (e.g. lossless ProRes)


def open_writer(path, enc, input_format: str = "yuv420p", queue_size: int = 8):
    """A :class:`VideoWriter` on the first encoder that opens, and a notice saying which and why."""
    from .encode import VideoWriter

    failed: list[str] = []
    tried: set[str] = set()
    for choice in _encoder_candidates(enc):
        if choice.name in tried:
            continue
        tried.add(choice.name)
        try:
            writer = VideoWriter(path, enc, input_format=input_format, queue_size=queue_size, choice=choice)
        except EncodeError as exc:
            failed.append(f"{choice.name} ({exc})")
            continue
        notice = choice.notice or f"encoder: {choice.name}"
        if failed:
            notice = f"encoder: {choice.name} ({choice.codec}), after falling back from " + "; ".join(failed)
        return writer, notice
    raise EncodeError(f"no video encoder would open for {enc.width}x{enc.height} {enc.format}: "
                      + "; ".join(failed) + "; try another --format or a smaller --resolution")


def encoder_threads_beside_software() -> int:
    """Encoder threads when a software adapter renders on the same cores: one per usable core.

    x264 left to itself starts 1.5 threads per core, which oversubscribes the cores lavapipe's
    threads render on. Measured on 2 cores, 10,000 points, alternating runs (median frames/s, one
    thread per core vs automatic): 640x480 115 vs 102, 1280x720 62 vs 61, 1920x1080 34 vs 34.
    (One thread in all, tried first, helped at 640x480 but cost 15-20% from 720p up.)
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _threads_for_adapter(enc):
    from .render.device import adapter_info

    if adapter_info().is_software and enc.threads == 0:
        return replace(enc, threads=encoder_threads_beside_software())
    return enc


# -- verification ---------------------------------------------------------------------------------


def verify_video(path, frames: int, fps, width: int, height: int, audio: bool) -> float:
    """Reopen ``path``: exactly ``frames`` video frames of ``width`` x ``height`` spanning
    ``frames / fps`` seconds (and a sound track when ``audio``); returns the file's duration."""
    import av

    try:
        container = av.open(str(path))
    except Exception as exc:
        raise EncodeError(f"the finished video does not reopen ({exc}); nothing was written") from exc
    with container:
        if not container.streams.video:
            raise EncodeError("the finished video has no video stream; nothing was written")
        stream = container.streams.video[0]
        size = (stream.codec_context.width, stream.codec_context.height)
        if audio and not container.streams.audio:
            raise EncodeError("the finished video lost its sound track; nothing was written")
        count, first, last = 0, None, None
        for packet in container.demux(stream):
            if packet.size == 0 or packet.pts is None:
                continue
            count += 1
            first = packet.pts if first is None else min(first, packet.pts)
            last = packet.pts if last is None else max(last, packet.pts)
        span = 0.0 if count == 0 else float((last - first) * stream.time_base) + float(1 / Fraction(fps))
        duration = float(container.duration / av.time_base) if container.duration else span
    if size != (width, height):
        raise EncodeError(f"the finished video is {size[0]}x{size[1]}, not {width}x{height}; nothing was written")
    if count != frames:
        raise EncodeError(f"the finished video has {count} frames, not {frames}; nothing was written")
    expected = float(frames / Fraction(fps))
    if abs(span - expected) > float(Fraction(1, 2) / Fraction(fps)):
        raise EncodeError(f"the finished video spans {span:.3f} s, not {expected:.3f} s; nothing was written")
    return duration


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    return path.stat().st_size if path.exists() else 0


# -- the routine ----------------------------------------------------------------------------------


def render_to_file(recipe: SourceRecipe, plan: OutputPlan, progress: Progress | None = None, *,
                   job=None) -> RenderResult:
    """Render ``recipe``'s frames per ``plan`` to a published file; returns what was written.

    With ``job`` (a :class:`gpurender.farm.JobOptions`) the frames are rendered as chunks through
    a resumable job directory, in this process or on Ray; Ctrl-C then raises
    :class:`gpurender.farm.JobInterrupted`. Otherwise in one pass. On any error nothing is left
    at ``plan.path`` and no temporary file stays behind.
    """
    from .encode.files import check_output_dir

    progress = progress or Progress(quiet=True)
    check_output_dir(Path(plan.path))
    if getattr(progress, "preview", None) is not None:
        from .preview import TappedRecipe

        recipe = TappedRecipe(recipe, progress.preview)  # frames drawn here also reach the preview page
    if plan.format == "png":
        _png_folder_is_free(Path(plan.path))
    if job is not None:
        return _chunked(recipe, plan, progress, job)
    return _single_pass(recipe.build(), plan, progress)


def _single_pass(source: FrameSource, plan: OutputPlan, progress: Progress) -> RenderResult:
    from .encode import mux_audio
    from .encode.files import publish, remove_quietly, temp_beside
    from .memory import release_free_memory
    from .render.device import adapter_info

    started = time.monotonic()
    output = Path(plan.path)
    enc = _threads_for_adapter(plan.encode)
    adapter = adapter_info().summary()
    progress.info(f"adapter: {adapter}")
    png = plan.format == "png"
    audio = plan.audio if not png else None
    # PNG frames are published by their writer (a folder moved into place); a video goes to a
    # temporary name, gets its sound and is verified there, then moves onto the output.
    video_tmp = output if png else temp_beside(output)
    final_tmp = temp_beside(output) if audio is not None else video_tmp
    try:
        writer, notice = open_writer(video_tmp, enc, plan.input_format, plan.queue_size)
        progress.info(notice)
        count = plan.count if plan.count is not None else sys.maxsize
        with writer:
            progress.phase("rendering", total=plan.count or 0,
                           detail=f"{plan.count or 'an unknown number of'} frames at {enc.width}x{enc.height}, "
                                  f"{fps_label(enc.fps)} fps")
            done, last_note = 0, time.monotonic()
            frames = source.frames(plan.first, count, output=plan.input_format, ring_depth=plan.ring_depth)
            try:
                for _, data in frames:
                    writer.write(data)
                    done += 1
                    if done == 1:  # set-up over: give its freed memory back (LLVM, device, analysis)
                        release_free_memory()
                    if plan.count:
                        progress.update(done)
                    elif time.monotonic() - last_note >= 2.0:
                        last_note = time.monotonic()
                        progress.info(f"rendering: {done} frames")
            finally:
                frames.close()
            had = source.finish()
            produced = had if had is not None else done
            if produced == 0:
                raise GpurenderError("the source has no frames to render; give at least one frame")
            if produced != done:
                raise RenderError(f"{done} of {produced} frames were drawn; rerun")
            progress.phase("encoding", detail="flushing the encoder")
        seconds = float(produced / Fraction(enc.fps))
        if audio is not None:
            start = float(plan.audio_start)
            progress.phase("muxing", detail=f"audio {start:.3f}s + {seconds:.3f}s")
            mux_audio(video_tmp, audio, final_tmp, start_time=start,
                      duration=seconds if audio.duration - start >= seconds else None,
                      format=plan.format, audio_codec=plan.audio_codec)
        if png:
            duration = seconds
            files = _png_files(output, produced)
        else:
            files = ()
            progress.phase("verifying", detail="reopening the file")
            duration = verify_video(final_tmp, produced, enc.fps, enc.width, enc.height, audio is not None)
            publish(final_tmp, output)
    finally:
        if not png:
            remove_quietly(video_tmp)
            remove_quietly(final_tmp)
    progress.phase("complete")
    return RenderResult(path=str(output), frames=produced, first_frame=plan.first, duration=duration,
                        size_bytes=_size(output), encoder=writer.choice.name, adapter=adapter,
                        seconds=time.monotonic() - started, encoder_notice=notice, files=files)


def _png_folder_is_free(path: Path) -> None:
    """Refuse a PNG sequence into a folder that holds other files (frames are never mixed in)."""
    from .encode.writer import png_target

    folder, _, folder_is_target = png_target(path)
    if folder_is_target and folder.exists():
        if not folder.is_dir():
            raise EncodeError(f"{str(folder)!r} is a file, not a folder; give a new or empty folder for the PNG frames")
        others = [p.name for p in folder.iterdir()]
        if others:
            raise EncodeError(f"folder {str(folder)!r} already holds {len(others)} file(s) (e.g. {others[0]!r}); "
                              "give a new or empty folder for the PNG frames, or a name pattern such as "
                              "out/frame_%06d.png")


def _png_files(path: Path, count: int) -> tuple:
    """The files a PNG sequence of ``count`` frames wrote; EncodeError if one is missing."""
    from .encode.writer import png_target

    folder, pattern, _ = png_target(path)
    files = tuple(str(folder / (pattern % i)) for i in range(count))
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise EncodeError(f"{len(missing)} of {count} PNG frames are missing after writing (first: {missing[0]!r})")
    return files


def _chunked(recipe: SourceRecipe, plan: OutputPlan, progress: Progress, options) -> RenderResult:
    """Render in chunks through a job directory, join the segments, mux the audio once, verify."""
    from . import __version__
    from .encode import mux_audio
    from .encode.encoders import NVENC
    from .encode.files import publish, remove_quietly, temp_beside
    from .farm import (ChunkRecord, ChunkTask, Manifest, check_finished, default_job_dir, join_segments,
                       make_executor, open_job, plan_chunks, run_chunks, segment_gop)
    from .farm.driver import JobInterrupted
    from .farm.identity import JobIdentity, settings_digest
    from .farm.job import SEGMENT_FORMAT

    started = time.monotonic()
    output = Path(plan.path)
    if plan.format == "png":
        raise GpurenderError(
            "a PNG sequence is already one file per frame; leave out the chunk and farm options for --format png"
        )
    if plan.count is None:
        raise GpurenderError("a frame source of unknown length cannot be rendered in chunks; give its frame "
                             "count (n_frames) or leave out the chunk and farm options")
    first, count, fps = plan.first, plan.count, plan.encode.fps
    executor = make_executor(options)  # says how to install Ray before any work
    chunk_plan = plan_chunks(first, count, options.chunk_frames, options.chunks, fps=fps)  # fails early
    digests = recipe.digests()
    enc = plan.encode
    # What the job's identity covers (the manifest checks its header and repairs against these).
    settings = {"width": enc.width, "height": enc.height, "fps": fps_json(fps), "format": plan.format,
                "codec": enc.resolved_codec, "quality": enc.quality, "encoder": enc.encoder,
                "lossless": enc.lossless, "alpha": enc.alpha, "bit_depth": enc.bit_depth, "audio_codec": plan.audio_codec,
                **plan.settings, "first": first, "count": count}
    identity = JobIdentity(scene=digests.get("scene", ""), audio=digests.get("audio", ""),
                           settings=settings_digest(settings), version=__version__)
    requested = options.requested_plan
    job_path = Path(options.job_dir) if options.job_dir else default_job_dir(output)

    def new_manifest():
        return Manifest(
            identity=identity, output=str(output), format=plan.format, fps=fps_json(fps), first=first, count=count,
            gop=segment_gop(chunk_plan), plan=requested or {"chunk_frames": chunk_plan[0].count},
            settings=settings, chunks=[ChunkRecord(c.index, c.first, c.count) for c in chunk_plan],
            version=__version__,
        )

    job = open_job(job_path, identity, new_manifest, options.resume, requested, str(output), info=progress.info)
    if getattr(progress, "preview", None) is not None:
        progress.preview.watch_job(job, local=getattr(executor, "name", "") == "local")
    try:
        manifest = job.manifest
        pending = job.pending()
        total = len(manifest.chunks)
        progress.info(f"job {job.path}: {total} chunks of up to {max(c.count for c in manifest.chunks)} frames, "
                      f"{total - len(pending)} already done")
        encoder_mode = plan.encode.encoder
        done_encoders = {c.encoder for c in manifest.chunks if c.state == "done" and c.encoder}
        if encoder_mode == "auto" and done_encoders:
            # Chunks rendered earlier fix the encoder: segments join only if one encoder wrote them all.
            encoder_mode = "gpu" if done_encoders & set(NVENC.values()) else "cpu"
        segment_enc = replace(plan.encode, gop=manifest.gop, format=SEGMENT_FORMAT, encoder=encoder_mode)
        tasks = [
            ChunkTask(job=identity.job, job_dir=str(job.path.resolve()), index=c.index, first=c.first, count=c.count,
                      segment=str(job.segment_path(c).resolve()), encode=segment_enc,
                      input_format=plan.input_format, ring_depth=plan.ring_depth, queue_size=plan.queue_size,
                      progress=str(job.progress_path(c).resolve()), version=__version__)
            for c in pending
        ]
        if tasks:
            run_chunks(job, tasks, executor, recipe, progress)
        check_finished(job)
        adapters = sorted({c.adapter for c in manifest.chunks if c.adapter})
        progress.phase("encoding", detail=f"joining {total} segments by stream copy")
        video_tmp = temp_beside(output)
        final_tmp = temp_beside(output) if plan.audio is not None else video_tmp
        seconds = float(count / Fraction(fps))
        try:
            encoder_name = join_segments(job, video_tmp)
            if plan.audio is not None:
                start = float(plan.audio_start)
                progress.phase("muxing", detail=f"audio {start:.3f}s + {seconds:.3f}s")
                mux_audio(video_tmp, plan.audio, final_tmp, start_time=start,
                          duration=seconds if plan.audio.duration - start >= seconds else None,
                          format=plan.format, audio_codec=plan.audio_codec)
            progress.phase("verifying", detail="reopening the file")
            duration = verify_video(final_tmp, count, fps, plan.encode.width, plan.encode.height,
                                    plan.audio is not None)
            publish(final_tmp, output)
        finally:
            remove_quietly(video_tmp)
            remove_quietly(final_tmp)
    except (JobInterrupted, ProgressCancelled):
        raise
    except KeyboardInterrupt:  # during the join or the mux: every chunk is kept
        counts = job.manifest.counts()
        raise JobInterrupted(job.path, counts["done"], len(job.manifest.chunks)) from None
    finally:
        job.close()
    if not options.keep_job:
        job.remove()
    progress.phase("complete")
    return RenderResult(path=str(output), frames=count, first_frame=first, duration=duration,
                        size_bytes=_size(output), encoder=encoder_name, adapter="; ".join(adapters) or "none",
                        seconds=time.monotonic() - started, chunks=total, chunks_rendered=len(tasks),
                        job_dir=str(job.path) if options.keep_job else None,
                        encoder_notice=f"encoder: {encoder_name}")
