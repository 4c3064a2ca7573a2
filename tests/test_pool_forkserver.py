"""Workers are forked from one server process, whose CPU time the program gets back."""

from __future__ import annotations

import os
import resource
import time

import pytest

from derivo import RenderResult, RenderTask, WorkerPool
from derivo.executors.forkserver import stop_forkserver

BURN = 0.2  # CPU seconds each task spends


def burn(task: RenderTask) -> RenderResult:
    """Spend :data:`BURN` seconds of CPU; report the parent process and the CPU spent."""
    start = time.process_time()
    while time.process_time() - start < BURN:
        pass
    return RenderResult(
        width=os.getppid(), height=0, derivatives=(), seconds=time.process_time() - start
    )


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@pytest.mark.slow
def test_workers_fork_from_one_server_whose_cpu_is_counted_once_it_is_stopped() -> None:
    task = RenderTask(source="burn", source_hash="00" * 32, specs=(), out_dir="/nonexistent")
    before = children_cpu()
    with WorkerPool(workers=2, func=burn, initializer=None) as pool:  # type: ignore[arg-type]
        futures = [pool.submit(task) for _ in range(4)]
        results = [f.result(timeout=120) for f in futures]
    parents = {r.width for r in results}
    assert len(parents) == 1 and os.getpid() not in parents  # the server forked them all
    stop_forkserver()
    assert children_cpu() - before >= sum(r.seconds for r in results)
    with WorkerPool(workers=1, func=burn, initializer=None) as pool:  # type: ignore[arg-type]
        assert pool.submit(task).result(timeout=120).width not in parents  # a new server
    stop_forkserver()
