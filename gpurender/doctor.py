"""``gpurender doctor``: what this machine offers each stage and which fallbacks are in force.

Everything is probed, never assumed: the wgpu adapter is requested, CuPy is asked for a device,
and each encoder is opened on a tiny frame.
"""

from __future__ import annotations

import platform


def report() -> str:
    lines = [f"gpurender {__import__('gpurender').__version__} on {platform.platform()}, "
             f"Python {platform.python_version()}"]
    fallbacks = []
    try:
        from .render.device import adapter_info

        info = adapter_info()
        lines.append(f"wgpu adapter: {info.name} | backend {info.backend} | "
                     f"{'CPU (software)' if info.is_software else 'GPU'} | max texture {info.max_texture_size}")
        if info.is_software:
            fallbacks.append("rendering on the software adapter (no GPU adapter found)")
    except Exception as exc:
        lines.append(f"wgpu adapter: none ({exc})")
        fallbacks.append("no wgpu adapter: rendering is unavailable")
    try:
        from .audio import cupy_status

        ok, why = cupy_status()
    except Exception as exc:  # a broken CuPy install should not break the report
        ok, why = False, str(exc)
    lines.append(f"CUDA / CuPy: {'usable' if ok else 'not usable'} ({why})")
    if not ok:
        fallbacks.append("audio analysis on NumPy (no CUDA device through CuPy)")
    from .encode import probe_encoders

    lines.append("video encoders:")
    nvenc_ok = False
    for name, opens, reason in probe_encoders():
        lines.append(f"  {name:<12} {'opens' if opens else 'unavailable'}" + ("" if opens else f" ({reason})"))
        nvenc_ok |= opens and "nvenc" in name
    if not nvenc_ok:
        fallbacks.append("CPU video encoders (no NVENC encoder opens)")
    lines.append("fallbacks in force:" + ("" if fallbacks else " none"))
    lines += [f"  - {f}" for f in fallbacks]
    return "\n".join(lines)
