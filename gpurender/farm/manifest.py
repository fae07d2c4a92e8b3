"""The job manifest: what a chunked render is, and how far it got, in one JSON file.

The manifest names the job's identity (scene, audio, settings and version digests), the frame
span, the chunk plan and, for each chunk, its state (``pending``, ``running``, ``done`` or
``failed``), its segment's file name, size and SHA-256, the encoder that wrote it, how long it took
and how many attempts it needed. Only the driver writes it, always atomically, so a crash at any
moment leaves either the old or the new manifest, never half of one. It is read strictly: a
missing or mistyped field, or chunk records that do not tile the frame span as planned, are
one-line errors that say what is wrong (a hand-edited manifest must not give a wrong video).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import GpurenderError, one_line, os_reason
from .identity import JobIdentity
from .plan import Chunk, plan_chunks, segment_gop

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
STATES = ("pending", "running", "done", "failed")


class ManifestError(GpurenderError):
    """A job manifest that cannot be read or written, is malformed, or does not cover the video."""


@dataclass
class ChunkRecord:
    """One chunk's place in the plan and what became of it."""

    index: int
    first: int
    count: int
    state: str = "pending"
    segment: str = ""  # file name inside the job's segments/ folder
    bytes: int = 0
    sha256: str = ""
    encoder: str = ""
    adapter: str = ""
    host: str = ""
    seconds: float = 0.0
    attempts: int = 0
    error: str = ""

    @property
    def chunk(self) -> Chunk:
        return Chunk(self.index, self.first, self.count)

    def reset(self) -> None:
        """Back to ``pending``, forgetting the old segment's details."""
        self.state = "pending"
        self.bytes, self.sha256, self.encoder, self.adapter, self.host = 0, "", "", "", ""
        self.seconds, self.error = 0.0, ""


@dataclass
class Manifest:
    """A job directory's manifest (see the module docstring)."""

    identity: JobIdentity
    output: str
    format: str
    fps: int | str  # a whole number or an exact ratio "30000/1001" (as JSON keeps it)
    first: int
    count: int
    gop: int
    plan: dict  # how the chunks were asked for: {"chunk_frames": n} or {"chunks": n}
    settings: dict  # the output-changing settings, readable
    chunks: list[ChunkRecord] = field(default_factory=list)
    created: float = 0.0
    updated: float = 0.0
    version: str = ""

    @property
    def frames_done(self) -> int:
        return sum(c.count for c in self.chunks if c.state == "done")

    def counts(self) -> dict[str, int]:
        """Number of chunks in each state."""
        out = {s: 0 for s in STATES}
        for c in self.chunks:
            out[c.state] = out.get(c.state, 0) + 1
        return out

    def to_dict(self) -> dict:
        return {
            "format": MANIFEST_FORMAT,
            "gpurender": self.version,
            "job": self.identity.job,
            "identity": self.identity.to_dict(),
            "output": self.output,
            "output_format": self.format,
            "fps": self.fps,
            "first": self.first,
            "count": self.count,
            "gop": self.gop,
            "plan": self.plan,
            "settings": self.settings,
            "created": self.created,
            "updated": self.updated,
            "chunks": [asdict(c) for c in self.chunks],
        }

    @classmethod
    def from_dict(cls, data: dict, where: str = "manifest", folder=None) -> "Manifest":
        """The manifest ``data`` describes; :class:`ManifestError` (one line) when any field is
        missing or of the wrong type. ``where`` names the file and ``folder`` the job directory
        in that message."""
        folder = str(folder) if folder is not None else str(Path(where).parent)
        header = parse_header(data, where, folder)
        try:
            chunks = parse_chunks(data.get("chunks"))
        except _Bad as exc:
            raise ManifestError(f"job manifest {where!r} is damaged: {exc}; {repair_hint(folder)}") from None
        return cls(chunks=chunks, **header)

    def coverage_problem(self) -> str:
        """What is wrong with the chunk records ("" when they tile the frame span as planned).

        The chunks must be listed once each, in index order, and match the plan that the
        manifest's frame span and chunk options give; the header must agree with the settings
        its identity was computed from.
        """
        problem = header_problem(self)
        if problem:
            return problem
        if not self.chunks:
            return "it lists no chunks"
        planned = {c.index: c for c in self.planned()}
        seen = set()
        for position, record in enumerate(self.chunks):
            if record.index in seen:
                return f"chunk {record.index} is listed twice"
            seen.add(record.index)
            if position and record.index < self.chunks[position - 1].index:
                return f"chunk {record.index} is listed after chunk {self.chunks[position - 1].index}"
            want = planned.get(record.index)
            if want is None:
                return (f"chunk {record.index} (frames {_span(record.first, record.count)}) is not in the plan, "
                        f"which has {len(planned)} chunks")
            if (record.first, record.count) != (want.first, want.count):
                return (f"chunk {record.index} records frames {_span(record.first, record.count)}, "
                        f"the plan has frames {_span(want.first, want.count)}")
        for index, want in planned.items():
            if index not in seen:
                return (f"chunk {index} (frames {_span(want.first, want.count)}) has no record, so those frames "
                        f"would be missing")
        return ""

    def planned(self) -> tuple[Chunk, ...]:
        """The chunks the manifest's frame span and plan give."""
        key, value = next(iter(self.plan.items()))
        return plan_chunks(self.first, self.count, fps=self.fps, **{key: value})

    def save(self, folder: Path) -> None:
        """Write ``manifest.json`` into ``folder`` atomically (a crash leaves the old or the new one).

        A failed write (disk full, permissions) is a :class:`ManifestError` and leaves the old
        manifest in place.
        """
        from ..encode.files import atomic_file

        self.updated = time.time()
        target = Path(folder) / MANIFEST_NAME
        text = json.dumps(self.to_dict(), indent=1) + "\n"
        try:
            with atomic_file(target, "w", what="job manifest") as fh:
                fh.write(text)
        except GpurenderError as exc:  # the disk or the folder failed; the old manifest is whole
            raise ManifestError(
                f"could not save the job manifest {str(target)!r}: {os_reason(exc)}; free some space "
                f"(or fix the folder's permissions) and run the same command with --resume"
            ) from None


# -- reading, strictly -----------------------------------------------------------------------------


class _Bad(ValueError):
    """One field of a manifest is missing or has the wrong type (the message says which)."""


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _span(first: int, count: int) -> str:
    return f"{first}-{first + count - 1}"


def _get(data: dict, key: str, what: str = ""):
    if key not in data:
        raise _Bad(f"{what}{key!r} is missing")
    return data[key]


def _whole(value, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _Bad(f"{name} is {_shown(value)}, not a whole number >= {minimum}")
    return value


def _fps(value, name: str) -> int | str:
    """A frame rate as manifests store it: a whole number, or an exact ratio ``"30000/1001"``."""
    import re

    if isinstance(value, str) and re.fullmatch(r"[1-9]\d*/[1-9]\d*", value):
        return value
    return _whole(value, name, 1)


def _number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad(f"{name} is {_shown(value)}, not a number")
    return float(value)


def _text(value, name: str) -> str:
    if not isinstance(value, str):
        raise _Bad(f"{name} is {_shown(value)}, not text")
    return value


def repair_hint(folder) -> str:
    """How to rebuild a damaged manifest of the job in ``folder``."""
    return f"run 'gpurender status {folder} --repair' to rebuild it from the segments that verify"


def parse_header(data, where: str, folder) -> dict:
    """The manifest's fields other than its chunk records, checked; :class:`ManifestError` when one is
    missing or malformed (a header cannot be rebuilt: it alone records what the job renders)."""
    if not isinstance(data, dict):
        raise ManifestError(f"{where!r} is not a gpurender manifest; delete the job folder {str(folder)!r} "
                            f"to start over")
    if data.get("format") != MANIFEST_FORMAT:
        raise ManifestError(
            f"{where} has manifest format {data.get('format')!r}, this gpurender reads format "
            f"{MANIFEST_FORMAT}; finish the job with the gpurender that started it, or delete the folder"
        )
    try:
        identity = _get(data, "identity")
        if not isinstance(identity, dict):
            raise _Bad(f"'identity' is {_shown(identity)}, not a table of digests")
        parts = {k: _text(_get(identity, k, "identity "), f"identity {k!r}")
                 for k in ("scene", "audio", "settings", "version")}
        plan = _get(data, "plan")
        if not (isinstance(plan, dict) and len(plan) == 1 and next(iter(plan)) in ("chunk_frames", "chunks")):
            raise _Bad(f"'plan' is {_shown(plan)}, not {{\"chunk_frames\": n}} or {{\"chunks\": n}}")
        for key, value in plan.items():
            _whole(value, f"plan {key!r}", 1)
        settings = _get(data, "settings")
        if not isinstance(settings, dict):
            raise _Bad(f"'settings' is {_shown(settings)}, not a table")
        return dict(
            identity=JobIdentity(**parts),
            output=_text(_get(data, "output"), "'output'"),
            format=_text(_get(data, "output_format"), "'output_format'"),
            fps=_fps(_get(data, "fps"), "'fps'"),
            first=_whole(_get(data, "first"), "'first'", 0),
            count=_whole(_get(data, "count"), "'count'", 1),
            gop=_whole(_get(data, "gop"), "'gop'", 1),
            plan=dict(plan), settings=dict(settings),
            created=_number(data.get("created", 0.0), "'created'"),
            updated=_number(data.get("updated", 0.0), "'updated'"),
            version=_text(data.get("gpurender", ""), "'gpurender'"),
        )
    except _Bad as exc:
        raise ManifestError(
            f"job manifest {where!r} is damaged beyond repair: {exc}; it alone records what the job renders, so "
            f"delete the job folder {str(folder)!r} to start over"
        ) from None


def parse_chunk(item) -> ChunkRecord:
    """One chunk record, checked; :class:`_Bad` names the field that is missing or malformed."""
    if not isinstance(item, dict):
        raise _Bad(f"it is {_shown(item)}, not a table")
    values = {}
    for name in ("index", "first", "count"):
        values[name] = _whole(_get(item, name), name, 1 if name == "count" else 0)
    for name in ("bytes", "attempts"):
        if name in item:
            values[name] = _whole(item[name], name, 0)
    for name in ("state", "segment", "sha256", "encoder", "adapter", "host", "error"):
        if name in item:
            values[name] = _text(item[name], name)
    if "seconds" in item:
        values["seconds"] = _number(item["seconds"], "seconds")
    if values.get("state", "pending") not in STATES:
        raise _Bad(f"state is {_shown(values['state'])}, not one of {', '.join(STATES)}")
    return ChunkRecord(**values)


def parse_chunks(raw) -> list[ChunkRecord]:
    """The chunk records of a manifest, checked; :class:`_Bad` names the first malformed one."""
    if not isinstance(raw, list):
        raise _Bad(f"'chunks' is {_shown(raw)}, not a list")
    chunks = []
    for position, item in enumerate(raw):
        try:
            chunks.append(parse_chunk(item))
        except _Bad as exc:
            raise _Bad(f"chunk record {position + 1}: {exc}") from None
    return chunks


def header_problem(manifest: Manifest) -> str:
    """Why the header disagrees with the settings its identity digest covers ("" when it agrees)."""
    s = manifest.settings
    if not settings_trusted(manifest):
        return "its settings do not match the digest in its identity"
    for name, value in (("first", manifest.first), ("count", manifest.count), ("fps", manifest.fps),
                        ("format", manifest.format)):
        if s.get(name) != value:
            return f"its {name} ({_shown(value)}) differs from the {name} in its settings ({_shown(s.get(name))})"
    try:
        planned = manifest.planned()
    except GpurenderError as exc:
        return f"its plan {manifest.plan} does not fit its frame span ({exc})"
    if manifest.gop != segment_gop(planned):
        return f"its gop ({manifest.gop}) is not the plan's ({segment_gop(planned)})"
    return ""


def check_coverage(manifest: Manifest, folder) -> None:
    """Raise :class:`ManifestError` unless the manifest's chunks tile its frame span as planned."""
    message = coverage_error(manifest, folder)
    if message:
        raise ManifestError(message)


def coverage_error(manifest: Manifest, folder) -> str:
    """The one-line error for a manifest whose chunks do not cover the video, with the fix ("" if they do)."""
    problem = manifest.coverage_problem()
    if not problem:
        return ""
    where = str(Path(folder) / MANIFEST_NAME)
    fix = repair_hint(folder) if settings_trusted(manifest) else \
        f"it cannot be rebuilt, so delete the job folder {str(folder)!r} to start over"
    return f"job manifest {where!r} does not describe the video: {problem}; {fix}"


def settings_trusted(manifest: Manifest) -> bool:
    """Whether the manifest's settings are the ones its identity digest was computed from (then its
    frame span, frame rate and format can be restored from them)."""
    from .identity import settings_digest

    return settings_digest(manifest.settings) == manifest.identity.settings


def read_manifest_data(folder):
    """The parsed JSON of ``folder/manifest.json``; :class:`GpurenderError` when it is missing or unreadable."""
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        raise GpurenderError(f"{str(folder)!r} is not a gpurender job directory (no {MANIFEST_NAME} in it)")
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"job manifest {str(path)!r} cannot be read: {exc.strerror or exc}; check the file's "
                            f"permissions") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ManifestError(f"job manifest {str(path)!r} is not valid JSON ({one_line(exc)}); it cannot "
                            f"be rebuilt, so delete the job folder {str(folder)!r} to start over") from None


def load_manifest(folder) -> Manifest:
    """Read ``folder/manifest.json``; :class:`GpurenderError` when it is missing, unreadable or malformed.

    Whether its chunks cover the video is a separate question (:func:`check_coverage`), so that
    ``gpurender status`` can still show a manifest that does not.
    """
    data = read_manifest_data(folder)
    return Manifest.from_dict(data, where=str(Path(folder) / MANIFEST_NAME), folder=folder)
