"""Renders one chunk to its segment: the work a farm hands to a worker, in or out of process.

:func:`run_chunk` draws frames ``[first, first + count)`` with the frame source a job's recipe
builds (see :mod:`gpurender.output`; a scene renderer's ``seek`` fast-forwards stateful layers
from frame 0 without drawing, so a chunk's first frame looks as it does in a single pass) and
encodes them with :class:`VideoWriter` to the chunk's segment, which appears under its name only
when complete. :func:`ray_entry` is the same for a process of its own: it builds the source from
the recipe the driver sent, counts attempts and reports frames done through a small file that
the driver reads.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from dataclasses import dataclass, replace
from pathlib import Path

from ..encode.files import atomic_file
from ..errors import GpurenderError, RenderError
from ..memory import release_free_memory
from .identity import file_digest

_PROGRESS_INTERVAL = 0.5  # seconds between progress-file updates from a worker


@dataclass(frozen=True)
class ChunkTask:
    """Everything a worker needs to render one chunk (besides the job's source recipe)."""

    job: str  # the job's digest: sources are reused only within one job
    job_dir: str
    index: int
    first: int
    count: int
    segment: str  # absolute path of the segment to write
    encode: object  # gpurender.encode.EncodeSettings of the segment
    input_format: str  # "yuv420p" or "rgba"
    ring_depth: int = 3
    queue_size: int = 8
    progress: str = ""  # file the worker writes its frames-done count to
    version: str = ""  # the driver's gpurender version


@dataclass(frozen=True)
class ChunkResult:
    """What a worker reports for a finished chunk."""

    index: int
    frames: int
    bytes: int
    sha256: str
    encoder: str
    adapter: str
    host: str
    seconds: float
    attempts: int = 1


class RendererCache:
    """Keeps one job's frame source alive between the chunks a process renders.

    Consecutive chunks then continue a simulation where the last one stopped instead of
    fast-forwarding from frame 0 again.
    """

    def __init__(self):
        self.key = None
        self.source = None

    def get(self, task: ChunkTask, recipe):
        if self.key != task.job or self.source is None:
            self.clear()
            self.source = recipe.build()
            self.key = task.job
        return self.source

    def clear(self) -> None:
        """Drop the source (its GPU resources go with it)."""
        self.key = None
        self.source = None


def run_chunk(task: ChunkTask, recipe, cache: RendererCache | None = None, on_frame=None) -> ChunkResult:
    """Render and encode one chunk; ``on_frame(frames done)`` is called after each frame is queued.

    Any exception (Ctrl-C included) aborts the encoder and removes the partial segment; the
    cached source is then dropped, since its simulation may have stepped past what was drawn.
    """
    from ..encode import VideoWriter
    from ..render.device import adapter_info

    started = time.monotonic()
    cache = cache if cache is not None else RendererCache()
    source = cache.get(task, recipe)
    done = 0
    try:
        with VideoWriter(task.segment, task.encode, input_format=task.input_format,
                         queue_size=task.queue_size) as writer:
            frames = source.frames(task.first, task.count, output=task.input_format, ring_depth=task.ring_depth)
            with contextlib.closing(frames):
                for _, data in frames:
                    writer.write(data)
                    done += 1
                    if done == 1:  # set-up over: give its freed memory back (LLVM, device, analysis)
                        release_free_memory()
                    if on_frame is not None:
                        on_frame(done)
    except BaseException:
        cache.clear()
        raise
    if writer.frames_written != task.count:
        raise RenderError(
            f"chunk {task.index} encoded {writer.frames_written} frames instead of {task.count}; render it again"
        )
    path = Path(task.segment)
    return ChunkResult(
        index=task.index, frames=task.count, bytes=path.stat().st_size, sha256=file_digest(path),
        encoder=writer.choice.name, adapter=adapter_info().summary(), host=socket.gethostname(),
        seconds=time.monotonic() - started,
    )


# -- out-of-process workers (Ray) ------------------------------------------------------------------

_process_cache = RendererCache()


def _count_attempt(task: ChunkTask) -> int:
    if not task.progress:
        return 1
    path = task.progress + ".attempts"
    try:
        before = int(Path(path).read_text().strip() or 0)
    except (OSError, ValueError):
        before = 0
    with atomic_file(path, "w", what="chunk attempt count") as fh:
        fh.write(str(before + 1))
    return before + 1


def _pick_gpu() -> None:
    """Point this worker's wgpu device at the GPU Ray gave the task (Vulkan ignores
    CUDA_VISIBLE_DEVICES, so without this every worker on a node would share the first GPU)."""
    if os.environ.get("GPURENDER_ADAPTER"):
        return
    try:
        import ray

        ids = ray.get_gpu_ids()
    except Exception:  # not inside a Ray task, or no GPUs
        return
    if ids:
        os.environ["GPURENDER_ADAPTER"] = str(int(ids[0]))


def ray_entry(task: ChunkTask, recipe, on_frame=None) -> ChunkResult:
    """Render one chunk in a worker process: the function a Ray task runs.

    The worker must run the driver's gpurender version. ``recipe`` builds the job's frame source
    (made for workers: large data come from the job directory); frames done go to
    ``task.progress`` about twice a second.
    """
    from .. import __version__

    if task.version and task.version != __version__:
        raise RenderError(
            f"this worker ({socket.gethostname()}) has gpurender {__version__} but the driver has "
            f"{task.version}; install the same version on every node"
        )
    _pick_gpu()
    attempt = _count_attempt(task)
    last = [0.0]

    def report(done: int) -> None:
        now = time.monotonic()
        if task.progress and (now - last[0] >= _PROGRESS_INTERVAL or done == task.count):
            last[0] = now
            try:
                # not synced: progress is only for show, and it is written twice a second
                with atomic_file(task.progress, "w", what="chunk progress", sync=False) as fh:
                    fh.write(str(done))
            except GpurenderError:
                pass  # progress is only for show
        if on_frame is not None:
            on_frame(done)

    result = run_chunk(task, recipe, cache=_process_cache, on_frame=report)
    return replace(result, attempts=attempt)
