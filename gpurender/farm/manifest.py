"""The job manifest: what a chunked render is, and how far it got, in one JSON file.

The manifest names the job's identity (scene, audio, settings and version digests), the frame
span, the chunk plan and, for each chunk, its state (``pending``, ``running``, ``done`` or
``failed``), its segment's file name, size and SHA-256, the encoder that wrote it, how long it took
and how many attempts it needed. Only the driver writes it, always atomically, so a crash at any
moment leaves either the old or the new manifest, never half of one.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import GpurenderError
from .identity import JobIdentity
from .plan import Chunk

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
STATES = ("pending", "running", "done", "failed")


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
    fps: int
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
    def from_dict(cls, data: dict, where: str = "manifest") -> "Manifest":
        if data.get("format") != MANIFEST_FORMAT:
            raise GpurenderError(
                f"{where} has manifest format {data.get('format')!r}, this gpurender reads format "
                f"{MANIFEST_FORMAT}; finish the job with the gpurender that started it, or delete the folder"
            )
        try:
            names = {f.name for f in fields(ChunkRecord)}
            chunks = [ChunkRecord(**{k: v for k, v in c.items() if k in names}) for c in data["chunks"]]
            return cls(
                identity=JobIdentity.from_dict(data["identity"]), output=str(data["output"]),
                format=str(data["output_format"]), fps=int(data["fps"]), first=int(data["first"]),
                count=int(data["count"]), gop=int(data["gop"]), plan=dict(data["plan"]),
                settings=dict(data["settings"]), chunks=chunks, created=float(data.get("created", 0.0)),
                updated=float(data.get("updated", 0.0)), version=str(data.get("gpurender", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise GpurenderError(f"{where} is damaged ({exc}); delete the job folder to start over") from None

    def save(self, folder: Path) -> None:
        """Write ``manifest.json`` into ``folder`` atomically."""
        self.updated = time.time()
        target = Path(folder) / MANIFEST_NAME
        temp = target.with_name(f".{MANIFEST_NAME}.{os.getpid()}.tmp")
        text = json.dumps(self.to_dict(), indent=1) + "\n"
        try:
            with open(temp, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temp, target)
        except BaseException:
            try:
                os.unlink(temp)
            except OSError:
                pass
            raise


def load_manifest(folder) -> Manifest:
    """Read ``folder/manifest.json``; :class:`GpurenderError` when it is missing or unreadable."""
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        raise GpurenderError(f"{str(folder)!r} is not a gpurender job directory (no {MANIFEST_NAME} in it)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GpurenderError(f"{str(path)!r} cannot be read ({exc}); delete the job folder to start over") from None
    if not isinstance(data, dict):
        raise GpurenderError(f"{str(path)!r} is not a gpurender manifest; delete the job folder to start over")
    return Manifest.from_dict(data, where=str(path))
