"""Renders share Dask tasks; a worker lost with a shared task loses only its killer.

Sharing is what lets one coordinator feed a cluster far faster than the scheduler's
cost per task allows, and keeps that cost off each render; these tests check it
keeps the pool's promises, and that a backlog waits at the coordinator.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from derivo import DaskExecutor, RenderFuture, RenderTask, WorkerCrashed
from derivo.executors.dask import MAX_SHARE, TASKS_AHEAD
from tests.dask_cluster import DEADLINE, Cluster, cluster
from tests.gates import Gate
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


@dataclass
class HeldBacklog:
    """Renders queued at once on a cluster whose renders wait at a shut gate."""

    running: Cluster
    dask: DaskExecutor
    gate: Gate
    futures: list[RenderFuture]

    def results(self) -> list[bool]:
        self.gate.open()
        return [f.result(timeout=DEADLINE).width > 0 for f in self.futures]


@contextlib.contextmanager
def held_backlog(tmp_path: Path, renders: int, workers: int) -> Iterator[HeldBacklog]:
    """``renders`` queued at once, as a pipeline feeding a window does, on ``workers``
    single-threaded workers; yields once the first tasks reached the cluster."""
    gate = Gate.make(tmp_path / "gate")
    with (
        cluster(tmp_path / "logs", workers=workers) as running,
        DaskExecutor(running.address, func=scripted) as dask,
    ):
        dask.check(out_dir=tmp_path)
        try:
            with dask._cond:  # the sender waits for the lock: it sees them all at once
                futures = [dask.submit(_gated(gate, tmp_path, i)) for i in range(renders)]
            gate.wait_for(workers)  # each worker holds a render of its first task
            assert _until(lambda: dask.dask_tasks == TASKS_AHEAD * workers)
            yield HeldBacklog(running, dask, gate, futures)
        finally:
            gate.open()


def _gated(gate: Gate, out: Path, i: int) -> RenderTask:
    source = f"gate:{gate.folder}"
    return RenderTask(source=source, source_hash=f"{i:064x}", specs=(), out_dir=str(out))


def _until(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + DEADLINE
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_a_backlog_waits_at_the_coordinator_and_shares_tasks(tmp_path: Path) -> None:
    with held_backlog(tmp_path, 60, workers=2) as held:
        # nothing lands while the gate is shut: what went is all that may go
        assert held.dask.dask_tasks == TASKS_AHEAD * 2
        stats = held.dask.stats()
        assert stats.in_flight == TASKS_AHEAD * 2 * MAX_SHARE
        assert stats.queued == 60 - stats.in_flight
        assert held.results() == [True] * 60
        assert held.dask.dask_tasks < 60 / 2
        assert held.dask.stats().completed == 60


def test_a_worker_that_joins_during_a_run_is_given_tasks(tmp_path: Path) -> None:
    with held_backlog(tmp_path, 60, workers=1) as held:
        held.running.worker("w1")
        assert _until(lambda: held.dask.dask_tasks == TASKS_AHEAD * 2)  # two threads now
        assert held.results() == [True] * 60


def test_renders_given_up_while_they_wait_here_are_never_sent(tmp_path: Path) -> None:
    with held_backlog(tmp_path, 30, workers=1) as held:
        given_up = held.futures[-10:]
        assert all(f.cancel() for f in given_up)  # still waiting here, not sent
        held.futures = held.futures[:-10]
        assert held.results() == [True] * 20
        assert _until(lambda: held.dask.stats().in_flight == 0)
        stats = held.dask.stats()
        assert (stats.completed, stats.queued) == (20, 0)
