"""Runs a job's chunks one after another in this process, on this process's GPU device.

The local executor is the farm without a cluster: the same chunk tasks, segments and manifest as
on Ray, rendered in order by one renderer that carries the simulation from one chunk straight
into the next. A chunk that raises is tried again up to ``retries`` times; Ctrl-C is never retried.
"""

from __future__ import annotations

from dataclasses import replace

from .worker import RendererCache, run_chunk


class LocalExecutor:
    """Renders chunk tasks sequentially in-process."""

    name = "local"

    def __init__(self, retries: int = 2):
        self.retries = max(0, int(retries))
        self.recipe = None
        self.cache = RendererCache()

    def describe(self) -> str:
        return "this process"

    def prepare(self, job, recipe) -> None:
        self.recipe = recipe

    def run(self, tasks, events) -> None:
        """Render every task, reporting through ``events`` (see :mod:`gpurender.farm.driver`)."""
        for task in tasks:
            attempt = 0
            while True:
                attempt += 1
                events.started(task.index)
                try:
                    result = run_chunk(task, self.recipe, cache=self.cache,
                                       on_frame=lambda done, i=task.index: events.frames(i, done))
                except Exception as exc:  # noqa: BLE001 - a failed chunk must not sink the others
                    if attempt <= self.retries:
                        events.retrying(task.index, exc, attempt)
                        continue
                    events.failed(task.index, exc, attempt)
                    break
                events.done(replace(result, attempts=attempt))
                break

    def close(self) -> None:
        self.cache.clear()
        self.recipe = None
