"""Progress: phases, frames done of total, frames per second and ETA, on stderr or to a callback.

On stderr: a live bar when it is a terminal, plain periodic lines otherwise (logs, CI), nothing
when quiet. Apps pass a callable instead (``progress=callback`` on the API): it receives one
:class:`ProgressEvent` per phase, frame count and note, on the caller's thread, and an exception
it raises cancels the work cleanly. A :class:`gpurender.preview.Preview` given as ``preview=``
gets the same events (and, from the output routine, frames) for the live preview page. Timing
here only reports; it never decides what is drawn.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Callable

#: The phases a render goes through, in order (``checking`` for point sequences, ``verifying``
#: for video files; a phase a job does not need is skipped).
PHASES = ("preparing", "checking", "analysing", "rendering", "encoding", "muxing", "verifying", "complete")


@dataclass(frozen=True)
class ProgressEvent:
    """What a progress callback receives.

    ``kind`` is ``"phase"`` (a phase began; ``message`` says what it does), ``"frames"`` (``done``
    of ``total`` frames, with ``fps`` and ``eta_s``) or ``"info"`` (a note such as the encoder
    chosen, in ``message``). ``phase`` is always the current phase (see :data:`PHASES`). Fields
    not known at that moment are None.
    """

    kind: str
    phase: str
    done: int | None = None
    total: int | None = None
    fps: float | None = None
    eta_s: float | None = None
    message: str = ""


class ProgressCancelled(KeyboardInterrupt):
    """A progress callback raised ``error``: the work stops as it does on Ctrl-C (temporary files
    removed, a chunked job kept for ``--resume``), then ``error`` itself reaches the caller."""

    def __init__(self, error: BaseException):
        super().__init__(f"cancelled by the progress callback: {error!r}")
        self.error = error


def as_progress(value) -> "Progress":
    """The :class:`Progress` for an API's ``progress=`` argument: None/False (quiet), True
    (stderr), a callable (receives :class:`ProgressEvent`) or a Progress itself."""
    if isinstance(value, Progress):
        return value
    if value is None or value is False:
        return Progress(quiet=True)
    if value is True:
        return Progress()
    if callable(value):
        return Progress(quiet=True, callback=value)
    raise TypeError(f"progress must be True, False, None, a callable or a Progress, not {type(value).__name__}")


def cancellable(fn):
    """Decorator for API entry points: a cancel from the progress callback reaches the caller as
    the callback's own exception, once the work has been stopped and cleaned up."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ProgressCancelled as cancel:
            raise cancel.error.with_traceback(cancel.error.__traceback__) from None

    return wrapper


def clock(seconds: float) -> str:
    """``mm:ss``, or ``h:mm:ss`` from an hour up: how progress lines show a duration."""
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """Reports a render's progress; ``Progress(quiet=True)`` reports nothing."""

    def __init__(self, stream=None, quiet: bool = False, interval: float = 2.0, live: bool | None = None,
                 callback: Callable[[ProgressEvent], None] | None = None, preview=None):
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.callback = callback
        self.preview = preview  # a gpurender.preview.Preview, or None
        self.live = self.stream.isatty() if live is None else live
        self.interval = interval
        self.phase_name = None
        self.total = 0
        self.done = 0
        self._start = self._last = time.monotonic()
        self._bar_open = False

    def _emit(self, event: ProgressEvent) -> None:
        if self.preview is not None:
            self.preview.event(event)
        if self.callback is None:
            return
        try:
            self.callback(event)
        except BaseException as exc:  # noqa: BLE001 - any exception from the callback cancels
            raise ProgressCancelled(exc) from exc

    def phase(self, name: str, total: int | None = None, detail: str = "") -> None:
        self._end_bar()
        self.phase_name = name
        if total is not None:
            self.total, self.done = total, 0
            self._start = self._last = time.monotonic()
        self._line(f"[{name}]" + (f" {detail}" if detail else ""))
        self._emit(ProgressEvent("phase", name, 0 if total else None, total or None, message=detail))

    def info(self, message: str) -> None:
        self._end_bar()
        self._line(message)
        self._emit(ProgressEvent("info", self.phase_name or "preparing", message=message))

    def rate(self) -> tuple[float | None, float | None]:
        """Frames per second so far in this phase and the seconds left (None until known)."""
        elapsed = time.monotonic() - self._start
        if self.done <= 0 or elapsed <= 0:
            return None, None
        fps = self.done / elapsed
        return fps, ((self.total - self.done) / fps if self.total else None)

    def update(self, done: int) -> None:
        self.done = done
        if self.callback is not None or self.preview is not None:
            fps, eta = self.rate()
            self._emit(ProgressEvent("frames", self.phase_name or "rendering", done, self.total or None, fps, eta))
        if self.quiet:
            return
        now = time.monotonic()
        finished = done >= self.total
        if not finished and now - self._last < (0.1 if self.live else self.interval):
            return
        self._last = now
        elapsed = now - self._start
        fps = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / fps if fps > 0 else 0.0
        pct = 100.0 * done / self.total if self.total else 100.0
        stats = f"{done}/{self.total} frames {pct:5.1f}% {fps:6.1f} fps ETA {clock(eta)}"
        if self.live:
            width = 28
            filled = int(width * done / self.total) if self.total else width
            self.stream.write(f"\r{self.phase_name:>9} [{'#' * filled}{'.' * (width - filled)}] {stats}")
            self.stream.flush()
            self._bar_open = True
        else:
            self._line(f"{self.phase_name}: {stats}")

    def _end_bar(self) -> None:
        if self._bar_open:
            self.stream.write("\n")
            self._bar_open = False

    def _line(self, text: str) -> None:
        if not self.quiet:
            self.stream.write(text + "\n")
            self.stream.flush()

    def close(self) -> None:
        self._end_bar()
