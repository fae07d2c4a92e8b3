"""Frozen render settings, built once from the CLI or the API and handed down to every stage.

Nothing reads global configuration: what a stage needs to know arrives in a :class:`RenderSettings`
value. Parsing of the user-facing spellings (``1080p``, ``1920x1080``, quality names) lives here
too so that the CLI and the Python API agree.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from .encode.formats import BIT_DEPTHS, QUALITIES
from .errors import GpurenderError

RESOLUTIONS = {
    "720p": (1280, 720),
    "1080p": (1920, 1080),
    "1440p": (2560, 1440),
    "4k": (3840, 2160),
    "2160p": (3840, 2160),
}


def parse_resolution(text: str | tuple[int, int]) -> tuple[int, int]:
    """``720p``/``1080p``/``1440p``/``4k`` or ``WxH`` (even numbers) to ``(width, height)``."""
    if isinstance(text, tuple):
        width, height = text
    else:
        key = str(text).strip().lower()
        if key in RESOLUTIONS:
            return RESOLUTIONS[key]
        match = re.fullmatch(r"(\d+)\s*[x×]\s*(\d+)", key)
        if not match:
            raise GpurenderError(
                f"resolution {text!r} is not understood; use 720p, 1080p, 1440p, 4k or WxH such as 1280x720"
            )
        width, height = int(match.group(1)), int(match.group(2))
    if width < 2 or height < 2 or width % 2 or height % 2:
        raise GpurenderError(
            f"resolution {width}x{height} is not valid; width and height must be even numbers of at least 2"
        )
    return width, height


def check_fps(fps) -> int:
    try:
        value = int(fps)
    except (TypeError, ValueError):
        raise GpurenderError(f"fps {fps!r} is not a whole number; use e.g. 30, 60 or 120") from None
    if value != fps and not isinstance(fps, str) or value <= 0:
        raise GpurenderError(f"fps {fps!r} is not valid; use a positive whole number such as 30, 60 or 120")
    return value


def frame_span(start: float, duration: float | None, fps: int, audio_duration: float) -> tuple[int, int]:
    """First frame and frame count for a ``start``/``duration`` request over an audio track.

    Frame ``i`` of the track is at time ``i / fps``; the render shows frames
    ``[first, first + count)`` with ``first = round(start * fps)`` and
    ``count = round(duration * fps)``.
    """
    if not math.isfinite(start) or start < 0:
        raise GpurenderError(f"--start {start} is not valid; give a time in seconds >= 0")
    if start >= audio_duration:
        raise GpurenderError(
            f"--start {start:g}s is past the end of the audio ({audio_duration:.3f}s); give an earlier start"
        )
    if duration is None:
        duration = audio_duration - start
    elif not math.isfinite(duration) or duration <= 0:
        raise GpurenderError(f"--duration {duration} is not valid; give a positive number of seconds")
    elif start + duration > audio_duration + 1e-6:
        raise GpurenderError(
            f"--start {start:g}s + --duration {duration:g}s runs past the end of the audio "
            f"({audio_duration:.3f}s); shorten the duration or leave it out to render to the end"
        )
    first = round(start * fps)
    count = round(duration * fps)
    if count < 1:
        raise GpurenderError(f"--duration {duration:g}s is shorter than one frame at {fps} fps")
    return first, count


@dataclass(frozen=True)
class RenderSettings:
    """Everything a render needs to know besides the scene and the audio."""

    width: int = 1280
    height: int = 720
    fps: int = 30
    quality: str = "high"
    format: str | None = None  # None: from the output's extension
    codec: str | None = None
    encoder: str = "auto"
    lossless: bool = False
    start: float = 0.0
    duration: float | None = None
    fft_size: int = 2048
    ring_depth: int = 3
    queue_size: int = 8
    seed: int = 0
    bit_depth: int = 8  # 10: 10-bit 4:2:0 video from a float composite (HEVC Main 10, AV1)

    def __post_init__(self):
        if self.quality not in QUALITIES:
            raise GpurenderError(f"quality {self.quality!r} is not valid; use one of {', '.join(QUALITIES)}")
        if self.bit_depth not in BIT_DEPTHS:
            raise GpurenderError(f"bit depth {self.bit_depth!r} is not valid; use 8 or 10")
        if self.ring_depth < 1:
            raise GpurenderError("ring depth must be at least 1")

    def with_(self, **changes) -> "RenderSettings":
        return replace(self, **changes)
