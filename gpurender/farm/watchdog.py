"""Tears down a Ray cluster that a gpurender driver started, when the driver dies without doing so.

A driver that starts Ray itself (:class:`gpurender.farm.rayfarm.RayExecutor` without a cluster
address) shuts it down when it finishes, fails or is interrupted. Killed outright (SIGKILL, the
out-of-memory killer), it cannot: Ray's GCS and raylet die with it, but the dashboard and
runtime-env agents live on, and so does the folder the driver's code was staged in. So the driver
starts this watchdog beside the cluster, in a session of its own (a Ctrl-C or hang-up aimed at the
driver's terminal leaves it alone). It watches the driver, remembering every Ray process below it
(the driver's descendants whose command line is Ray's, and all of theirs), and when the driver is
gone (this process is re-parented) it stops those processes (SIGTERM, then SIGKILL after a grace
period) and removes the staging folder. A driver that closes its cluster itself sends ``stop``
first and the watchdog leaves quietly.

Only processes the driver started are touched: a process is recognised by its pid and its start
time, so a recycled pid is never killed. This file imports nothing outside the standard library and
runs as a script (``python -I watchdog.py DRIVER_PID [STAGING]``); it needs Linux's ``/proc``.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import time

POLL_SECONDS = 0.25  # how often the driver's process tree is looked at
GRACE_SECONDS = 3.0  # how long Ray's processes get to exit on SIGTERM before SIGKILL
STOP = b"stop"


def process_table() -> dict[int, tuple[int, int, str]]:
    """Every process: ``{pid: (parent pid, start time in clock ticks, state letter)}``."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read().decode("ascii", "replace")
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2:].split()  # the command name may hold spaces and parentheses
        try:
            table[int(name)] = (int(rest[1]), int(rest[19]), rest[0])
        except (IndexError, ValueError):
            continue
    return table


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def is_ray(command: str) -> bool:
    """Whether a command line is one of Ray's processes (its binaries, scripts, workers and agents)."""
    return "ray::" in command or "/ray/" in command


def ray_processes(driver: int, table=None) -> set[tuple[int, int]]:
    """``(pid, start time)`` of the Ray processes below ``driver`` and every process below those."""
    table = process_table() if table is None else table
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    me = os.getpid()
    found = set()
    stack = [(pid, False) for pid in children.get(driver, [])]
    while stack:
        pid, inside = stack.pop()
        if pid == me:
            continue
        inside = inside or is_ray(command_line(pid))
        if inside:
            found.add((pid, table[pid][1]))
        stack.extend((child, inside) for child in children.get(pid, []))
    return found


def _living(known: set[tuple[int, int]], table) -> set[tuple[int, int]]:
    """Those of ``known`` still running (same pid and start time, not a zombie), with their descendants."""
    alive = {(pid, start) for pid, start in known
             if pid in table and table[pid][1] == start and table[pid][2] not in "ZX"}
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    stack = [pid for pid, _ in alive]
    while stack:
        for child in children.get(stack.pop(), []):
            entry = (child, table[child][1])
            if entry not in alive and table[child][2] not in "ZX":
                alive.add(entry)
                stack.append(child)
    return alive


def stop_processes(known: set[tuple[int, int]], grace: float = GRACE_SECONDS) -> None:
    """SIGTERM every living process of ``known`` (and its descendants), SIGKILL what is left after ``grace``."""
    sig = signal.SIGTERM
    deadline = time.monotonic() + grace
    while True:
        alive = _living(known, process_table())
        if not alive:
            return
        known = known | alive
        for pid, _ in alive:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        if sig == signal.SIGKILL and time.monotonic() > deadline + 2.0:
            return  # unkillable (uninterruptible sleep): nothing more to do
        time.sleep(0.1)
        if time.monotonic() > deadline:
            sig = signal.SIGKILL


def watch(driver: int, staging: str, fd: int, poll: float = POLL_SECONDS, grace: float = GRACE_SECONDS) -> int:
    """Watch ``driver`` until it says ``stop`` on ``fd`` (return 0) or dies (clean up, return 1)."""
    known: set[tuple[int, int]] = set()
    pipe_open = True
    while True:
        if pipe_open:
            ready, _, _ = select.select([fd], [], [], poll)
            if ready:
                data = os.read(fd, 64)
                if STOP in data:
                    return 0
                if not data:
                    pipe_open = False  # closed without a word: the driver's death tells from now on
        else:
            time.sleep(poll)
        if os.getppid() != driver:
            break
        table = process_table()
        known = _living(known, table) | ray_processes(driver, table)
    stop_processes(known, grace)
    if staging:
        shutil.rmtree(staging, ignore_errors=True)
    return 1


def start(staging=None):
    """Start a watchdog for this process and its Ray cluster; the :class:`subprocess.Popen`, or None off Linux."""
    if not os.path.isdir("/proc/self"):
        return None
    return subprocess.Popen(
        [sys.executable, "-I", os.path.abspath(__file__), str(os.getpid()), str(staging or "")],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True,
    )


def stop(process) -> None:
    """Tell a watchdog from :func:`start` that the driver closed its cluster itself; never raises."""
    if process is None:
        return
    try:
        process.stdin.write(STOP + b"\n")
        process.stdin.close()
    except OSError:
        pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main(argv) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    driver = int(argv[1])
    staging = argv[2] if len(argv) > 2 else ""
    return watch(driver, staging, sys.stdin.fileno())


if __name__ == "__main__":
    sys.exit(main(sys.argv))
