"""Splits a render's frame span into chunks of consecutive frames.

A chunk is a run of track frames ``[first, first + count)`` that is encoded to its own segment.
The plan is pure arithmetic (no media, no GPU) so that the driver, the workers, the manifest and
``gpurender status`` all agree on which frames belong to which chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ..errors import GpurenderError

#: Chunk length when only a farm is asked for: ten seconds of video.
DEFAULT_CHUNK_SECONDS = 10
#: Longest keyframe interval inside a segment (x264's own default), so long chunks stay seekable.
MAX_GOP = 250


@dataclass(frozen=True)
class Chunk:
    """Track frames ``first .. first + count - 1``, encoded as segment number ``index``."""

    index: int
    first: int
    count: int

    @property
    def end(self) -> int:
        """One past the last track frame of the chunk."""
        return self.first + self.count


def plan_chunks(first: int, count: int, chunk_frames: int | None = None, chunks: int | None = None,
                fps: int = 30) -> tuple[Chunk, ...]:
    """Chunks covering track frames ``[first, first + count)`` in order.

    ``chunk_frames`` gives chunks of that many frames (the last one shorter); ``chunks`` splits the
    span into that many chunks whose lengths differ by at most one frame. With neither, chunks are
    :data:`DEFAULT_CHUNK_SECONDS` of video at ``fps``.
    """
    if count < 1:
        raise GpurenderError("nothing to render: the frame span is empty")
    if chunk_frames is not None and chunks is not None:
        raise GpurenderError("give --chunk-frames or --chunks, not both")
    if chunks is not None:
        if isinstance(chunks, bool) or int(chunks) != chunks or chunks < 1:
            raise GpurenderError(f"--chunks {chunks!r} is not valid; give a whole number of chunks >= 1")
        if chunks > count:
            raise GpurenderError(
                f"--chunks {chunks} is more than the {count} frames to render; give at most {count}"
            )
        base, extra = divmod(count, int(chunks))
        sizes = [base + (1 if i < extra else 0) for i in range(int(chunks))]
    else:
        if chunk_frames is None:
            chunk_frames = max(1, round(DEFAULT_CHUNK_SECONDS * Fraction(fps)))
        if isinstance(chunk_frames, bool) or int(chunk_frames) != chunk_frames or chunk_frames < 1:
            raise GpurenderError(
                f"--chunk-frames {chunk_frames!r} is not valid; give a whole number of frames >= 1"
            )
        chunk_frames = int(chunk_frames)
        sizes = [min(chunk_frames, count - start) for start in range(0, count, chunk_frames)]
    out = []
    start = first
    for index, size in enumerate(sizes):
        out.append(Chunk(index, start, size))
        start += size
    return tuple(out)


def segment_gop(chunks) -> int:
    """Keyframe interval for every segment of a plan: the longest chunk, at most :data:`MAX_GOP`.

    Every segment is encoded with the same value (segments join only if their stream parameters
    match), and each starts on a keyframe of a closed GOP whatever the value.
    """
    return max(1, min(max(c.count for c in chunks), MAX_GOP))
