"""Loads WGSL sources from ``shaders/`` once, resolving ``//#include "name.wgsl"`` lines.

The include directive is a WGSL comment, so every file stays valid WGSL on its own. A missing
file fails loudly with the name of the file that asked for it. ``//#include "struct Name"`` puts
in the declaration of the parameter struct ``Name`` from :mod:`gpurender.render.structs` (and of
the structs it uses), where each struct is declared once for both the shader and the Python code
that fills it; an undeclared name fails as loudly. Sources come from the installed
package (``gpurender/shaders`` inside the wheel) or, in a source checkout, from ``shaders/`` at the
repository root.

It also makes the buffers that hold a shader's parameters (:func:`params_buffer`): by gpurender's
convention a shader reads them as ``var<storage, read>``, never ``var<uniform>`` (see there why).
"""

from __future__ import annotations

import functools
import re
import weakref
from importlib import resources
from pathlib import Path

import numpy as np

_INCLUDE = re.compile(r'^\s*//#include\s+"([^"]+)"\s*$', re.MULTILINE)


def _shader_root():
    packaged = resources.files("gpurender").joinpath("shaders")
    if packaged.is_dir():
        return packaged
    source_tree = Path(__file__).resolve().parents[2] / "shaders"
    if source_tree.is_dir():
        return source_tree
    raise FileNotFoundError(
        "gpurender's WGSL shaders are missing: neither the installed package nor the source tree "
        "has a shaders/ folder; reinstall gpurender"
    )


@functools.lru_cache(maxsize=None)
def _read(name: str) -> str:
    path = _shader_root().joinpath(name)
    if not path.is_file():
        raise FileNotFoundError(f"WGSL shader {name!r} not found in {_shader_root()}")
    return path.read_text(encoding="utf-8")


@functools.lru_cache(maxsize=None)
def load_wgsl(name: str) -> str:
    """The WGSL text of ``name`` with its includes expanded (each file at most once)."""
    seen: set[str] = set()

    def expand(current: str) -> str:
        if current in seen:
            return ""
        seen.add(current)

        def repl(match: re.Match) -> str:
            included = match.group(1)
            if included.startswith("struct "):
                return struct_text(current, included[len("struct "):].strip())
            try:
                return expand(included)
            except FileNotFoundError as exc:
                raise FileNotFoundError(f"{current}: cannot include {included!r}: {exc}") from None

        return _INCLUDE.sub(repl, _read(current))

    def struct_text(current: str, struct_name: str) -> str:
        from . import structs

        declared = structs.STRUCTS.get(struct_name)
        if declared is None:
            raise ValueError(f"{current}: cannot include \"struct {struct_name}\": no such struct in "
                             f"gpurender.render.structs; declared: {', '.join(structs.STRUCTS)}")
        text = []
        for s in declared.dependencies() + [declared]:
            if f"struct {s.name}" not in seen:
                seen.add(f"struct {s.name}")
                text.append(s.wgsl())
        return "".join(text)

    return expand(name)


def params_buffer(device, size: int, label: str = "", data=None):
    """A buffer for a shader's parameters, which the shader declares ``var<storage, read>``.

    Not ``var<uniform>``: lavapipe (the software adapter; seen with Mesa 22.3 of Debian 12)
    specialises a shader whose branches or loop bounds depend only on uniform-buffer values by
    compiling a new variant every time its pipeline is bound, and never frees it: 0.3-1 MB per draw,
    so the waveform and text layers grew by that much every frame. It does not look into storage
    buffers. A struct has the same layout in both address spaces, so only the declaration changes.
    ``data`` (bytes or an array) fills the buffer once instead (``size`` is then ignored).
    """
    import wgpu

    usage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_DST
    if data is not None:
        return upload_buffer(device, data, usage, label)
    return device.create_buffer(label=label, size=size, usage=usage)


# Bytes written to a buffer per queue write by upload_buffer.
UPLOAD_CHUNK = 1 << 20


def upload_buffer(device, data, usage, label: str = ""):
    """A new buffer (``usage``, plus COPY_DST) holding ``data`` (bytes or an array).

    Not ``create_buffer_with_data``: wgpu maps a buffer that is not mappable through a staging
    buffer of the whole size, which it kept for as long as the device lived (measured: a 17 MB
    table of a 10-minute track held 34 MB to the end of the render). Written here a chunk at a
    time, each submitted, so at most a chunk is staged at once.
    """
    import wgpu

    view = memoryview(np.ascontiguousarray(data) if isinstance(data, np.ndarray) else data).cast("B")
    size = max(4, -(-view.nbytes // 4) * 4)
    buf = device.create_buffer(label=label, size=size, usage=usage | wgpu.BufferUsage.COPY_DST)
    for start in range(0, view.nbytes, UPLOAD_CHUNK):
        chunk = view[start:start + UPLOAD_CHUNK]
        if len(chunk) % 4:  # queue writes come in whole words
            chunk = bytes(chunk) + bytes(4 - len(chunk) % 4)
        device.queue.write_buffer(buf, start, chunk)
        if view.nbytes > UPLOAD_CHUNK:
            device.queue.submit([])
    return buf


def per_device(factory):
    """Decorator: ``factory(device)`` made once per device and kept while the device lives (the
    pipelines, layouts and modules a stage shares between its renderers)."""
    made: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()

    @functools.wraps(factory)
    def get(device):
        value = made.get(device)
        if value is None:
            value = made[device] = factory(device)
        return value

    return get
