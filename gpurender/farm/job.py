"""The job directory: where a chunked render keeps its manifest, segments and shared features.

Layout::

    clip.mp4.job/
        manifest.json        the plan and each chunk's state and checksum (see manifest.py)
        .lock                held (flock) by the driver working on the job
        features.npz         the whole track's features, for workers in other processes
        segments/chunk_000000.mkv ...
        progress/            frames done by chunks in flight, and attempts per chunk

This module creates such a folder or reopens it for ``--resume``: it refuses a job made for another
scene, audio, settings or gpurender version, or whose manifest no longer covers the video,
re-checks finished segments against their checksums and clears what an interrupted run left
half-written.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from ..errors import GpurenderError
from .identity import JobIdentity, file_digest
from .manifest import MANIFEST_NAME, ChunkRecord, Manifest, check_coverage, load_manifest

SEGMENTS = "segments"
PROGRESS = "progress"
FEATURES = "features.npz"
LOCK = ".lock"
SEGMENT_FORMAT = "mkv"  # Matroska holds every codec gpurender writes; segments are re-muxed at the join


def default_job_dir(output) -> Path:
    """The job directory used when none is given: ``<output>.job`` beside the output."""
    output = Path(output)
    return output.with_name(output.name.rstrip("/") + ".job")


class JobDir:
    """An open job directory, locked by this process until :meth:`close`."""

    def __init__(self, path, manifest: Manifest):
        self.path = Path(path)
        self.manifest = manifest
        self._lock_fd = None

    # -- layout ---------------------------------------------------------------------------------

    @property
    def segments(self) -> Path:
        return self.path / SEGMENTS

    @property
    def progress_dir(self) -> Path:
        return self.path / PROGRESS

    @property
    def features_path(self) -> Path:
        return self.path / FEATURES

    def segment_path(self, record: ChunkRecord) -> Path:
        return self.segments / segment_name(record.index)

    def progress_path(self, record: ChunkRecord) -> Path:
        return self.progress_dir / f"chunk_{record.index:06d}"

    # -- state ----------------------------------------------------------------------------------

    def save(self) -> None:
        self.manifest.save(self.path)

    def pending(self) -> list[ChunkRecord]:
        """Chunks that still need rendering, in order."""
        return [c for c in self.manifest.chunks if c.state != "done"]

    def verify(self, record: ChunkRecord, checksum: bool = True) -> str:
        """Why a ``done`` chunk's segment cannot be used ("" when it can)."""
        path = self.segment_path(record)
        if not path.is_file():
            return "its segment is missing"
        if path.stat().st_size != record.bytes:
            return "its segment's size does not match the manifest"
        if checksum and file_digest(path) != record.sha256:
            return "its segment's checksum does not match the manifest"
        return ""

    def clean_partials(self) -> int:
        """Remove half-written segments and stale progress files; how many were removed."""
        removed = 0
        for folder in (self.segments, self.progress_dir):
            if not folder.is_dir():
                continue
            for entry in folder.iterdir():
                stale = entry.name.startswith(".") and ".partial-" in entry.name
                if folder == self.progress_dir and not entry.name.endswith(".attempts"):
                    stale = True
                if stale:
                    _remove(entry)
                    removed += 1
        return removed

    def remove_unrecorded(self) -> int:
        """Delete segments of chunks the manifest does not count as done; how many were removed.

        A worker may finish writing a segment after the driver stopped listening (Ctrl-C, a crash):
        such a segment was never checked in, so it is rendered again rather than trusted.
        """
        done = {segment_name(r.index) for r in self.manifest.chunks if r.state == "done"}
        removed = 0
        if self.segments.is_dir():
            for entry in self.segments.iterdir():
                if not entry.name.startswith(".") and entry.name not in done:
                    _remove(entry)
                    removed += 1
        return removed

    def clear_progress(self, record: ChunkRecord) -> None:
        _remove(self.progress_path(record))

    def attempts(self, record: ChunkRecord) -> int:
        """Attempts workers made at this chunk (counted in progress/, across retries)."""
        try:
            return int((self.progress_dir / f"chunk_{record.index:06d}.attempts").read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def in_flight(self) -> dict[int, int]:
        """Frames done so far by chunks being rendered elsewhere: ``{chunk index: frames}``."""
        out = {}
        for record in self.manifest.chunks:
            if record.state != "running":
                continue
            try:
                out[record.index] = int(self.progress_path(record).read_text().strip() or 0)
            except (OSError, ValueError):
                pass
        return out

    # -- lifetime -------------------------------------------------------------------------------

    def lock(self) -> None:
        """Take the job's lock so that two drivers never work on one job at once."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock, as before
            return
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise GpurenderError(
                f"job directory {str(self.path)!r} is in use by another gpurender process; wait for it to "
                f"finish or stop it first"
            ) from None
        self._lock_fd = fd

    def close(self) -> None:
        if self._lock_fd is not None:
            try:
                os.close(self._lock_fd)
            finally:
                self._lock_fd = None

    def remove(self) -> None:
        """Delete what the job wrote (after a successful join), and the folder if nothing else is left."""
        self.close()
        for name in (SEGMENTS, PROGRESS, FEATURES, MANIFEST_NAME, LOCK):
            _remove(self.path / name)
        try:
            self.path.rmdir()
        except OSError:
            pass

    def __enter__(self) -> "JobDir":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def segment_name(index: int) -> str:
    return f"chunk_{index:06d}.{SEGMENT_FORMAT}"


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        pass


def open_job(path, identity: JobIdentity, new_manifest, resume: bool, requested_plan: dict | None,
             output: str, info=lambda message: None) -> JobDir:
    """Create the job directory at ``path``, or reopen it when ``resume`` is set.

    ``new_manifest()`` builds the manifest of a fresh job. ``requested_plan`` is how the chunks were
    asked for this time (None: not said, so a resumed job keeps its own plan). ``info`` receives
    one-line notes for the user. Raises :class:`GpurenderError` when the folder holds another
    render, a render of something else, or is in use.
    """
    path = Path(path)
    manifest_file = path / MANIFEST_NAME
    if manifest_file.is_file():
        if not resume:
            raise GpurenderError(
                f"job directory {str(path)!r} holds an unfinished render; pass --resume to continue it, "
                f"or delete the folder to start over"
            )
        job = JobDir(path, load_manifest(path))
        job.lock()
        try:
            _check_resumable(job, identity, requested_plan)
            check_coverage(job.manifest, path)  # never join segments that do not tile the video
            _prepare_resume(job, info)
            job.manifest.output = str(output)
            job.save()
        except BaseException:
            job.close()
            raise
        return job
    if path.exists():
        if not path.is_dir():
            raise GpurenderError(f"job directory {str(path)!r} is a file; choose another --job-dir")
        leftovers = [p.name for p in path.iterdir() if p.name != LOCK]
        if leftovers:
            raise GpurenderError(
                f"{str(path)!r} exists and is not a gpurender job directory; choose another --job-dir"
            )
    created = False
    if not path.exists():
        if not path.parent.is_dir():
            raise GpurenderError(
                f"cannot make job directory {str(path)!r}: folder {str(path.parent)!r} does not exist"
            )
        try:
            path.mkdir()
        except OSError as exc:
            raise GpurenderError(f"cannot make job directory {str(path)!r}: {exc.strerror or exc}") from None
        created = True
    if resume:
        info(f"no earlier job in {path}; starting a new one")
    job = None
    try:
        job = JobDir(path, new_manifest())
        job.lock()
        job.segments.mkdir(exist_ok=True)
        job.progress_dir.mkdir(exist_ok=True)
        job.manifest.created = time.time()
        job.save()
    except BaseException:
        if job is not None:
            job.close()
        if created:
            shutil.rmtree(path, ignore_errors=True)
        raise
    return job


def _check_resumable(job: JobDir, identity: JobIdentity, requested_plan: dict | None) -> None:
    m = job.manifest
    changed = identity.changes_from(m.identity)
    if changed:
        what = " and ".join(changed) if len(changed) <= 2 else ", ".join(changed[:-1]) + " and " + changed[-1]
        verb = "has" if len(changed) == 1 and changed[0] != "settings" else "have"
        raise GpurenderError(
            f"cannot resume the job in {str(job.path)!r}: the {what} {verb} changed since it was started; "
            f"delete that folder (or pass another --job-dir) to render from scratch"
        )
    if requested_plan is not None and requested_plan != m.plan:
        asked = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in requested_plan.items())
        kept = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in m.plan.items())
        raise GpurenderError(
            f"the job in {str(job.path)!r} was planned with {kept}, not {asked}; leave the chunk options out "
            f"to resume it with its own plan"
        )


def _prepare_resume(job: JobDir, info) -> None:
    job.segments.mkdir(exist_ok=True)
    job.progress_dir.mkdir(exist_ok=True)
    removed = job.clean_partials()
    if removed:
        info(f"removed {removed} half-written file(s) left by an interrupted run")
    for record in job.manifest.chunks:
        if record.state == "done":
            reason = job.verify(record)
            if reason:
                info(f"chunk {record.index}: {reason}; rendering it again")
                record.reset()
        elif record.state == "running":
            record.state = "pending"  # its driver stopped before hearing back
    job.remove_unrecorded()
