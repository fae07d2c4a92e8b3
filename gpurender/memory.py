"""Giving freed memory back to the system once the heavy set-up of a render is over."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        return libc.malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc (musl, macOS, Windows): nothing to do
        return None


def release_free_memory() -> None:
    """Return the C heap's free pages to the system (glibc's ``malloc_trim``; elsewhere nothing).

    Compiling shaders (LLVM, on the software adapter), creating the device and the analysis free
    tens of MB that glibc keeps in its heap for reuse: measured 58 MB at a render's second frame,
    at any track length. A render calls this once its first frame is out, so the long frame loop
    runs on what it actually holds.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
