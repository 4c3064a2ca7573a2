"""The service's render workers run at the lowest CPU priority there is, so they
never delay the server: ``SCHED_IDLE`` where the system grants it, else nice 19."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from derivo import RenderTask, WorkerPool
from derivo.tasks import Limits
from tests.workers import scripted

pytestmark = pytest.mark.slow  # a real worker process


def test_service_workers_run_at_idle_priority(tmp_path: Path) -> None:
    task = RenderTask(
        source="ok", source_hash="0" * 64, specs=(), out_dir=str(tmp_path), limits=Limits()
    )
    batch_niceness = min(19, os.nice(0) + 10)  # what every worker takes, SCHED_IDLE or not
    with WorkerPool(workers=1, idle_priority=True, func=scripted, initializer=None) as pool:
        result = pool.submit(task).result(timeout=120)
        pid, niceness = result.width, result.height  # what the worker saw of itself
        # a kernel or container may refuse SCHED_IDLE: the worker then stays in the
        # normal policy at nice 19; whichever policy is in effect, its niceness must match
        policy = os.sched_getscheduler(pid) if hasattr(os, "sched_getscheduler") else None
        if policy is not None and policy == getattr(os, "SCHED_IDLE", None):
            assert niceness == batch_niceness
        else:
            assert policy in (None, getattr(os, "SCHED_OTHER", None))
            assert niceness == 19
