"""Owns the one wgpu adapter and device of the process, and says which adapter that is.

The GPU is optional: on a machine without one, wgpu falls back to a software adapter
(lavapipe through Vulkan, or llvmpipe through OpenGL). Everything else in the render stage asks
this module for the device instead of creating its own.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass

from ..errors import RenderError

_lock = threading.Lock()
_device = None
_adapter = None
_fast_types = False
_warming = None  # the thread prepare_in_background started

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


def fast_cffi_types() -> bool:
    """Let cffi find wgpu's struct types without re-parsing wgpu's C header for each one.

    wgpu-py builds every C struct with ``ffi.new("WGPUSomething *")`` (and arrays, callbacks);
    cffi parses such a type string with pycparser over a prelude of every typedef in wgpu's header
    (about 9,000 declarations), about 0.12 s per distinct type, 2-3 s of a fresh process's first
    frame. These strings are simple: a typedef or primitive name, ``const``, ``*``, ``[]`` and
    callback signatures of those. The parser already holds each typedef's model, so this builds
    the same model cffi would (checked by a test against cffi's own parse) and leaves every other
    string to cffi. Returns False where cffi's internals are not as expected (nothing changes).
    """
    global _fast_types
    if _fast_types:
        return True
    try:
        from cffi import model
        from wgpu.backends.wgpu_native._ffi import ffi

        parser = ffi._parser
        declarations = parser._declarations
        slow = parser.parse_type_and_quals
    except Exception:  # noqa: BLE001 - another cffi or wgpu-py: keep cffi's own way
        return False
    def simple(text: str):
        """``(model, quals)`` of a simple type string, or None to let cffi parse it."""
        text = text.strip()
        call = re.fullmatch(r"(\w+)\s*\(([^()]*)\)", text)
        if call:  # a callback signature
            result = simple(call.group(1))
            args = [simple(arg) for arg in call.group(2).split(",")] if call.group(2).strip() else []
            if result is None or any(arg is None for arg in args):
                return None
            args = [parser._as_func_arg(*arg) for arg in args]
            if args == [model.void_type]:
                args = []
            return model.RawFunctionType(tuple(args), result[0], False, None), 0
        array = re.fullmatch(r"(.+?)\s*\[\s*(\d*)\s*\]", text)
        if array:
            item = simple(array.group(1))
            return None if item is None else (model.ArrayType(item[0], int(array.group(2)) if array.group(2)
                                                              else None), 0)
        if text.endswith("*"):
            item = simple(text[:-1])
            return None if item is None else (model.PointerType(*item), 0)
        const = re.fullmatch(r"(?:const\s+(\w+)|(\w+)\s+const)", text)
        if const:
            item = simple(const.group(1) or const.group(2))
            return None if item is None else (item[0], item[1] | model.Q_CONST)
        if text == "void":
            return model.void_type, 0
        found = declarations.get("typedef " + text)
        if found is not None:
            return found
        if text in model.PrimitiveType.ALL_PRIMITIVE_TYPES:
            return model.PrimitiveType(text), 0
        return None

    def parse_type_and_quals(cdecl):
        found = simple(cdecl) if isinstance(cdecl, str) else None
        return slow(cdecl) if found is None else found

    parser.parse_type_and_quals = parse_type_and_quals
    _fast_types = True
    return True


def prepare_in_background() -> None:
    """Start creating the device now, in a daemon thread, so that it overlaps decoding, analysis
    and frame checks; :func:`get_device` then waits for it (or creates it, if that failed)."""
    global _warming
    if _device is not None or _warming is not None:
        return

    def warm():
        try:
            get_device()
        except BaseException:  # noqa: BLE001 - get_device in the caller raises it again, properly
            pass

    _warming = threading.Thread(target=warm, name="gpurender: device warm-up", daemon=True)
    _warming.start()


def _create_device():
    """The adapter and its device, with the limits gpurender asks for."""
    fast_cffi_types()
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
    # Blending into float32 targets: the motion-blur accumulator keeps full precision where the
    # adapter allows it (else half floats).
    features = [f for f in ("float32-blendable",) if f in adapter.features]
    try:
        device = adapter.request_device_sync(required_limits=limits, required_features=features)
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
