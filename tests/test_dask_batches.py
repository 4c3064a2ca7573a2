"""Cheap renders share Dask tasks; a worker lost with a shared task loses only its killer.

Sharing is what lets one coordinator feed a cluster far faster than the scheduler's
cost per task allows; these tests check it keeps the pool's promises.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from derivo import DaskExecutor, RenderTask, WorkerCrashed
from tests.dask_cluster import DEADLINE, cluster
from tests.workers import scripted

pytestmark = pytest.mark.slow


def test_cheap_renders_share_tasks_and_a_crash_fails_only_its_render(tmp_path: Path) -> None:
    def task(source: str, i: int) -> RenderTask:
        return RenderTask(source=source, source_hash=f"{i:064x}", specs=(), out_dir=str(tmp_path))

    # no retries by Dask: a task that kills its worker is lost at once; and each worker
    # holds only the task it runs, so none is lost only for waiting behind the killer
    strict = {
        "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0",
        "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0",
    }
    with (
        cluster(tmp_path / "logs", scheduler_env=strict) as running,
        DaskExecutor(running.address, func=scripted) as dask,
    ):
        first = [dask.submit(task("ok", i)) for i in range(4)]
        assert all(f.result(timeout=DEADLINE).width > 0 for f in first)  # renders are cheap
        sent = dask.dask_tasks
        # queued at once, as a pipeline feeding a window does: the sender waits for the lock
        with dask._cond:
            futures = [dask.submit(task("ok", i)) for i in range(100, 300)]
            killer = dask.submit(task("crash", 1))
            futures += [dask.submit(task("ok", i)) for i in range(300, 400)]
        with pytest.raises(WorkerCrashed, match=r"^Dask worker died on 1 attempts$"):
            killer.result(timeout=DEADLINE)
        assert [f.result(timeout=DEADLINE).width > 0 for f in futures] == [True] * 300
        assert killer.attempts == 1 and {f.attempts for f in futures} == {1}
        shared = dask.dask_tasks - sent
        # the 301 went in a few shared tasks; the killer's batch went again one by one
        assert shared < 301 / 2, shared
        stats = dask.stats()
        assert (stats.completed, stats.failed, stats.in_flight) == (304, 1, 0)
