"""The coordinator's watchdog: a Dask task a live worker never answers for does not hang a run.

The workers hold each task at a gate before the render's own time limit starts
(``tests.dask_gate``), so only the coordinator can end the wait: it gives up on the
task its time limit plus slack after the worker started it, restarts that worker
and tries again, then fails the render with a reason.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from derivo import DaskExecutor, RenderTask, TaskTimeout
from tests.dask_cluster import DEADLINE, cluster
from tests.gates import Gate
from tests.workers import scripted

pytestmark = pytest.mark.slow


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_stalled_task_is_retried_on_a_restarted_worker_then_fails(tmp_path: Path) -> None:
    gate = Gate.make(tmp_path / "gate")
    stall = {
        "DERIVO_TEST_STALL": str(gate.folder),
        "DASK_DISTRIBUTED__WORKER__PRELOAD": "tests.dask_gate",
    }

    def task(source_hash: str) -> RenderTask:
        return RenderTask(source="ok", source_hash=source_hash, specs=(), out_dir=str(tmp_path))

    with cluster(tmp_path / "logs", env=stall) as running:
        with DaskExecutor(
            running.address, func=scripted, task_timeout=1, stall_slack=1, max_attempts=2
        ) as dask:
            stuck = dask.submit(task("a" * 64))
            limit = r"no result from Dask worker tcp://127\.0\.0\.1:\d+ 2 s after it started"
            with pytest.raises(TaskTimeout, match=rf"^{limit} \(2 attempts\)$"):
                stuck.result(timeout=DEADLINE)
            assert stuck.attempts == 2
            assert dask.stats().restarts == 2 and dask.stats().failed == 1
            held = gate.wait_for(2)
        # each worker that held it was restarted: the processes that held it are gone
        deadline = time.monotonic() + DEADLINE
        while any(alive(pid) for pid in held):
            assert time.monotonic() < deadline, "a worker that held the task still runs"
            time.sleep(0.05)
        running.client.wait_for_workers(2, timeout=DEADLINE)

        # a retry that gets through settles the render with its result
        with DaskExecutor(running.address, func=scripted, task_timeout=1, stall_slack=5) as dask:
            late = dask.submit(task("b" * 64))
            gate.wait_for(len(held) + 2)  # the first try stalled; the second is at the gate
            gate.open()
            assert late.result(timeout=DEADLINE).width > 0
            assert late.attempts >= 2
