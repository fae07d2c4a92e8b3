"""The array library the batched FFT runs on: NumPy/SciPy on the CPU, CuPy (cuFFT) on a CUDA GPU.

A :class:`Backend` bundles the few operations whose spelling differs between the two (FFT,
building the frame matrix, moving arrays to and from the host); everything else is written once
against the array namespace ``xp``. CuPy is imported only when it is asked for or probed by
``backend="auto"``, never at package import.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..errors import GpurenderError


@dataclass(frozen=True)
class Backend:
    """One array library and the operations the analysis needs from it."""

    name: str
    xp: Any
    rfft: Callable  # rfft(x [B, N]) -> complex [B, N/2 + 1], along the last axis, one batched call
    frames: Callable  # frames(segment [S], starts [B], n) -> [B, n] windows starting at starts
    to_device: Callable
    to_host: Callable
    matrix: Callable  # matrix(W [K, M]) -> something that ``x [B, K] @`` multiplies fastest


def _sparse_matrix(weights):
    import scipy.sparse

    # The band weights are ~99% zeros (each bin feeds one or two bands): a CSR product is ~10x
    # faster than a dense one on the CPU.
    return scipy.sparse.csr_array(weights)


def _numpy_rfft(x):
    import scipy.fft

    # SciPy's pocketfft keeps float32 in float32 and spreads the batch over every core.
    return scipy.fft.rfft(x, axis=-1, workers=_cpu_workers())


def _numpy_frames(segment, starts, n):
    # A strided view of every length-n window, then one gather of the wanted rows (a copy).
    return np.lib.stride_tricks.sliding_window_view(segment, n)[starts]


def _gather_frames(xp):
    def frames(segment, starts, n):
        index = starts[:, None] + xp.arange(n, dtype=starts.dtype)[None, :]
        return segment[index]

    return frames


@functools.lru_cache(maxsize=1)
def _cpu_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


NUMPY = Backend(
    name="numpy",
    xp=np,
    rfft=_numpy_rfft,
    frames=_numpy_frames,
    to_device=np.asarray,
    to_host=np.asarray,
    matrix=_sparse_matrix,
)


@functools.lru_cache(maxsize=1)
def cupy_status() -> tuple[bool, str]:
    """Whether CuPy can run on a CUDA device here, and a short reason either way."""
    try:
        import cupy
    except Exception as err:  # ImportError, or a broken CUDA install failing at import
        return False, f"CuPy is not installed ({type(err).__name__}); pip install 'gpurender[gpu]'"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
        if count < 1:
            return False, "CuPy is installed but no CUDA device is visible"
        # A tiny FFT proves the driver, the runtime and cuFFT all load.
        probe = cupy.fft.rfft(cupy.arange(8, dtype=cupy.float32))
        float(cupy.abs(probe).sum())
        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
        if isinstance(name, bytes):
            name = name.decode(errors="replace")
        return True, f"CuPy {cupy.__version__} on {name}"
    except Exception as err:  # any CUDA failure means: use the CPU
        return False, f"CuPy cannot use CUDA: {' '.join(str(err).split())[:200]}"


def _cupy_backend() -> Backend:
    import cupy

    return Backend(
        name="cupy",
        xp=cupy,
        rfft=lambda x: cupy.fft.rfft(x, axis=-1),  # cuFFT, one batched plan per block shape (cached)
        frames=_gather_frames(cupy),
        to_device=cupy.asarray,
        to_host=cupy.asnumpy,
        matrix=cupy.asarray,  # cuBLAS makes the dense product cheap; no sparse detour on the GPU
    )


def get_backend(name: str) -> Backend:
    """The backend for a settings value: ``"auto"``, ``"numpy"`` or ``"cupy"``."""
    if name == "numpy":
        return NUMPY
    usable, reason = cupy_status()
    if name == "cupy":
        if not usable:
            raise GpurenderError(
                f"the CuPy analysis backend was asked for but {reason}; use backend 'numpy' or 'auto'"
            )
        return _cupy_backend()
    return _cupy_backend() if usable else NUMPY
