"""Names the output formats and codecs gpurender writes, and which go together.

This module is the single table of container formats (mp4, webm, mov, mkv, png sequences), the
codecs each may hold, the default codec of each, and how an output path maps to a format. It
imports no media library so the CLI can validate options before anything heavy loads.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import EncodeError, choices

CODECS = ("h264", "hevc", "av1", "vp9", "prores")
FORMATS = ("mp4", "webm", "mov", "mkv", "png")
QUALITIES = ("high", "medium", "low")

_DEFAULT_CODEC = {"mp4": "h264", "webm": "vp9", "mov": "prores", "mkv": "h264", "png": "png"}

# What each container may hold. mov keeps to what QuickTime plays; mkv takes everything.
COMPATIBLE = {
    "mp4": ("h264", "hevc", "av1", "vp9"),
    "webm": ("vp9", "av1"),
    "mov": ("h264", "hevc", "prores"),
    "mkv": CODECS,
    "png": ("png",),
}

# FFmpeg muxer name for each format.
MUXER = {"mp4": "mp4", "webm": "webm", "mov": "mov", "mkv": "matroska"}

_SUFFIX = {".mp4": "mp4", ".m4v": "mp4", ".webm": "webm", ".mov": "mov", ".mkv": "mkv", ".png": "png"}


def format_from_path(path) -> str:
    """Output format implied by a path's extension.

    A folder (one that exists, or a path written with a trailing slash) means a PNG sequence.
    Raises :class:`EncodeError` listing the extensions understood otherwise.
    """
    text = os.fspath(path)
    if text.endswith(("/", os.sep)) or Path(text).is_dir():
        return "png"
    suffix = Path(text).suffix.lower()
    if suffix in _SUFFIX:
        return _SUFFIX[suffix]
    raise EncodeError(
        f"cannot tell the output format from {text!r}; name it with one of "
        f"{', '.join(sorted(_SUFFIX))} (or a folder/ for a PNG sequence), or give the format explicitly"
    )


def default_codec(fmt: str) -> str:
    """Codec used for a format when none is asked for (mp4 -> h264, webm -> vp9, mov -> prores...)."""
    try:
        return _DEFAULT_CODEC[fmt]
    except KeyError:
        raise EncodeError(f"format {fmt!r} is not known; use one of {choices(FORMATS)}") from None


def check_pair(fmt: str, codec: str) -> None:
    """Raise :class:`EncodeError` unless ``codec`` can go in a ``fmt`` container."""
    if fmt not in FORMATS:
        raise EncodeError(f"format {fmt!r} is not known; use one of {choices(FORMATS)}")
    if fmt == "png":
        if codec != "png":
            raise EncodeError(f"a PNG sequence holds PNG images, not {codec}; leave the codec out for --format png")
        return
    if codec not in CODECS:
        raise EncodeError(f"codec {codec!r} is not known; use one of {choices(CODECS)}")
    if codec not in COMPATIBLE[fmt]:
        holders = [f for f in FORMATS if codec in COMPATIBLE[f]]
        raise EncodeError(
            f"{fmt} cannot hold {codec}; use {' or '.join(COMPATIBLE[fmt])} in {fmt}, "
            f"or write {codec} to {' or '.join(holders)}"
        )
