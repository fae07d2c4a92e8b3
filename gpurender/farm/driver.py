"""The driver's side of a chunked render: runs the pending chunks, keeps the manifest, joins.

:func:`run_chunks` hands a job's pending chunks to an executor (in-process or Ray) and records
each outcome in the manifest as it arrives, while showing aggregated progress (chunks and frames
done, frames per second, ETA). Ctrl-C stops the executor, removes half-written segments, saves
the manifest and raises :class:`JobInterrupted`, which says how to resume. :func:`join_segments`
checks the finished segments and joins them by stream copy into one video stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import EncodeError, GpurenderError, RenderError, one_line
from ..progress import ProgressCancelled
from .job import JobDir

FARMS = ("local", "ray")


@dataclass(frozen=True)
class JobOptions:
    """How a render is chunked and where its chunks run.

    ``chunk_frames`` or ``chunks`` choose the plan (neither: ten seconds of video per chunk);
    ``job_dir`` defaults to ``<output>.job`` beside the output; ``resume`` continues the job found
    there; ``farm`` is ``"local"``, ``"ray"`` or an executor object; ``address`` is the Ray
    cluster's (default: start a local one, or use ``RAY_ADDRESS``); ``retries`` bounds the
    attempts per chunk after the first; ``keep_job`` keeps the job directory after success.
    """

    chunk_frames: int | None = None
    chunks: int | None = None
    job_dir: str | None = None
    resume: bool = False
    farm: object = "local"
    address: str | None = None
    retries: int = 2
    keep_job: bool = False

    def __post_init__(self):
        if isinstance(self.farm, str) and self.farm not in FARMS:
            raise GpurenderError(f"--farm {self.farm!r} is not known; use local or ray")
        if self.address is not None and self.farm != "ray":
            raise GpurenderError("--address names a Ray cluster; use it with --farm ray")
        if isinstance(self.retries, bool) or int(self.retries) != self.retries or self.retries < 0:
            raise GpurenderError(f"--retries {self.retries!r} is not valid; give a whole number >= 0")

    @property
    def requested_plan(self) -> dict | None:
        if self.chunk_frames is not None:
            return {"chunk_frames": int(self.chunk_frames)}
        if self.chunks is not None:
            return {"chunks": int(self.chunks)}
        return None


class JobInterrupted(KeyboardInterrupt):
    """Ctrl-C during a chunked render: finished chunks are kept for ``--resume``."""

    def __init__(self, job_dir, chunks_done: int, chunks_total: int):
        self.job_dir = str(job_dir)
        self.chunks_done = chunks_done
        self.chunks_total = chunks_total
        super().__init__(self.message())

    def message(self) -> str:
        return (f"interrupted: {self.chunks_done} of {self.chunks_total} chunks are done and kept in "
                f"{self.job_dir}; no output was written")


def make_executor(options: JobOptions):
    """The executor ``options.farm`` names (or ``options.farm`` itself when it is one)."""
    if options.farm == "local":
        from .local import LocalExecutor

        return LocalExecutor(retries=options.retries)
    if options.farm == "ray":
        from .rayfarm import RayExecutor, import_ray

        import_ray()  # fail before any work when Ray is missing
        return RayExecutor(address=options.address, retries=options.retries)
    return options.farm


class _Events:
    """What executors report to the driver: each event updates the manifest and the progress."""

    def __init__(self, job: JobDir, progress, frames_total: int, chunks_total: int):
        self.job = job
        self.progress = progress
        self.records = {r.index: r for r in job.manifest.chunks}
        self.frames_total = frames_total
        self.chunks_total = chunks_total
        self.frames_finished = 0  # frames of chunks finished in this run
        self.in_flight: dict[int, int] = {}
        self.finished = 0
        self.failed_count = 0
        self._shown = -1

    def _show(self) -> None:
        done = self.frames_finished + sum(self.in_flight.values())
        if done != self._shown:
            self._shown = done
            self.progress.update(done)

    def started(self, index: int) -> None:
        record = self.records[index]
        record.state = "running"
        record.error = ""
        self.in_flight[index] = 0
        self.job.save()

    def frames(self, index: int, done: int) -> None:
        if index in self.in_flight:
            self.in_flight[index] = done
            self._show()

    def retrying(self, index: int, exc: BaseException, attempt: int) -> None:
        self.in_flight[index] = 0
        self.progress.info(f"chunk {index} failed ({one_line(exc, named=True)}); trying again (attempt {attempt + 1})")

    def done(self, result) -> None:
        record = self.records[result.index]
        record.state = "done"
        record.segment = self.job.segment_path(record).name
        record.bytes, record.sha256 = result.bytes, result.sha256
        record.encoder, record.adapter, record.host = result.encoder, result.adapter, result.host
        record.seconds = round(result.seconds, 3)
        record.attempts = result.attempts
        record.error = ""
        self.in_flight.pop(result.index, None)
        self.job.clear_progress(record)
        self.job.save()
        self.frames_finished += record.count
        self.finished += 1
        tries = f", {result.attempts} attempts" if result.attempts > 1 else ""
        self.progress.info(
            f"chunk {record.index} done ({self.finished}/{self.chunks_total} this run): frames "
            f"{record.first}-{record.first + record.count - 1} in {record.seconds:.1f} s on {record.host}{tries}"
        )
        self._show()

    def interrupted(self) -> None:
        """Ctrl-C: chunks in flight go back to pending, on disk, before anything else happens."""
        for record in self.records.values():
            if record.state == "running":
                record.state = "pending"
        self.in_flight.clear()
        self.job.save()

    def failed(self, index: int, exc: BaseException, attempts) -> None:
        record = self.records[index]
        record.state = "failed"
        record.error = one_line(exc, named=True)
        record.attempts = attempts if attempts is not None else self.job.attempts(record)
        self.in_flight.pop(index, None)
        self.job.clear_progress(record)
        self.job.save()
        self.failed_count += 1
        self.progress.info(f"chunk {index} failed: {record.error}")


def run_chunks(job: JobDir, tasks, executor, recipe, progress) -> None:
    """Render ``tasks`` with ``executor`` from the frame source ``recipe`` builds, recording every
    outcome in ``job``'s manifest.

    Raises :class:`JobInterrupted` on Ctrl-C, after stopping the executor and removing partial
    segments; chunk failures are recorded (the other chunks still run) and reported by
    :func:`check_finished`.
    """
    frames_total = sum(t.count for t in tasks)
    events = _Events(job, progress, frames_total, len(tasks))
    try:
        executor.prepare(job, recipe)
        progress.phase("rendering", total=frames_total,
                       detail=f"{len(tasks)} chunks, {frames_total} frames, on {executor.describe()}")
        executor.run(tasks, events)
    except KeyboardInterrupt as stop:
        _stop(job)
        if isinstance(stop, ProgressCancelled):
            raise  # the app's callback stopped the job: finished chunks are kept, its error goes up
        counts = job.manifest.counts()
        raise JobInterrupted(job.path, counts["done"], len(job.manifest.chunks)) from None
    finally:
        try:
            executor.close()
        except Exception:  # noqa: BLE001 - closing must not hide the render's own outcome
            pass
        job.clean_partials()


def _stop(job: JobDir) -> None:
    for record in job.manifest.chunks:
        if record.state == "running":
            record.state = "pending"
    job.clean_partials()
    job.remove_unrecorded()
    job.save()


def check_finished(job: JobDir) -> None:
    """Raise :class:`RenderError` naming the failed chunks unless every chunk is done."""
    left = job.pending()
    if not left:
        return
    failed = [r for r in left if r.state == "failed"]
    first = failed[0] if failed else left[0]
    what = f"{len(failed)} of {len(job.manifest.chunks)} chunks failed" if failed else \
        f"{len(left)} of {len(job.manifest.chunks)} chunks are not rendered"
    reason = f" (chunk {first.index}: {first.error})" if first.error else ""
    raise RenderError(f"{what}{reason}; fix the cause and run the same command with --resume "
                      f"(job directory {job.path})")


def join_segments(job: JobDir, out_path) -> str:
    """Join every chunk's segment, in order, into the video-only file ``out_path``; the encoder name."""
    from ..encode import concat_segments

    records = sorted(job.manifest.chunks, key=lambda r: r.index)
    for record in records:
        reason = job.verify(record, checksum=False)
        if reason:
            raise EncodeError(f"chunk {record.index}: {reason}; run the same command with --resume to render it again")
    encoders = sorted({r.encoder for r in records})
    if len(encoders) > 1:
        raise EncodeError(
            f"the chunks were encoded by different encoders ({', '.join(encoders)}) and cannot be joined; "
            f"pass --encoder cpu (or gpu) so that every worker uses the same one"
        )
    concat_segments([job.segment_path(r) for r in records], Path(out_path), fps=job.manifest.fps)
    return encoders[0]
