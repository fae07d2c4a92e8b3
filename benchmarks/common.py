"""Shared helpers of the benchmark scripts: what machine this is, timing, and writing results.

Benchmarks import this module to describe the machine, the wgpu adapter and the encoders in the
same words, to time work with ``time.perf_counter`` medians over repeats, to wait for the GPU queue
to drain, to measure a child process's peak memory and to write their JSON results atomically.
It is not part of the package and is not a benchmark itself.

Usage (from a benchmark script in this folder)::

    from common import describe_machine, describe_adapter, median_rate, write_json
"""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# -- what this machine is ---------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _version(module: str) -> str | None:
    try:
        mod = __import__(module)
    except Exception:
        return None
    return str(getattr(mod, "__version__", "unknown"))


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (a shared machine slows every figure down)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _nvidia_smi() -> list[dict] | None:
    """Name, driver and memory of each NVIDIA GPU, from ``nvidia-smi`` where it exists."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    gpus = []
    for line in out.stdout.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3:
            gpus.append({"name": parts[0], "driver": parts[1], "memory": parts[2]})
    return gpus or None


def describe_machine() -> dict:
    """Platform, CPU model and cores, memory, and the versions of the libraries that matter."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    info = {
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "memory_gb": _memory_gb(),
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in ("numpy", "wgpu", "av", "scipy", "cupy")},
    }
    gpu = _nvidia_smi()
    if gpu:
        info["gpu"] = gpu
    try:
        import av

        info["ffmpeg"] = {k: ".".join(map(str, v)) for k, v in av.library_versions.items()}
    except Exception:
        pass
    return info


def describe_adapter() -> dict:
    """The wgpu adapter the package renders on (``gpurender.render.device.adapter_info``)."""
    from gpurender.render.device import adapter_info

    info = adapter_info()
    return {
        "name": info.name,
        "backend": info.backend,
        "type": info.adapter_type,
        "description": info.description,
        "software": info.is_software,
        "summary": info.summary(),
        "max_texture_size": info.max_texture_size,
    }


def describe_encoder(choice) -> dict:
    """An :class:`~gpurender.encode.EncoderChoice` as JSON: name, options, pixel format, notice."""
    return {
        "name": choice.name,
        "codec": choice.codec,
        "hardware": choice.hardware,
        "pix_fmt": choice.pix_fmt,
        "options": dict(choice.options),
        "notice": choice.notice,
    }


def machine_slug(adapter_name: str, software: bool) -> str:
    """A short file-name part: ``lavapipe-2cpu``, ``nvidia-h100-16cpu`` ..."""
    words = re.sub(r"\(.*?\)", " ", adapter_name).lower().split()
    if software:
        keep = [w for w in words if w in ("llvmpipe", "lavapipe", "swiftshader")][:1] or words[:1]
    elif words and words[0] in ("nvidia", "amd", "intel", "apple"):
        keep = words[:1] + [w for w in words[1:] if any(c.isdigit() for c in w)][:1]
    else:
        keep = words[:1]
    parts = [re.sub(r"[^a-z0-9]+", "", w) for w in keep]
    return "-".join(p for p in parts if p) + f"-{os.cpu_count()}cpu"


def command_line() -> str:
    """The command that produced these results, as one could type it again."""
    return shlex.join(["python", *sys.argv])


# -- timing -------------------------------------------------------------------------------------------


def rate(frames: int, seconds: float, cpu_seconds: float | None = None) -> dict:
    """One timed run: frames, seconds, frames per second, milliseconds per frame.

    ``cpu_seconds`` is the CPU time every thread of this process used meanwhile (software adapter
    threads and encoder threads included); it adds CPU milliseconds per frame and the cores kept busy.
    """
    seconds = max(seconds, 1e-9)
    out = {"frames": int(frames), "seconds": round(seconds, 4), "fps": round(frames / seconds, 2),
           "ms_per_frame": round(1000.0 * seconds / max(frames, 1), 3)}
    if cpu_seconds is not None:
        out["cpu_ms_per_frame"] = round(1000.0 * cpu_seconds / max(frames, 1), 3)
        out["cores_busy"] = round(cpu_seconds / seconds, 2)
    return out


def median_rate(runs: list[dict]) -> dict:
    """The run with the median time (lower median for an even count), keeping every run's fps.

    Medians rather than minima: the machine may be shared, and the median says what a user would
    typically see while staying robust to one disturbed run.
    """
    ordered = sorted(runs, key=lambda r: r["seconds"])
    mid = ordered[(len(ordered) - 1) // 2]
    out = dict(mid)
    out["repeats_fps"] = [r["fps"] for r in runs]
    out["best_fps"] = max(r["fps"] for r in runs)  # interference only slows a run: the best is the least disturbed
    if len(runs) > 1:
        out["spread"] = round((ordered[-1]["seconds"] - ordered[0]["seconds"]) / mid["seconds"], 3)
    return out


def timed(fn: Callable[[], int]) -> dict:
    """Run ``fn`` (which returns how many frames it did) once and time it."""
    t0, c0 = time.perf_counter(), time.process_time()
    frames = fn()
    return rate(frames, time.perf_counter() - t0, time.process_time() - c0)


def repeat_median(fn: Callable[[], int], repeats: int) -> dict:
    """``repeats`` timed runs of ``fn``; the median one (see :func:`median_rate`)."""
    return median_rate([timed(fn) for _ in range(max(1, repeats))])


def frames_for(seconds_per_frame: float, budget_s: float, least: int, most: int) -> int:
    """How many frames fill ``budget_s`` at ``seconds_per_frame``, within ``[least, most]``."""
    if seconds_per_frame <= 0:
        return most
    return int(max(least, min(most, round(budget_s / seconds_per_frame))))


def ratio(a: float | None, b: float | None, digits: int = 3) -> float | None:
    if not a or not b:
        return None
    return round(a / b, digits)


_FENCES: dict = {}


def wait_idle(device) -> None:
    """Block until the GPU has finished everything submitted so far.

    ``queue.on_submitted_work_done_sync()`` fails in wgpu-py 0.32 (a callback signature mismatch),
    so this submits a 4-byte copy and maps its target: a queue completes in order, so once that copy
    is done every earlier submission is too.
    """
    import wgpu

    if id(device) not in _FENCES:
        _FENCES[id(device)] = (
            device,
            device.create_buffer(size=4, usage=wgpu.BufferUsage.COPY_SRC),
            device.create_buffer(size=4, usage=wgpu.BufferUsage.COPY_DST | wgpu.BufferUsage.MAP_READ),
        )
    _, src, dst = _FENCES[id(device)]
    enc = device.create_command_encoder()
    enc.copy_buffer_to_buffer(src, 0, dst, 0, 4)
    device.queue.submit([enc.finish()])
    dst.map_sync("READ")
    dst.unmap()


# -- memory -------------------------------------------------------------------------------------------


# Reaps one child with os.wait4 and reports its rusage. It runs as a small process of its own because
# Linux carries a process's RSS high-water mark across fork and exec: a child forked straight from a
# benchmark that already holds a gigabyte would report at least that gigabyte as its own peak.
_LAUNCHER = r"""
import json, os, subprocess, sys
report, args = sys.argv[1], sys.argv[2:]
proc = subprocess.Popen(args)
_, status, usage = os.wait4(proc.pid, 0)
proc.returncode = os.waitstatus_to_exitcode(status)
with open(report, "w") as fh:
    json.dump({"returncode": proc.returncode, "ru_maxrss_kb": usage.ru_maxrss}, fh)
"""


def run_for_peak_rss(args: list[str], timeout: float | None = None, env: dict | None = None) -> dict:
    """Run ``args`` as a child process; its exit code, output and peak resident memory in MiB.

    The peak is the child's own ``ru_maxrss`` from ``os.wait4``, taken by a small launcher process
    (see ``_LAUNCHER``) so that this process's size does not leak into it.
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="gpurender-rss-") as tmp:
        report = os.path.join(tmp, "rusage.json")
        try:
            proc = subprocess.run([sys.executable, "-c", _LAUNCHER, report, *args], capture_output=True,
                                  text=True, env=env, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            return {"returncode": None, "stdout": exc.stdout or "", "stderr": f"timed out after {timeout} s",
                    "peak_rss_mb": None}
        try:
            with open(report) as fh:
                got = json.load(fh)
        except (OSError, ValueError):
            got = {"returncode": proc.returncode, "ru_maxrss_kb": None}
    kb = got["ru_maxrss_kb"]
    return {"returncode": got["returncode"], "stdout": proc.stdout, "stderr": proc.stderr[-2000:],
            "peak_rss_mb": None if kb is None else round(kb / 1024.0, 1)}  # ru_maxrss is in KiB on Linux


def proc_status_mb(field: str) -> float | None:
    """A memory field of ``/proc/self/status`` (``VmRSS``, ``VmHWM`` ...) in MiB, or None."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return round(int(line.split()[1]) / 1024.0, 1)
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset this process's ``VmHWM`` to its current RSS (Linux >= 4.0); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


# -- output -------------------------------------------------------------------------------------------


def write_json(path: Path, data: dict) -> Path:
    """Write ``data`` as indented JSON, atomically (a temporary name, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    tmp.replace(path)
    return path


def print_table(headers: list[str], rows: list[list], stream=None) -> None:
    """A plain fixed-width table; numbers right-aligned, ``None`` shown as ``-``."""
    stream = stream or sys.stdout

    def cell(v):
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) if text else len(h) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], (int, float)) or row[i] is None for row in rows) for i in range(len(headers))]
    fmt = lambda vals: "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(vals, widths, numeric))
    stream.write(fmt(headers) + "\n")
    stream.write("  ".join("-" * w for w in widths) + "\n")
    for r in text:
        stream.write(fmt(r) + "\n")
    stream.flush()
