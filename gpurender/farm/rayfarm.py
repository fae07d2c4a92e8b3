"""Sends a job's chunks to a Ray cluster as tasks, one chunk per task.

Each task asks for one GPU when the cluster has GPUs (one CPU otherwise), runs
:func:`gpurender.farm.worker.ray_entry`, and writes its segment into the job directory, which
must be a path the driver and every worker share. Ray retries a task whose worker died, or whose
chunk raised, up to ``retries`` times. When this executor starts Ray (or connects to a cluster)
and the driver's gpurender is not an installed package (a source checkout), the driver's code
travels with the job (a Ray ``py_modules`` runtime environment, see :func:`runtime_env`), so
workers need nothing set up by hand. A cluster this executor starts itself is watched by
:mod:`.watchdog`, which tears it down (agents included) and removes the staging folder if the
driver is killed; staging folders left by drivers that died before that (``gpurender-ray-<pid>-*``
in the temporary folder, whose owner process is gone) are removed when the next one starts. Ray is
imported here only, and only when this executor is used.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from ..errors import GpurenderError, one_line
from . import watchdog

INSTALL_HINT = "pip install 'gpurender[farm]'"
#: Staging folders are named ``<prefix><owner pid>-<random>`` in the temporary folder.
STAGING_PREFIX = "gpurender-ray-"


def import_ray():
    """The ``ray`` module, or a one-line :class:`GpurenderError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise GpurenderError(f"--farm ray needs Ray, which is not installed; {INSTALL_HINT}") from None
    return ray


def _installed() -> bool:
    """Whether gpurender is an installed distribution (workers on this machine can import it)."""
    try:
        from importlib.metadata import PackageNotFoundError, distribution
    except ImportError:  # pragma: no cover - Python < 3.8
        return False
    try:
        distribution("gpurender")
    except PackageNotFoundError:
        return False
    return True


def stage_package(folder: Path) -> Path:
    """Copy this gpurender, with its WGSL shaders inside as in the wheel, to ``folder/gpurender``."""
    package = Path(__file__).resolve().parents[1]
    target = folder / "gpurender"
    shutil.copytree(package, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shaders = package.parent / "shaders"
    if not (target / "shaders").is_dir() and shaders.is_dir():
        shutil.copytree(shaders, target / "shaders", ignore=shutil.ignore_patterns("__pycache__"))
    return target


def runtime_env(folder=None, ship: bool | None = None) -> dict:
    """A Ray runtime environment that makes this gpurender importable on every worker.

    Empty when gpurender is an installed package (``ship`` None) or ``ship`` is False; otherwise
    the package (with its shaders) is staged in ``folder`` (a new temporary folder by default)
    and named in ``py_modules``. Pass it to ``ray.init(runtime_env=...)`` when starting Ray
    yourself from a source checkout.
    """
    if ship is None:
        ship = not _installed()
    if not ship:
        return {}
    folder = Path(folder) if folder is not None else new_staging()
    return {"py_modules": [str(stage_package(folder))]}


def new_staging() -> Path:
    """A fresh staging folder in the temporary folder, named for this process (see :func:`remove_stale_staging`)."""
    return Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process: alive
    return True


def remove_stale_staging(root=None) -> list[str]:
    """Delete the staging folders in ``root`` (the temporary folder) whose owner process is gone.

    Only this user's folders named ``gpurender-ray-<pid>-*`` are looked at, and one is removed
    only when no process has that pid (a live or recycled pid keeps it). Returns the names removed.
    """
    root = Path(root) if root is not None else Path(tempfile.gettempdir())
    removed = []
    try:
        entries = list(root.glob(STAGING_PREFIX + "*"))
    except OSError:
        return removed
    for entry in entries:
        match = re.fullmatch(re.escape(STAGING_PREFIX) + r"(\d+)-.+", entry.name)
        if not match or _alive(int(match.group(1))):
            continue
        try:
            st = entry.lstat()
        except OSError:
            continue
        if not entry.is_dir() or entry.is_symlink() or st.st_uid != os.getuid():
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry.name)
    return removed


def _ray_reason(exc: BaseException) -> str:
    """A Ray failure as one line: the worker's own exception, and what to do when a node lacks gpurender."""
    cause = getattr(exc, "cause", None)  # RayTaskError carries the worker's own exception
    if isinstance(cause, BaseException):
        exc = cause
    text = one_line(exc, named=True)
    if "No module named 'gpurender'" in text:
        text += ("; install gpurender on every node, or start Ray with "
                 "runtime_env=gpurender.farm.rayfarm.runtime_env()")
    return text


class RayExecutor:
    """Renders chunk tasks on a Ray cluster (a local one when no address is given)."""

    name = "ray"

    def __init__(self, address: str | None = None, retries: int = 2, entry=None, ship_code: bool | None = None,
                 poll_seconds: float = 0.5, task_options: dict | None = None):
        """``entry`` replaces :func:`~gpurender.farm.worker.ray_entry` as the task's function;
        ``task_options`` override the task's Ray options (e.g. ``{"num_gpus": 0.5}`` runs two chunks
        per GPU); ``ship_code`` forces (or forbids) sending this gpurender to the workers when
        this executor starts Ray."""
        self.address = address
        self.retries = max(0, int(retries))
        self.task_options = dict(task_options or {})
        self.entry = entry
        self.ship_code = ship_code
        self.poll_seconds = poll_seconds
        self._ray = None
        self._started_ray = False
        self._staging = None
        self._watchdog = None
        self._recipe_ref = None
        self._options = {}
        self._job = None

    def describe(self) -> str:
        ray = self._ray
        if ray is None:
            return "ray"
        res = ray.cluster_resources()
        nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        gpus = int(res.get("GPU", 0))
        cpus = int(res.get("CPU", 0))
        if "num_gpus" in self._options or "num_cpus" in self._options:
            key = "num_gpus" if "num_gpus" in self._options else "num_cpus"
            per = f"{self._options[key]:g} {'GPU' if key == 'num_gpus' else 'CPU'} per chunk"
        else:
            per = "1 GPU per chunk" if gpus else "1 CPU per chunk"
        return f"ray ({nodes} node{'s' if nodes != 1 else ''}, {cpus} CPUs, {gpus} GPUs; {per})"

    def connect(self) -> None:
        """Join the cluster at ``address`` (or start a local one); nothing happens if Ray is already up."""
        ray = import_ray()
        self._ray = ray
        if ray.is_initialized():
            return  # whoever started Ray chose its runtime environment
        remove_stale_staging()
        self._staging = new_staging()
        # Started before Ray, so that even a driver killed inside ray.init leaves nothing behind; it
        # only ever stops Ray processes this driver started (none when joining a running cluster).
        self._watchdog = watchdog.start(self._staging)
        try:
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING, configure_logging=True,
                     runtime_env=runtime_env(self._staging, self.ship_code) or None)
        except Exception as exc:
            self.close()
            where = f"at {self.address!r}" if self.address else "on this machine"
            raise GpurenderError(f"could not start or reach a Ray cluster {where}: {_ray_reason(exc)}") from None
        self._started_ray = True

    def prepare(self, job, recipe) -> None:
        from .worker import ray_entry

        self.connect()
        ray = self._ray
        self._job = job
        # Workers in other processes get a recipe made for them (a scene's features, say, are
        # read from the job directory rather than shipped with every task).
        worker_recipe = recipe.for_workers(job)
        options = {"max_retries": self.retries, "retry_exceptions": True}
        if ray.cluster_resources().get("GPU", 0) >= 1:
            options["num_gpus"] = 1
        else:
            options["num_cpus"] = 1
        options.update(self.task_options)
        cpus = options.get("num_cpus")
        if "num_gpus" not in options and "runtime_env" not in options and cpus and cpus >= 1:
            # Without a GPU the software adapter renders on as many threads as the node has cores;
            # several chunks on one node would then fight over every core (measured: two workers
            # on 2 cores ran 2x slower than one). Each task keeps to the CPUs Ray gave it. (Ray
            # merges this with the job's runtime environment, shipped code included.)
            options["runtime_env"] = {"env_vars": {"LP_NUM_THREADS": str(int(cpus))}}
        self._options = options
        self._remote = ray.remote(self.entry or ray_entry).options(**options)
        self._recipe_ref = ray.put(worker_recipe)

    def run(self, tasks, events) -> None:
        """Submit every task, then report results as they arrive (see :mod:`gpurender.farm.driver`)."""
        ray = self._ray
        refs = {}
        for task in tasks:
            refs[self._remote.remote(task, self._recipe_ref)] = task
            events.started(task.index)
        try:
            while refs:
                ready, _ = ray.wait(list(refs), num_returns=1, timeout=self.poll_seconds)
                for ref in ready:
                    task = refs.pop(ref)
                    try:
                        result = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - retries are spent: the chunk failed
                        events.failed(task.index, GpurenderError(_ray_reason(exc)), None)
                    else:
                        events.done(result)
                for index, done in self._job.in_flight().items():
                    events.frames(index, done)
        except KeyboardInterrupt:
            events.interrupted()  # the manifest is consistent on disk before Ray is touched again
            self._cancel(refs, events)
            raise

    def _cancel(self, refs: dict, events) -> None:
        """Stop the tasks in flight; keep the chunks that finished before the stop reached them.

        A plain cancel raises KeyboardInterrupt inside the task, so the worker aborts its encoder
        and deletes its partial segment itself; only tasks that ignore it are killed.
        """
        ray = self._ray
        pending = list(refs)
        for ref in pending:
            try:
                ray.cancel(ref, force=False)
            except Exception:  # noqa: BLE001 - already finished or gone
                pass
        deadline = time.monotonic() + 10.0
        forced = False
        while pending:
            if not forced and time.monotonic() > deadline - 5.0:
                forced = True
                for ref in pending:
                    try:
                        ray.cancel(ref, force=True)
                    except Exception:  # noqa: BLE001
                        pass
            if time.monotonic() > deadline:
                break
            try:
                ready, pending = ray.wait(pending, num_returns=len(pending), timeout=0.5)
            except Exception:  # noqa: BLE001
                break
            for ref in ready:
                try:
                    result = ray.get(ref, timeout=0)
                except Exception:  # noqa: BLE001 - cancelled: nothing to keep
                    continue
                events.done(result)

    def close(self) -> None:
        self._recipe_ref = None
        try:
            if self._started_ray and self._ray is not None:
                self._started_ray = False
                self._ray.shutdown()
        finally:
            if self._staging is not None:
                shutil.rmtree(self._staging, ignore_errors=True)
                self._staging = None
            if self._watchdog is not None:
                watchdog.stop(self._watchdog)
                self._watchdog = None
