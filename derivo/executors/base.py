"""The executor interface: something that runs ``render(task)`` somewhere and hands back a future.

The pipeline depends on nothing else, so the local :class:`WorkerPool` and a
cluster executor are interchangeable. A future that fails carries a
:class:`~derivo.errors.DerivoError`; ``attempts`` counts how many tries it took.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, InvalidStateError
from typing import Any, Protocol

from derivo.tasks import RenderResult, RenderTask


class RenderFuture(Future[RenderResult]):
    """A render's future, with the number of attempts it took."""

    attempts: int = 0


class Executor(Protocol):
    def submit(self, task: RenderTask, *, block: bool = True) -> RenderFuture:
        """Queue ``task``; with ``block=False`` a full queue raises QueueFull at once."""
        ...

    def close(self, *, cancel: bool = False) -> None:
        """Finish queued work (or cancel it) and release the workers."""
        ...

    def start(self) -> None:
        """Get workers ready before the first submit; calling it again does nothing."""
        ...


def available_cores() -> int:
    """Cores this process may run on (honours CPU affinity, e.g. in containers)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def workers_for(*, workers: int | None = None, cpu: float | None = None) -> int:
    """Worker count from an explicit number or a CPU budget (fraction of the cores)."""
    if workers is not None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        return workers
    fraction = 1.0 if cpu is None else cpu
    if not 0 < fraction <= 1:
        raise ValueError(f"cpu must be a fraction in (0, 1], got {fraction:g}")
    return max(1, round(fraction * available_cores()))


def settle(future: RenderFuture, ok: bool, value: Any) -> None:
    """Complete a render's future with its result or error, unless its owner cancelled it."""
    try:
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
    except InvalidStateError:
        pass  # cancelled by its owner meanwhile: nobody waits for this result
