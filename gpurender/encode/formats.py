"""Names the output formats and codecs gpurender writes, and which go together.

This module is the single table of container formats (mp4, webm, mov, mkv, png sequences), the
codecs each may hold, which pairs keep an alpha channel, the default codec of each format, and how
an output path maps to a format. It imports no media library so the CLI can validate options (and
build its choices) before anything heavy loads.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import EncodeError, choices

# ffv1 is the RGB-exact archiving codec: lossless, fed the rendered RGB(A) itself (no YUV step).
CODECS = ("h264", "hevc", "av1", "vp9", "prores", "ffv1")
FORMATS = ("mp4", "webm", "mov", "mkv", "png")
QUALITIES = ("high", "medium", "low")
BIT_DEPTHS = (8, 10)

#: How people name each codec (notices, warnings).
CODEC_NAMES = {"h264": "H.264", "hevc": "HEVC", "av1": "AV1", "vp9": "VP9", "prores": "ProRes", "ffv1": "FFV1",
               "png": "PNG"}

_DEFAULT_CODEC = {"mp4": "h264", "webm": "vp9", "mov": "prores", "mkv": "h264", "png": "png"}

# What each container may hold. mov keeps to what QuickTime plays; mkv takes everything.
COMPATIBLE = {
    "mp4": ("h264", "hevc", "av1", "vp9"),
    "webm": ("vp9", "av1"),
    "mov": ("h264", "hevc", "prores"),
    "mkv": CODECS,
    "png": ("png",),
}

# Which codecs keep an alpha channel in each container. VP9's alpha is a second stream in
# Matroska's BlockAdditional elements (WebM and MKV only; MP4 has nowhere to put it).
ALPHA = {
    "mp4": (),
    "webm": ("vp9",),
    "mov": ("prores",),
    "mkv": ("vp9", "prores", "ffv1"),
    "png": ("png",),
}
#: Said to people whose transparent background would be lost.
ALPHA_KEEPERS = "webm (VP9 with alpha), mov (ProRes 4444) or a png sequence (mkv keeps it with vp9, prores or ffv1)"

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


def keeps_alpha(fmt: str, codec: str | None = None) -> bool:
    """Whether ``codec`` (default: the format's own) in a ``fmt`` container carries an alpha channel."""
    codec = codec if codec is not None else default_codec(fmt)
    return codec in ALPHA.get(fmt, ())


def alpha_plan(fmt: str, codec: str | None, transparent: bool) -> tuple[bool, str | None]:
    """Whether an output keeps a transparent background, and a one-line warning when it cannot.

    ``(True, None)`` where the pair carries alpha (VP9 in webm/mkv as yuva420p, ProRes 4444 in
    mov/mkv, FFV1 RGBA in mkv, PNG); ``(False, warning)`` for a transparent scene written where alpha
    is lost (H.264 in MP4 ...); ``(False, None)`` for an opaque scene.
    """
    if not transparent:
        return False, None
    codec = codec if codec is not None else default_codec(fmt)
    if keeps_alpha(fmt, codec):
        return True, None
    return False, (
        f"warning: the scene's transparent background loses its alpha: {CODEC_NAMES.get(codec, codec)} in {fmt} "
        f"has no alpha channel; to keep alpha write {ALPHA_KEEPERS}"
    )
