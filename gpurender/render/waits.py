"""Every wait on the GPU has an end: deadline waits that notice interrupts wgpu's callbacks swallowed.

wgpu-py delivers buffer maps and device requests through cffi callbacks. When Ctrl-C arrives
while such a callback runs on the main thread (more likely when the host application installs its
own SIGINT handler: IPython, Streamlit, a GUI), the KeyboardInterrupt is raised inside the
callback, cffi reports it as "unraisable" and drops it, and the promise the callback was to
settle never settles: a plain ``sync_wait()`` then waits forever. So waits here:

- poll the promise's event in short slices, so the waiting thread stays interruptible;
- watch ``sys.unraisablehook`` for a KeyboardInterrupt that a callback swallowed, and raise it
  again at the next wait (the interrupt is owed to the program, whenever the callback ran);
- give up after a deadline (``GPURENDER_GPU_TIMEOUT`` seconds, default 60) with a RenderError
  that names what was waited for, so a lost device or a stuck driver is an error, not a hang.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from ..errors import RenderError

#: Seconds between checks while waiting (the wait itself is an Event wait, not a sleep).
SLICE_S = 0.05
DEFAULT_TIMEOUT_S = 60.0

_hook_lock = threading.Lock()
_hook_installed = False
_swallowed = 0  # KeyboardInterrupts that reached sys.unraisablehook since the hook went in
_owed = False  # one of them has not been raised again yet


def env_seconds(name: str, default: float) -> float:
    """A positive number of seconds from environment variable ``name`` (``default`` when unset);
    RenderError naming the variable for anything else."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise RenderError(f"{name}={text!r} is not a positive number of seconds; set it to e.g. {default:g} "
                          "or unset it")
    return value


def timeout_s() -> float:
    """The deadline for one GPU wait, from ``GPURENDER_GPU_TIMEOUT`` (seconds)."""
    return env_seconds("GPURENDER_GPU_TIMEOUT", DEFAULT_TIMEOUT_S)


def install_interrupt_watch() -> None:
    """Chain a ``sys.unraisablehook`` that counts swallowed KeyboardInterrupts (once per process)."""
    global _hook_installed
    with _hook_lock:
        if _hook_installed:
            return
        previous = sys.unraisablehook

        def hook(unraisable):
            global _swallowed, _owed
            if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
                _swallowed += 1
                _owed = True
                return  # it is re-raised where the wait is; no traceback from cffi
            previous(unraisable)

        sys.unraisablehook = hook
        _hook_installed = True


def swallowed_interrupts() -> int:
    """How many KeyboardInterrupts callbacks have swallowed so far (a counter to compare)."""
    return _swallowed


def forget_owed_interrupt() -> None:
    """Drop an interrupt owed to the program (after it was handled some other way)."""
    global _owed
    _owed = False


def _raise_owed_interrupt() -> None:
    global _owed
    if _owed:
        _owed = False
        raise KeyboardInterrupt


def settled(promise) -> bool:
    """True when the promise has its result (fulfilled or rejected), without blocking.

    Needs the private ``_state`` (wgpu-py has no public getter); without it: "not yet".
    """
    state = getattr(promise, "_state", None)
    return isinstance(state, str) and state != "pending"


def _event_of(promise):
    event = getattr(promise, "_thread_event", None)
    return event if isinstance(event, threading.Event) else None


def wait_promise(promise, what: str, timeout: float | None = None):
    """``promise.sync_wait()`` with a deadline and interrupts honoured; returns its result.

    Raises KeyboardInterrupt if one was swallowed by a callback while waiting, and RenderError
    naming ``what`` when the deadline passes.
    """
    install_interrupt_watch()
    event = _event_of(promise)
    if event is None:  # a wgpu-py without the event we poll: its own wait, without a deadline
        return promise.sync_wait()
    limit = timeout_s() if timeout is None else timeout
    deadline = time.monotonic() + limit
    while not (event.is_set() or settled(promise)):
        _raise_owed_interrupt()
        if time.monotonic() >= deadline:
            raise RenderError(f"{what} did not finish within {limit:g} s; the GPU device may be lost or "
                              "its driver stuck - rerun, or raise GPURENDER_GPU_TIMEOUT for very slow frames")
        event.wait(SLICE_S)
    _raise_owed_interrupt()
    return promise.sync_wait()


def run_with_deadline(fn, what: str, timeout: float | None = None):
    """Run ``fn()`` in a helper thread and wait for it, interruptibly and with a deadline.

    For blocking calls into the driver (device creation) that cannot be given a timeout
    themselves: Ctrl-C in the waiting thread is a plain KeyboardInterrupt, a deadline a
    RenderError naming ``what``; the helper thread is a daemon and is left behind in both cases.
    """
    install_interrupt_watch()
    limit = timeout_s() if timeout is None else timeout
    done = threading.Event()
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the waiting thread
            box["error"] = exc
        finally:
            done.set()

    thread = threading.Thread(target=target, name=f"gpurender: {what}", daemon=True)
    thread.start()
    deadline = time.monotonic() + limit
    while not done.wait(SLICE_S):
        _raise_owed_interrupt()
        if time.monotonic() >= deadline:
            raise RenderError(f"{what} did not finish within {limit:g} s; the GPU driver may be stuck - "
                              "rerun, check 'gpurender doctor', or raise GPURENDER_GPU_TIMEOUT")
    _raise_owed_interrupt()
    if "error" in box:
        raise box["error"]
    return box.get("value")
