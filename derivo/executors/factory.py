"""One way to build the executor from settings, for the CLI, the service and library users."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from derivo.executors.pool import WorkerPool

if TYPE_CHECKING:
    from derivo.executors.dask import DaskExecutor


def make_executor(
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    cpu: float | None = None,
    queue_size: int | None = None,
    task_timeout: float = 120.0,
    out_dir: Path | None = None,
    source: Path | None = None,
    idle_priority: bool = False,
) -> WorkerPool | DaskExecutor:
    """The local :class:`WorkerPool`, or with ``scheduler`` a checked :class:`DaskExecutor`.

    On a cluster, ``workers`` and ``cpu`` do not apply (the workers' threads set
    the parallelism), and ``out_dir`` (and ``source``, if given) are checked to be
    shared with every worker before anything is submitted. ``idle_priority`` runs
    the local pool's workers at ``SCHED_IDLE`` (the service); a cluster's workers
    run on other machines, at the priority they were started with.

    >>> executor = make_executor(workers=2)   # doctest: +SKIP
    """
    if scheduler is None:
        return WorkerPool(
            workers,
            cpu=cpu,
            queue_size=queue_size,
            task_timeout=task_timeout,
            idle_priority=idle_priority,
        )
    if workers is not None or cpu is not None:
        raise ValueError("workers and cpu size the local pool; a cluster's worker threads set its")
    if out_dir is None:
        raise ValueError("a cluster executor needs out_dir, to check the workers share it")
    from derivo.executors.dask import DaskExecutor

    executor = DaskExecutor(scheduler, queue_size=queue_size, task_timeout=task_timeout)
    try:
        executor.check(out_dir=out_dir, source=source)
    except BaseException:
        executor.close(cancel=True)
        raise
    return executor
