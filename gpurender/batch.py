"""Renders one scene over many songs in one process: each song to ``OUTDIR/<song name>.<ext>``.

A batch pays once for what separate ``gpurender render`` calls each pay again: the interpreter
and its imports, the wgpu device, and the shaders compiled for it (a second song's renderer finds
them compiled). Each song goes through :func:`gpurender.render_video` on its own (so it gets the
same encoder fallback, verification, atomic publish and refusal to write over an input); a song
that fails is named and the batch goes on to the next.

Beside each finished output a small record (``OUTDIR/.<output name>.gpurender.json``, written
atomically after the output is published) keeps the digest of what made it: the scene, the
song's bytes, the settings that change the output and the gpurender version. A rerun skips a
song whose output still carries its record (same size and modification time) and whose digest
matches, so an interrupted batch resumes where it stopped.

Per-song settings come from a job list (TOML or CSV, see :data:`JOB_KEYS`). With ``parallel``
above 1, songs are rendered side by side in worker processes (see :func:`_in_parallel`).
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from .errors import GpurenderError, environment_failure, one_line
from .progress import as_progress, cancellable
from .settings import RenderSettings, check_fps, fps_json, parse_resolution

#: Formats a batch writes (a PNG sequence is a folder per song: use ``render`` for those).
BATCH_FORMATS = ("mp4", "webm", "mov", "mkv")

#: Songs a batch renders at the same time. 1: one process, one device, one song after another.
#: More runs that many worker processes, each with its own device (see :func:`_in_parallel`).
DEFAULT_PARALLEL = 1

#: The keys of one song in a job list, with what each means. Declared once: the reader, the
#: README and ``gpurender batch --help`` follow this table.
JOB_KEYS = {
    "audio": "the song file (required); relative paths are read from the job list's folder",
    "output": "the output's file name in OUTDIR (default: the song's name); an extension sets the format",
    "start": "seconds into the song",
    "duration": "seconds to render (default: to the end)",
    "resolution": "720p, 1080p, 1440p, 4k or WxH",
    "fps": "frames per second (30, 60, 30000/1001, 29.97 ...)",
    "quality": "high, medium or low",
    "format": f"{', '.join(BATCH_FORMATS)}",
}

RECORD_VERSION = 1


class BatchError(GpurenderError):
    """The batch itself cannot start: a bad job list, clashing output names, an unusable OUTDIR."""


@dataclass(frozen=True)
class BatchSong:
    """One song of a batch: its file, an optional output name and its own settings.

    ``overrides`` holds :class:`~gpurender.settings.RenderSettings` fields (``start``,
    ``duration``, ``width``, ``height``, ``fps``, ``quality``, ``format``) that replace the
    batch's settings for this song. ``where`` names it in messages (``jobs.csv: line 3``).
    """

    audio: Path
    output: str | None = None
    overrides: dict = field(default_factory=dict)
    where: str = ""


@dataclass(frozen=True)
class PlannedSong:
    """A song with its output path and its settings, ready to render."""

    song: BatchSong
    output: Path
    settings: RenderSettings

    @property
    def format(self) -> str:
        return self.settings.format


@dataclass(frozen=True)
class SongOutcome:
    """What happened to one song: ``state`` is ``rendered``, ``skipped`` or ``failed``."""

    audio: str
    output: str
    state: str
    message: str = ""
    result: object = None  # a RenderResult when rendered

    def line(self) -> str:
        """The song's line for a person."""
        if self.state == "rendered":
            return self.result.summary() if self.result is not None else f"wrote {self.output}"
        if self.state == "skipped":
            return f"skipped {self.audio}: {self.output} is up to date ({self.message})"
        return f"failed: {self.audio}: {self.message}"


@dataclass(frozen=True)
class BatchResult:
    outcomes: tuple

    def _with(self, state):
        return [o for o in self.outcomes if o.state == state]

    @property
    def rendered(self) -> list:
        return self._with("rendered")

    @property
    def skipped(self) -> list:
        return self._with("skipped")

    @property
    def failed(self) -> list:
        return self._with("failed")

    def summary(self) -> str:
        n = len(self.outcomes)
        text = (f"batch: {n} song{'s' if n != 1 else ''}: {len(self.rendered)} rendered, "
                f"{len(self.skipped)} skipped (up to date), {len(self.failed)} failed")
        if self.failed:
            text += ": " + ", ".join(o.audio for o in self.failed)
        return text


# -- job lists -------------------------------------------------------------------------------------


def _override(where: str, key: str, value) -> dict:
    """One job-list value as RenderSettings fields; BatchError naming ``where`` and ``key``."""
    try:
        if key in ("start", "duration"):
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise GpurenderError(f"{value!r} is not a number of seconds")
            seconds = float(value)
            if key == "start" and not seconds >= 0:
                raise GpurenderError(f"{value!r} is not valid; give a time in seconds >= 0")
            if key == "duration" and not seconds > 0:
                raise GpurenderError(f"{value!r} is not valid; give a positive number of seconds")
            return {key: seconds}
        if key == "resolution":
            width, height = parse_resolution(str(value))
            return {"width": width, "height": height}
        if key == "fps":
            return {"fps": check_fps(value)}
        if key == "quality":
            from .encode.formats import QUALITIES

            if value not in QUALITIES:
                raise GpurenderError(f"{value!r} is not valid; use one of {', '.join(QUALITIES)}")
            return {"quality": value}
        if key == "format":
            if value not in BATCH_FORMATS:
                raise GpurenderError(f"{value!r} is not valid; use one of {', '.join(BATCH_FORMATS)}")
            return {"format": value}
    except ValueError as exc:
        raise BatchError(f"{where}: {key}: {value!r} is not a number ({exc})") from None
    except GpurenderError as exc:
        raise BatchError(f"{where}: {key}: {exc}") from None
    raise BatchError(f"{where}: unknown key {key!r}; valid keys: {', '.join(JOB_KEYS)}")


def _song_entry(where: str, values: dict, folder: Path) -> BatchSong:
    values = {k: v for k, v in values.items() if v is not None and v != ""}
    unknown = [k for k in values if k not in JOB_KEYS]
    if unknown:
        raise BatchError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(JOB_KEYS)}")
    audio = values.pop("audio", None)
    if not isinstance(audio, str) or not audio.strip():
        raise BatchError(f"{where}: no audio; give the song file as audio = \"song.mp3\"")
    output = values.pop("output", None)
    if output is not None:
        output = str(output)
        if os.path.basename(output) != output or output in (".", ".."):
            raise BatchError(f"{where}: output {output!r} must be a file name in the output folder, "
                             "without a folder part")
    overrides = {}
    for key, value in values.items():
        overrides.update(_override(where, key, value))
    path = Path(os.path.expanduser(audio.strip()))
    if not path.is_absolute():
        path = folder / path
    return BatchSong(audio=path, output=output, overrides=overrides, where=where)


def read_job_list(path) -> list[BatchSong]:
    """The songs of a job list: a TOML file of ``[[songs]]`` tables, or a CSV file whose header
    names the columns (``audio`` required, the rest of :data:`JOB_KEYS` optional; an empty cell
    keeps the batch's setting; rows starting with ``#`` are comments). Relative song paths are
    read from the job list's folder. BatchError names the file and the entry of a mistake."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BatchError(f"job list {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchError(f"job list {str(path)!r} cannot be read ({one_line(exc)})") from None
    folder = path.parent
    if path.suffix.lower() == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python < 3.11
            import tomli as tomllib
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise BatchError(f"{path}: {exc}") from None
        extra = [k for k in data if k != "songs"]
        if extra:
            raise BatchError(f"{path}: unknown key {extra[0]!r}; a job list holds [[songs]] tables")
        songs = data.get("songs", [])
        if not isinstance(songs, list) or not all(isinstance(s, dict) for s in songs):
            raise BatchError(f"{path}: songs must be [[songs]] tables")
        return [_song_entry(f"{path}: song {i + 1}", s, folder) for i, s in enumerate(songs)]
    if path.suffix.lower() == ".csv":
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1)
                 if line.strip() and not line.lstrip().startswith("#")]
        if not lines:
            return []
        rows = list(csv.reader([line for _, line in lines], skipinitialspace=True))
        header = [h.strip().lower() for h in rows[0]]
        unknown = [h for h in header if h not in JOB_KEYS]
        if unknown:
            raise BatchError(f"{path}: line {lines[0][0]}: unknown column {unknown[0]!r}; "
                             f"valid columns: {', '.join(JOB_KEYS)}")
        if "audio" not in header:
            raise BatchError(f"{path}: line {lines[0][0]}: the header names no 'audio' column")
        songs = []
        for (number, _), row in zip(lines[1:], rows[1:]):
            where = f"{path}: line {number}"
            if len(row) > len(header):
                raise BatchError(f"{where}: {len(row)} cells, but the header names {len(header)} columns")
            songs.append(_song_entry(where, {h: c.strip() for h, c in zip(header, row)}, folder))
        return songs
    raise BatchError(f"job list {str(path)!r}: name it .toml or .csv")


# -- planning --------------------------------------------------------------------------------------


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def plan_batch(songs, outdir, settings: RenderSettings, inputs=()) -> list[PlannedSong]:
    """Each song's output path and settings, in order.

    Outputs are ``OUTDIR/<song name>.<ext>``; songs of the same name get ``<name>-2``, ``-3`` ...
    in argument order, and a name that is one of the batch's files (a song, the scene or a
    file it reads, given as ``inputs`` paths) is passed over the same way, so nothing is ever
    written over an input. Output names given in a job list are kept as they are; two songs
    naming the same output, or one naming an input, is a BatchError. Names are compared without
    case, so the outputs stay distinct on case-insensitive file systems too.
    """
    from .encode.formats import format_from_path

    outdir = Path(outdir)
    all_inputs = [Path(p) for p in inputs] + [s.audio for s in songs]
    if settings.format is not None and settings.format not in BATCH_FORMATS:
        raise BatchError(f"a batch writes {', '.join(BATCH_FORMATS)} files, not {settings.format}; "
                         "render PNG frames with 'gpurender render'")

    def clashes_with_input(name: str) -> Path | None:
        target = outdir / name
        return next((p for p in all_inputs if _same_file(target, p)), None)

    planned: list = [None] * len(songs)
    taken: dict[str, str] = {}
    for i, song in enumerate(songs):  # names given in a job list come first: they are fixed
        if song.output is None:
            continue
        fmt = song.overrides.get("format", settings.format)
        suffix = Path(song.output).suffix.lower()
        if suffix:
            try:
                named = format_from_path(song.output)
            except GpurenderError:
                named = None
            if named is not None and named not in BATCH_FORMATS:
                raise BatchError(f"{song.where}: output {song.output!r}: a batch writes "
                                 f"{', '.join(BATCH_FORMATS)} files")
            if named is not None and fmt is not None and named != fmt:
                raise BatchError(f"{song.where}: output {song.output!r} is not a {fmt} file; "
                                 f"name it .{fmt} or leave out the format")
            fmt = fmt or named
        fmt = fmt or "mp4"
        keeps_suffix = suffix == f".{fmt}" or (fmt == "mp4" and suffix == ".m4v")
        name = song.output if keeps_suffix else f"{song.output}.{fmt}"
        key = name.casefold()
        if key in taken:
            raise BatchError(f"{song.where}: output {name!r} is also the output of {taken[key]}; "
                             "give each song its own output name")
        clash = clashes_with_input(name)
        if clash is not None:
            raise BatchError(f"{song.where}: output {name!r} would write over the input {str(clash)!r}; "
                             "choose another output name")
        taken[key] = song.where or str(song.audio)
        planned[i] = (name, fmt)
    for i, song in enumerate(songs):
        if planned[i] is not None:
            continue
        fmt = song.overrides.get("format", settings.format) or "mp4"
        stem = song.audio.stem or song.audio.name or "song"
        n = 1
        while True:
            name = f"{stem}.{fmt}" if n == 1 else f"{stem}-{n}.{fmt}"
            if name.casefold() not in taken and clashes_with_input(name) is None:
                break
            n += 1
        taken[name.casefold()] = song.where or str(song.audio)
        planned[i] = (name, fmt)
    out = []
    for song, (name, fmt) in zip(songs, planned):
        song_settings = replace(settings, **{**song.overrides, "format": fmt})
        _check_encode(song, song_settings)
        out.append(PlannedSong(song=song, output=outdir / name, settings=song_settings))
    return out


def _check_encode(song: BatchSong, settings: RenderSettings) -> None:
    """Refuse a format/codec pair before the first song renders, naming the song."""
    from .pipeline import _encode_settings

    try:
        _encode_settings(settings, settings.format, alpha=False)
    except GpurenderError as exc:
        raise BatchError(f"{song.where or song.audio}: {exc}") from None


# -- records of finished outputs -------------------------------------------------------------------


def record_path(output: Path) -> Path:
    """Where the record of ``output`` is kept: ``.<name>.gpurender.json`` beside it."""
    output = Path(output)
    return output.with_name(f".{output.name}.gpurender.json")


def output_settings(settings: RenderSettings) -> dict:
    """The settings that change a song's output, as JSON (what its record's digest covers)."""
    from .encode import default_codec

    return {"width": settings.width, "height": settings.height, "fps": fps_json(settings.fps),
            "format": settings.format, "codec": settings.codec or default_codec(settings.format),
            "encoder": settings.encoder, "quality": settings.quality, "lossless": settings.lossless,
            "bit_depth": settings.bit_depth, "start": settings.start, "duration": settings.duration,
            "fft_size": settings.fft_size, "seed": settings.seed}


def song_identity(scene_id: str, planned: PlannedSong):
    """The :class:`~gpurender.farm.identity.JobIdentity` of a song's output."""
    from . import __version__
    from .farm.identity import JobIdentity, audio_digest, settings_digest

    return JobIdentity(scene=scene_id, audio=audio_digest(os.fspath(planned.song.audio)),
                       settings=settings_digest(output_settings(planned.settings)), version=__version__)


def read_record(output: Path) -> dict | None:
    """The record beside ``output`` if it still describes the file there, else None."""
    try:
        record = json.loads(record_path(output).read_text(encoding="utf-8"))
        st = os.stat(output)
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("record") != RECORD_VERSION:
        return None
    if record.get("size") != st.st_size or record.get("mtime_ns") != st.st_mtime_ns:
        return None  # the output was replaced or edited since
    return record


def write_record(output: Path, identity, planned: PlannedSong) -> None:
    """Record what made ``output`` (atomically, after it is published)."""
    from .encode.files import atomic_file

    st = os.stat(output)
    record = {"record": RECORD_VERSION, "output": output.name, "job": identity.job,
              "identity": identity.to_dict(), "audio": os.path.abspath(planned.song.audio),
              "settings": output_settings(planned.settings), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    with atomic_file(record_path(output), mode="w", what="batch record") as handle:
        json.dump(record, handle, indent=2)
        handle.write("\n")


def up_to_date(output: Path, identity) -> tuple[bool, str]:
    """Whether ``output`` was made from ``identity``; else why it is (re)rendered."""
    from .farm.identity import JobIdentity

    if not output.is_file():
        return False, ""
    record = read_record(output)
    if record is None:
        return False, f"{output} has no record of how it was made (or changed since); rendering it again"
    if record.get("job") == identity.job:
        return True, "same scene, audio and settings"
    try:
        changed = identity.changes_from(JobIdentity.from_dict(record["identity"]))
    except (KeyError, TypeError):
        changed = []
    return False, f"{' and '.join(changed) or 'its inputs'} changed since {output} was rendered; rendering it again"


# -- the batch -------------------------------------------------------------------------------------


def _failure_message(exc: Exception, output: Path) -> str:
    if isinstance(exc, GpurenderError):
        return one_line(exc, limit=500)
    failure = environment_failure(exc, output)
    if failure is not None:
        return str(failure)
    return one_line(exc, limit=500, named=True)


@cancellable
def render_batch(scene, songs, outdir, settings: RenderSettings = RenderSettings(), progress=None, *,
                 on_outcome: Callable[[SongOutcome], None] | None = None, force: bool = False,
                 parallel: int = DEFAULT_PARALLEL) -> BatchResult:
    """Render ``scene`` over every song to ``outdir``; returns what happened.

    ``songs``: paths, or :class:`BatchSong` values (e.g. from :func:`read_job_list`) with their
    own output names and settings. ``outdir`` is created if missing. A song whose output is up
    to date (see the module's notes) is skipped unless ``force``; a song that fails is recorded
    as failed and the batch goes on. With ``parallel`` 1 (the default) the songs are rendered
    one after another in this process, on its one device; with more, that many worker
    processes (each with its own device) render them side by side, making the same files.

    ``on_outcome`` is called with each song's :class:`SongOutcome`, in the order of ``songs``.
    ``progress`` as for :func:`gpurender.render_video`: it gets one song's events at a time, in
    the order of ``songs`` (those of a song rendered alongside wait for the songs before it), and
    is always called on this thread; an exception from a callback stops the whole batch and
    propagates. Ctrl-C stops the batch with a KeyboardInterrupt, keeping the finished songs and
    leaving no partial file. A bad scene, job entry or output folder raises before any song
    renders. ``outcomes`` of the result are in the order of ``songs``.
    """
    from .pipeline import scene_of

    if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
        raise BatchError(f"parallel must be a whole number of songs of at least 1, not {parallel!r}")
    progress = as_progress(progress)
    scene = scene_of(scene)
    songs = [s if isinstance(s, BatchSong) else BatchSong(audio=Path(s)) for s in songs]
    outdir = Path(outdir)
    inputs = [p for _, p in scene.input_files()]
    plan = plan_batch(songs, outdir, settings, inputs=inputs)
    if outdir.exists() and not outdir.is_dir():
        raise BatchError(f"output folder {str(outdir)!r} is a file; give a folder for the batch's videos")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        failure = environment_failure(exc, outdir)
        raise failure or BatchError(f"cannot create the output folder {str(outdir)!r} ({one_line(exc)})") from exc

    from .farm.identity import scene_digest

    job = _Batch(scene, scene_digest(scene), plan, force)
    if parallel == 1 or len(plan) == 1:
        outcomes = []
        for k, planned in enumerate(plan):
            progress.info(job.heading(k))
            outcomes.append(job.song(planned, progress))
            if on_outcome is not None:
                on_outcome(outcomes[-1])
    else:
        outcomes = _in_parallel(job, progress, min(parallel, len(plan)), on_outcome)
    return BatchResult(tuple(outcomes))



class _Batch:
    """What every song of one batch shares: the scene, its digest, the plan."""

    def __init__(self, scene, scene_id: str, plan: list, force: bool):
        from .pipeline import render_video

        self.scene, self.scene_id, self.plan, self.force = scene, scene_id, plan, force
        # render_video without its cancel wrapper: a callback's cancel must stop the batch (as
        # ProgressCancelled, re-raised by render_batch's own wrapper), not count as a failed song.
        self.render = getattr(render_video, "__wrapped__", render_video)

    def heading(self, k: int) -> str:
        planned = self.plan[k]
        return f"[{k + 1}/{len(self.plan)}] {planned.song.audio} -> {planned.output}"

    def song(self, planned: PlannedSong, progress) -> SongOutcome:
        """Render (or skip) one song; its outcome. Only BaseExceptions (Ctrl-C, a cancel) escape."""
        audio, output = str(planned.song.audio), planned.output
        try:
            if not planned.song.audio.is_file():
                raise GpurenderError(f"the song {audio!r} does not exist" if not planned.song.audio.exists()
                                     else f"the song {audio!r} is not a file")
            identity = song_identity(self.scene_id, planned)
            fresh, why = up_to_date(output, identity)
            if fresh and not self.force:
                return SongOutcome(audio, str(output), "skipped", why)
            if why:
                progress.info(why)
            result = self.render(self.scene, audio, output, planned.settings, progress)
            write_record(output, identity, planned)
            return SongOutcome(audio, str(output), "rendered", result=result)
        except Exception as exc:  # noqa: BLE001 - one song's failure must not stop the others
            return SongOutcome(audio, str(output), "failed", _failure_message(exc, output))


class _Stop(Exception):
    """Raised from a worker's progress callback when the batch is being stopped."""


#: Seconds between the frames a worker sends for the preview page (the page shows at most 4 a second).
_FRAME_INTERVAL_S = 0.25


class _SentFrames:
    """The preview page as seen from a worker process: while its song is the one shown, a frame
    now and then goes to the batch's process (which offers it to the page); events reach the
    page through the batch's progress instead."""

    def __init__(self, post, k: int, shown):
        self._post, self._k, self._shown, self._sent = post, k, shown, 0.0

    def event(self, event) -> None:
        pass

    def offer_frame(self, index, data, fmt, width, height) -> None:
        import time

        now = time.monotonic()
        if self._shown.value == self._k and now - self._sent >= _FRAME_INTERVAL_S:
            self._sent = now
            self._post((self._k, "frame", (index, data, fmt, width, height)))  # pickled: a copy

    def watch_job(self, job, local: bool = True) -> None:
        pass


def _cpu_shares(parallel: int) -> list:
    """The CPUs each of ``parallel`` workers keeps to: this process's CPUs dealt out in turn
    (None each where the platform cannot say)."""
    import os

    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return [None] * parallel
    if len(cpus) >= parallel:
        return [cpus[i::parallel] for i in range(parallel)]
    return [[cpus[i % len(cpus)]] for i in range(parallel)]


def _worker(tasks, events, stop, shown, job_state, cpus) -> None:
    """A worker process of a parallel batch: renders the songs it takes from ``tasks`` one
    after another, on its own device, posting ``(song, kind, payload)`` to ``events``.

    It keeps to its share of the CPUs (``cpus``), and so do the software adapter's threads
    (``LP_NUM_THREADS``) and libx264's (one per CPU it may use): workers that each spread over
    every core only got in each other's way (2 cores, 2 workers: 9.5 s against 10.8 s for four
    6-second songs at 640x360), and one libx264 thread encoded the same bytes however busy the
    machine was in our tests (two threads do not; see benchmarks/README.md).
    """
    import os
    import signal

    if cpus:
        os.sched_setaffinity(0, cpus)
        os.environ.setdefault("LP_NUM_THREADS", str(len(cpus)))  # read when lavapipe starts
    from .progress import Progress, ProgressCancelled

    # Ctrl-C is the batch process's to handle: it stops the workers through ``stop``, and each
    # song's render then cleans up as on a cancel.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    *shared, has_page = job_state
    job = _Batch(*shared)
    while True:
        k = tasks.get()
        if k is None:
            return
        if stop.is_set():
            events.put((k, "end", None))
            continue

        def forward(event, k=k):
            # "complete" comes once the file is published: let the song finish and be recorded
            if stop.is_set() and event.phase != "complete":
                raise _Stop("the batch is stopping")
            events.put((k, "event", event))

        preview = _SentFrames(events.put, k, shown) if has_page else None
        outcome = None
        events.put((k, "start", os.getpid()))
        try:
            outcome = job.song(job.plan[k], Progress(quiet=True, callback=forward, preview=preview))
        except ProgressCancelled:
            pass  # stopped: render_to_file has removed its temporary files
        finally:
            events.put((k, "end", outcome))


def _in_parallel(job: _Batch, progress, parallel: int, on_outcome) -> list:
    """Render ``job``'s songs in ``parallel`` worker processes, each with its own device.

    Processes, not threads: two libx264 encoders in one process do not always produce the same
    bytes as one encoder at a time (measured: 1 in 4 to 1 in 20 pairs of concurrent encodes
    of the same frames differed, even with every libx264 call serialised), and a batch must
    write the same files however it is run.

    Workers post their progress events to a queue; this process hands them to ``progress`` and
    ``on_outcome`` song by song in the batch's order, as if the songs ran one after another: the
    events of a song further on wait until the songs before it have ended, then are replayed.
    Ctrl-C here, or an exception from ``progress``, stops the workers at their next event (each
    song's render then cleans up as on a cancel) and is raised again once they have exited. A
    worker that dies (a crash in a driver) fails the song it was rendering; the others go on.
    """
    import multiprocessing
    import queue

    n = len(job.plan)
    ctx = multiprocessing.get_context("spawn")  # never fork a process that may hold a GPU device
    tasks, events, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    shown = ctx.Value("i", 0, lock=False)  # the song whose events reach ``progress`` now
    page = getattr(progress, "preview", None)
    for k in range(n):
        tasks.put(k)
    for _ in range(parallel):
        tasks.put(None)
    state = (job.scene, job.scene_id, job.plan, job.force, page is not None)
    workers = [ctx.Process(target=_worker, args=(tasks, events, stop, shown, state, cpus),
                           name=f"gpurender-batch-{i + 1}", daemon=True)
               for i, cpus in enumerate(_cpu_shares(parallel))]

    outcomes: list = [None] * n
    pending = [[] for _ in range(n)]  # each song's events not handed on yet
    ended = [False] * n
    rendering: dict[int, int] = {}  # song -> pid of the worker rendering it

    def hand_on() -> None:
        while shown.value < n and pending[shown.value]:
            k = shown.value
            kind, payload = pending[k].pop(0)
            if kind == "start":
                progress.info(job.heading(k))
            elif kind == "event":
                if payload.kind == "phase":
                    progress.phase(payload.phase, total=payload.total, detail=payload.message)
                elif payload.kind == "frames":
                    progress.update(payload.done)
                else:
                    progress.info(payload.message)
            else:
                outcomes[k] = payload
                shown.value = k + 1
                if payload is not None and on_outcome is not None:
                    on_outcome(payload)

    def post(k, kind, payload) -> None:
        if kind == "frame":
            if page is not None and k == shown.value:
                page.offer_frame(*payload)
            return
        if kind == "start":
            rendering[k] = payload
            payload = None
        elif kind == "end":
            ended[k] = True
            rendering.pop(k, None)
        pending[k].append((kind, payload))
        hand_on()

    def lost_workers() -> None:
        """Fail the songs of workers that died, and every song left when none is alive."""
        from .encode.files import remove_stale_partials

        alive = {w.pid for w in workers if w.is_alive()}
        for k, pid in list(rendering.items()):
            if pid not in alive:
                remove_stale_partials(job.plan[k].output)  # a killed worker could not remove its own
                dead = next((w for w in workers if w.pid == pid), None)
                code = dead.exitcode if dead is not None else None
                post(k, "end", SongOutcome(str(job.plan[k].song.audio), str(job.plan[k].output), "failed",
                                           f"the worker process rendering it stopped (exit status {code}); "
                                           "render this song alone to see why"))
        if not alive:
            for k in range(n):
                if not ended[k]:
                    post(k, "end", SongOutcome(str(job.plan[k].song.audio), str(job.plan[k].output), "failed",
                                               "not rendered: every worker process of the batch stopped"))

    try:
        _start_ignoring_ctrl_c(workers)
        while shown.value < n:
            try:
                k, kind, payload = events.get(timeout=0.5)
            except queue.Empty:
                lost_workers()
                continue
            post(k, kind, payload)
    except BaseException:
        stop.set()
        _stop_workers(workers, events)
        raise
    for w in workers:
        w.join()
    return outcomes


def _start_ignoring_ctrl_c(workers) -> None:
    """Start the workers with SIGINT ignored from their first instruction (a spawned process
    keeps an ignored signal ignored): a Ctrl-C while one still imports must not kill it with a
    traceback; the batch process stops them instead."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        for w in workers:
            w.start()
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        for w in workers:
            w.start()
    finally:
        signal.signal(signal.SIGINT, previous)


def _stop_workers(workers, events, grace_s: float = 60.0) -> None:
    """Wait (through any further Ctrl-C) for stopped workers to clean up and exit; after
    ``grace_s`` seconds, end those still running."""
    import queue
    import time

    deadline = time.monotonic() + grace_s
    while any(w.is_alive() for w in workers) and time.monotonic() < deadline:
        try:
            events.get(timeout=0.1)  # keep the queue moving: a worker blocks on a full pipe
        except queue.Empty:
            pass
        except KeyboardInterrupt:
            continue
    for w in workers:
        if w.is_alive():
            w.terminate()
        w.join()
