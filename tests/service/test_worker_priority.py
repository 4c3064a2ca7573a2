"""The service's render workers run at the lowest CPU priority there is, so they
never delay the server: ``SCHED_IDLE`` where the system has it, else nice 19."""

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
    with WorkerPool(workers=1, idle_priority=True, func=scripted, initializer=None) as pool:
        result = pool.submit(task).result(timeout=120)
        pid, niceness = result.width, result.height  # what the worker saw of itself
        if hasattr(os, "SCHED_IDLE"):
            assert os.sched_getscheduler(pid) == os.SCHED_IDLE
        else:
            assert niceness == 19
        assert niceness >= 10  # the nice of a batch worker too: below everything else
