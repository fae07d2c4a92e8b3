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

Per-song settings come from a job list (TOML or CSV, see :data:`JOB_KEYS`).
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
                raise BatchError(f"{song.where}: output {song.output!r}: a batch writes {', '.join(BATCH_FORMATS)} files")
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
                 on_outcome: Callable[[SongOutcome], None] | None = None, force: bool = False) -> BatchResult:
    """Render ``scene`` over every song to ``outdir`` in this process; returns what happened.

    ``songs``: paths, or :class:`BatchSong` values (e.g. from :func:`read_job_list`) with their
    own output names and settings. ``outdir`` is created if missing. A song whose output is up
    to date (see the module's notes) is skipped unless ``force``; a song that fails is recorded
    as failed and the batch goes on. ``on_outcome`` is called with each song's
    :class:`SongOutcome` as it ends. ``progress`` as for :func:`gpurender.render_video`, passed to
    every song's render (an exception from a callback stops the whole batch and propagates);
    Ctrl-C stops the batch with a KeyboardInterrupt, keeping the finished songs and leaving no
    partial file. A bad scene, job entry or output folder raises before any song renders.
    """
    from .pipeline import render_video, scene_of

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

    scene_id = scene_digest(scene)
    # render_video without its cancel wrapper: a callback's cancel must stop the batch (as
    # ProgressCancelled, re-raised by this function's own wrapper), not count as one song's failure.
    render = getattr(render_video, "__wrapped__", render_video)
    outcomes = []
    for k, planned in enumerate(plan, 1):
        audio, output = str(planned.song.audio), planned.output
        progress.info(f"[{k}/{len(plan)}] {audio} -> {output}")
        try:
            if not planned.song.audio.is_file():
                raise GpurenderError(f"the song {audio!r} does not exist" if not planned.song.audio.exists()
                                     else f"the song {audio!r} is not a file")
            identity = song_identity(scene_id, planned)
            fresh, why = up_to_date(output, identity)
            if fresh and not force:
                outcome = SongOutcome(audio, str(output), "skipped", why)
            else:
                if why:
                    progress.info(why)
                result = render(scene, audio, output, planned.settings, progress)
                write_record(output, identity, planned)
                outcome = SongOutcome(audio, str(output), "rendered", result=result)
        except Exception as exc:  # noqa: BLE001 - one song's failure must not stop the others
            outcome = SongOutcome(audio, str(output), "failed", _failure_message(exc, output))
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return BatchResult(tuple(outcomes))
