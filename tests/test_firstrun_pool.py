"""Tasks sent ahead to a busy worker: it never idles between small photos, and a task
sent ahead of one that crashed or hung is neither lost nor charged an attempt."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from derivo import RenderTask, TaskTimeout, WorkerCrashed, WorkerPool
from derivo.executors.pool import AHEAD
from tests.gates import DEADLINE, POLL, Gate
from tests.workers import scripted


def task(source: str) -> RenderTask:
    return RenderTask(source=source, source_hash="00" * 32, specs=(), out_dir="/nonexistent")


def one_worker(**options: float) -> WorkerPool:
    return WorkerPool(workers=1, func=scripted, initializer=None, **options)  # type: ignore[arg-type]


def wait_in_flight(pool: WorkerPool, count: int) -> None:
    deadline = time.monotonic() + DEADLINE
    while pool.stats().in_flight < count:
        assert time.monotonic() < deadline, f"{pool.stats().in_flight} of {count} in flight"
        time.sleep(POLL)


@pytest.mark.slow
def test_a_busy_worker_is_sent_its_next_task_while_more_wait(tmp_path: Path) -> None:
    gate = Gate.make(tmp_path / "gate")
    with one_worker() as pool:
        held = pool.submit(task(f"gate:{gate.folder}"))
        gate.wait_for(1)
        later = [pool.submit(task("ok")) for _ in range(3)]
        wait_in_flight(pool, AHEAD)  # the next task is with the worker, the others queued
        stats = pool.stats()
        assert (stats.in_flight, stats.queued) == (AHEAD, 4 - AHEAD)
        assert later[0].running() and not later[-1].running()
        gate.open()
        results = [f.result(timeout=60) for f in [held, *later]]
    assert len({r.width for r in results}) == 1  # one worker did them all, never replaced
    assert [f.attempts for f in [held, *later]] == [1, 1, 1, 1]


@pytest.mark.slow
def test_no_task_is_sent_ahead_while_every_waiting_one_finds_a_free_worker(
    tmp_path: Path,
) -> None:
    gate = Gate.make(tmp_path / "gate")
    with one_worker() as pool:
        held = pool.submit(task(f"gate:{gate.folder}"))
        gate.wait_for(1)
        queued = pool.submit(task("ok"))
        assert pool.stats().in_flight == 1 and not queued.running()
        assert queued.cancel()  # still the pool's: cancelled outright
        gate.open()
        assert held.result(timeout=60)


@pytest.mark.slow
def test_tasks_sent_ahead_of_a_crash_are_rendered_without_an_attempt_spent(
    tmp_path: Path,
) -> None:
    gate = Gate.make(tmp_path / "gate")
    with one_worker(max_attempts=2) as pool:
        held = pool.submit(task(f"gate:{gate.folder}"))
        gate.wait_for(1)
        crashing = pool.submit(task("crash"))
        after = [pool.submit(task("ok")) for _ in range(3)]
        gate.open()
        with pytest.raises(WorkerCrashed, match=r"died \(signal 9\) on 2 attempts"):
            crashing.result(timeout=60)
        assert held.result(timeout=60)
        assert all(f.result(timeout=60) for f in after)
        assert [f.attempts for f in after] == [1, 1, 1]
        assert pool.stats().restarts == 2


@pytest.mark.slow
def test_a_task_sent_ahead_of_a_hung_one_is_rendered_by_the_next_worker(
    tmp_path: Path,
) -> None:
    ready = Gate.make(tmp_path / "ready")
    with WorkerPool(
        workers=1,
        func=scripted,
        initializer=ready.announcer(),  # type: ignore[arg-type]
        task_timeout=0.5,
        max_attempts=1,
    ) as pool:
        pool.start()
        ready.wait_for(1)  # a time limit also counts a worker's start
        hung = pool.submit(task("hang"))
        behind = [pool.submit(task("ok")) for _ in range(3)]
        with pytest.raises(TaskTimeout, match=r"exceeded the 0.5 s time limit \(1 attempt\)"):
            hung.result(timeout=60)
        results = [f.result(timeout=60) for f in behind]
    assert [f.attempts for f in behind] == [1, 1, 1]
    assert len({r.width for r in results}) == 1  # all by the worker started after the kill


@pytest.mark.slow
def test_an_idle_worker_killed_is_replaced_and_the_pool_goes_on() -> None:
    with one_worker() as pool:
        first = pool.submit(task("ok")).result(timeout=60).width  # the worker's pid
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + DEADLINE
        while pool.stats().restarts < 1:
            assert time.monotonic() < deadline, "the dead worker was not replaced"
            time.sleep(POLL)
        results = [pool.submit(task("ok")) for _ in range(5)]
        pids = {f.result(timeout=60).width for f in results}
    assert first not in pids and len(pids) == 1
    assert [f.attempts for f in results] == [1] * 5
