"""Fingerprints what a render depends on, so a job directory can tell whether it may be resumed.

A job's identity is four SHA-256 digests: the scene (its validated structure, plus the contents of
files its layers reference), the audio (its samples and rate), the settings that change the
output, and the gpurender version. Segments rendered under one identity are only ever joined with
segments of the same identity. Everything is hashed in blocks, never copied whole.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_BLOCK = 1 << 20  # bytes hashed at a time


@dataclass(frozen=True)
class JobIdentity:
    """The digests a job directory was made for."""

    scene: str
    audio: str
    settings: str
    version: str

    @property
    def job(self) -> str:
        """One digest over all four parts."""
        text = "\n".join((self.scene, self.audio, self.settings, self.version))
        return hashlib.sha256(text.encode()).hexdigest()

    def to_dict(self) -> dict:
        return {"scene": self.scene, "audio": self.audio, "settings": self.settings, "version": self.version}

    @classmethod
    def from_dict(cls, data: dict) -> "JobIdentity":
        return cls(**{k: str(data[k]) for k in ("scene", "audio", "settings", "version")})

    def changes_from(self, other: "JobIdentity") -> list[str]:
        """Names of the parts that differ from ``other`` ("scene", "audio", "settings", "gpurender version")."""
        names = {"scene": "scene", "audio": "audio", "settings": "settings", "version": "gpurender version"}
        return [names[k] for k in names if getattr(self, k) != getattr(other, k)]


def file_digest(path, h=None) -> str:
    """SHA-256 of a file's contents, read in blocks."""
    own = h is None
    h = h or hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(_BLOCK)
            if not block:
                break
            h.update(block)
    return h.hexdigest() if own else ""


def _listing_digest(paths) -> str:
    # Folders and globs may hold thousands of large per-frame files: their names, sizes and
    # modification times are hashed instead of their contents.
    h = hashlib.sha256()
    for p in sorted(paths):
        try:
            st = os.stat(p)
        except OSError:
            continue
        if os.path.isfile(p):
            h.update(f"{os.path.basename(p)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def path_digest(value: str) -> str:
    """Digest of what a scene's path parameter refers to: a file's contents, or a folder/glob listing."""
    p = Path(value)
    if p.is_file():
        return "file:" + file_digest(p)
    if p.is_dir():
        return "dir:" + _listing_digest(str(q) for q in p.iterdir())
    if any(ch in value for ch in "*?["):
        return "glob:" + _listing_digest(glob.glob(value))
    return "missing:" + value


def scene_digest(scene) -> str:
    """Digest of a validated scene: every value that changes a frame, and the files it reads.

    The scene's ``source`` (where it was loaded from) is left out: the same scene loaded from
    another working directory is the same scene. Path parameters count by what they point to.
    """
    layers = []
    for layer in scene.layers:
        paths = layer.paths()
        params = []
        for key, value in layer.params.items():
            if key in paths and isinstance(value, str):
                params.append([key, path_digest(value)])
            else:
                params.append([key, repr(value)])
        layers.append([layer.type, layer.blend, repr(layer.opacity), layer.name, params])
    canon = {"background": repr(tuple(scene.background)), "camera": repr(scene.camera), "layers": layers}
    # The look keys (tone mapping, motion blur, ...) count when set, so digests of scenes without
    # them stay what they were.
    default = type(scene)()
    look = {key: repr(getattr(scene, key)) for key in getattr(scene, "LOOK", ())
            if getattr(scene, key) != getattr(default, key)}
    if look:
        canon["look"] = look
    return hashlib.sha256(json.dumps(canon, sort_keys=True).encode()).hexdigest()


def audio_digest(audio) -> str:
    """Digest of decoded audio (rate, shape and float32 samples), or of an audio file's bytes."""
    h = hashlib.sha256()
    if hasattr(audio, "samples") and hasattr(audio, "sample_rate"):
        samples = np.ascontiguousarray(audio.samples, dtype=np.float32)
        h.update(f"pcm:{int(audio.sample_rate)}:{samples.shape}\n".encode())
        flat = memoryview(samples.reshape(-1)).cast("B")
        for start in range(0, len(flat), _BLOCK):
            h.update(flat[start:start + _BLOCK])
        return h.hexdigest()
    h.update(b"file\n")
    file_digest(audio, h)
    return h.hexdigest()


def settings_digest(values: dict) -> str:
    """Digest of the output-changing settings, given as a JSON-able dict."""
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def job_identity(scene, audio, settings: dict) -> JobIdentity:
    """The identity of a render of ``scene`` over ``audio`` with ``settings`` by this gpurender."""
    from .. import __version__

    return JobIdentity(scene=scene_digest(scene), audio=audio_digest(audio),
                       settings=settings_digest(settings), version=__version__)
