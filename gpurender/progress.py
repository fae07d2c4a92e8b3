"""Progress on stderr: phases, frames done of total, frames per second and ETA.

A live bar when stderr is a terminal, plain periodic lines otherwise (logs, CI), nothing when
quiet. Timing here only reports; it never decides what is drawn.
"""

from __future__ import annotations

import sys
import time

PHASES = ("preparing", "analysing", "rendering", "encoding", "muxing", "complete")


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """Reports a render's progress; ``Progress(quiet=True)`` reports nothing."""

    def __init__(self, stream=None, quiet: bool = False, interval: float = 2.0, live: bool | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.live = self.stream.isatty() if live is None else live
        self.interval = interval
        self.phase_name = None
        self.total = 0
        self.done = 0
        self._start = self._last = time.monotonic()
        self._bar_open = False

    def phase(self, name: str, total: int | None = None, detail: str = "") -> None:
        self._end_bar()
        self.phase_name = name
        if total is not None:
            self.total, self.done = total, 0
            self._start = self._last = time.monotonic()
        self._line(f"[{name}]" + (f" {detail}" if detail else ""))

    def info(self, message: str) -> None:
        self._end_bar()
        self._line(message)

    def update(self, done: int) -> None:
        self.done = done
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
        stats = f"{done}/{self.total} frames {pct:5.1f}% {fps:6.1f} fps ETA {_clock(eta)}"
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
