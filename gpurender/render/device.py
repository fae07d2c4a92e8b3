"""Owns the one wgpu adapter and device of the process, and says which adapter that is.

The GPU is optional: on a machine without one, wgpu falls back to a software adapter
(lavapipe through Vulkan, or llvmpipe through OpenGL). Everything else in the render stage asks
this module for the device instead of creating its own.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from ..errors import RenderError

_lock = threading.Lock()
_device = None
_adapter = None

#: Texture format of each layer's own texture (a slice of the compositor's layer array):
#: premultiplied RGBA in half floats, so that un-premultiplying for the blend formulas keeps
#: 8-bit precision. The compositor blends in float32 registers.
LAYER_FORMAT = "rgba16float"
#: Format of the final composited frame (straight alpha, sRGB-encoded values as browsers blend).
OUTPUT_FORMAT = "rgba8unorm"


@dataclass(frozen=True)
class AdapterInfo:
    name: str
    backend: str
    adapter_type: str
    description: str
    max_texture_size: int

    @property
    def is_software(self) -> bool:
        return self.adapter_type.lower() == "cpu" or "llvmpipe" in self.name.lower()

    def summary(self) -> str:
        kind = "software (CPU)" if self.is_software else "GPU"
        return f"{self.name} [{self.backend}, {kind}]"


def choose_adapter(adapters, wanted: str):
    """The adapter named by ``GPURENDER_ADAPTER``: an index among the hardware (non-CPU)
    adapters in enumeration order, or a piece of an adapter's name. Raises RenderError."""
    hardware = [a for a in adapters if str(a.info.get("adapter_type", "")).lower() != "cpu"] or list(adapters)
    if wanted.strip().isdigit():
        index = int(wanted)
        if index >= len(hardware):
            raise RenderError(
                f"GPURENDER_ADAPTER={wanted} but this machine has {len(hardware)} adapter(s); "
                f"use an index below {len(hardware)} or unset it"
            )
        return hardware[index]
    for adapter in adapters:
        if wanted.lower() in str(adapter.info.get("device", "")).lower():
            return adapter
    names = ", ".join(str(a.info.get("device", "?")) for a in adapters)
    raise RenderError(f"GPURENDER_ADAPTER={wanted!r} matches no adapter; found: {names}")


def _request_adapter():
    try:
        import wgpu
    except Exception as exc:  # pragma: no cover - wgpu is a hard dependency
        raise RenderError(f"wgpu cannot be imported ({exc}); reinstall gpurender") from exc
    # XDG_RUNTIME_DIR noise from Mesa's Wayland probe is harmless on a headless machine.
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    wanted = os.environ.get("GPURENDER_ADAPTER", "").strip()
    try:
        if wanted:
            # Several GPUs in one machine (a Ray node): each worker picks its own.
            return choose_adapter(wgpu.gpu.enumerate_adapters_sync(), wanted)
        adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
    except RenderError:
        raise
    except Exception as exc:
        raise RenderError(
            f"no wgpu adapter could be found ({exc}); install a GPU driver or, for the software "
            "adapter, 'apt-get install mesa-vulkan-drivers'"
        ) from exc
    if adapter is None:
        raise RenderError(
            "no wgpu adapter could be found; install a GPU driver or, for the software adapter, "
            "'apt-get install mesa-vulkan-drivers'"
        )
    return adapter


def _create_device():
    """The adapter and its device, with the limits gpurender asks for."""
    adapter = _request_adapter()
    limits = {}
    want = {
        "max-storage-buffer-binding-size": 1 << 30,
        "max-buffer-size": 1 << 31,
        "max-texture-dimension-2d": 16384,
    }
    for key, value in want.items():
        have = adapter.limits.get(key)
        if have is not None:
            limits[key] = min(value, have)
    try:
        device = adapter.request_device_sync(required_limits=limits)
    except Exception as exc:
        raise RenderError(f"the adapter {adapter.info.get('device', '?')!r} would not create a device ({exc}); "
                          "update its driver or use the software adapter") from exc
    return adapter, device


def get_device():
    """The process-wide wgpu device (created on first use).

    The driver calls run in a helper thread with a deadline: Ctrl-C meanwhile is a plain
    KeyboardInterrupt (inside wgpu's callbacks it would be swallowed and surface as an
    AssertionError), and a driver that never answers is a RenderError, not a hang.
    """
    global _device, _adapter
    with _lock:
        if _device is None:
            from .waits import run_with_deadline

            _adapter, _device = run_with_deadline(_create_device, "creating the GPU device")
        return _device


def adapter_info() -> AdapterInfo:
    """Which adapter the device runs on."""
    get_device()
    info = _adapter.info
    return AdapterInfo(
        name=str(info.get("device") or info.get("vendor") or "unknown"),
        backend=str(info.get("backend_type", "unknown")),
        adapter_type=str(info.get("adapter_type", "unknown")),
        description=str(info.get("description", "")),
        max_texture_size=int(_adapter.limits.get("max-texture-dimension-2d", 8192)),
    )


def max_texture_size() -> int:
    return adapter_info().max_texture_size
