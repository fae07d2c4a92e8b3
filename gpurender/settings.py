"""Frozen render settings, built once from the CLI or the API and handed down to every stage.

Nothing reads global configuration: what a stage needs to know arrives in a :class:`RenderSettings`
value. Parsing of the user-facing spellings (``1080p``, ``1920x1080``, quality names) lives here
too so that the CLI and the Python API agree.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from fractions import Fraction

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


#: The NTSC rates, by the decimals people call them: each stands for the exact ratio.
FPS_ALIASES = {
    "23.976": Fraction(24000, 1001), "23.98": Fraction(24000, 1001),
    "29.97": Fraction(30000, 1001),
    "47.952": Fraction(48000, 1001),
    "59.94": Fraction(60000, 1001),
    "119.88": Fraction(120000, 1001),
}
MAX_FPS = 1000
_FPS_HELP = "use a whole number such as 30, 60 or 120, a ratio such as 30000/1001, or 23.976, 29.97 or 59.94"


def check_fps(fps) -> int | Fraction:
    """A frame rate as an exact number: an ``int`` when whole, else a :class:`~fractions.Fraction`.

    Accepts whole numbers, exact ratios (``"30000/1001"``, ``Fraction(30000, 1001)``) and the NTSC
    decimals 23.976, 29.97, 59.94 (and 47.952, 119.88), which stand for their exact ratios, so
    frame ``i`` is at time ``i / fps`` exactly and a stream's rate is the true one.
    """
    value = None
    if isinstance(fps, bool):
        pass
    elif isinstance(fps, (int, Fraction)):
        value = Fraction(fps)
    elif isinstance(fps, float):
        text = repr(fps)
        value = FPS_ALIASES.get(text) or (Fraction(int(fps)) if fps.is_integer() else None)
    elif isinstance(fps, str):
        text = fps.strip()
        if text in FPS_ALIASES:
            value = FPS_ALIASES[text]
        elif re.fullmatch(r"\d+", text):
            value = Fraction(int(text))
        elif re.fullmatch(r"\d+\s*/\s*\d+", text):
            num, den = (int(part) for part in text.split("/"))
            value = Fraction(num, den) if den else None
        elif re.fullmatch(r"\d+\.0*", text):
            value = Fraction(int(float(text)))
    else:
        try:
            value = Fraction(int(fps)) if int(fps) == fps else None  # numpy integers
        except (TypeError, ValueError):
            value = None
    if value is None:
        raise GpurenderError(f"fps {fps!r} is not understood; {_FPS_HELP}")
    if not 0 < value <= MAX_FPS:
        raise GpurenderError(f"fps {fps!r} is not valid; {_FPS_HELP} (up to {MAX_FPS})")
    return int(value) if value.denominator == 1 else value


def fps_label(fps) -> str:
    """How a frame rate is shown to people: ``30``, ``29.97``, ``23.976``."""
    value = Fraction(fps)
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.3f}".rstrip("0").rstrip(".")


def fps_json(fps) -> int | str:
    """A frame rate for JSON (manifests, digests): an int, or ``"30000/1001"``."""
    value = Fraction(fps)
    return value.numerator if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def frame_span(start: float, duration: float | None, fps, audio_duration: float) -> tuple[int, int]:
    """First frame and frame count for a ``start``/``duration`` request over an audio track.

    Frame ``i`` of the track is at time ``i / fps``; the render shows frames
    ``[first, first + count)`` with ``first = round(start * fps)`` and
    ``count = round(duration * fps)``, in exact rational arithmetic (ties to even).
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
    rate = Fraction(fps)
    first = round(Fraction(start) * rate)
    count = round(Fraction(duration) * rate)
    if count < 1:
        raise GpurenderError(f"--duration {duration:g}s is shorter than one frame at {fps_label(fps)} fps")
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
        object.__setattr__(self, "fps", check_fps(self.fps))
        if self.quality not in QUALITIES:
            raise GpurenderError(f"quality {self.quality!r} is not valid; use one of {', '.join(QUALITIES)}")
        if self.bit_depth not in BIT_DEPTHS:
            raise GpurenderError(f"bit depth {self.bit_depth!r} is not valid; use 8 or 10")
        if self.ring_depth < 1:
            raise GpurenderError("ring depth must be at least 1")

    def with_(self, **changes) -> "RenderSettings":
        return replace(self, **changes)
