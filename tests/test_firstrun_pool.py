"""Tasks sent ahead to a busy worker: it never idles between small photos, and a task
sent ahead of one that crashed or hung is neither lost nor charged an attempt."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import CancelledError
from pathlib import Path

import pytest

from derivo import RenderTask, TaskTimeout, WorkerCrashed, WorkerPool
from derivo.executors import pool as pool_module
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
    first, second = Gate.make(tmp_path / "first"), Gate.make(tmp_path / "second")
    with one_worker() as pool:
        held = pool.submit(task(f"gate:{first.folder}"))
        first.wait_for(1)
        ahead = pool.submit(task(f"gate:{second.folder}"))
        queued = pool.submit(task("ok"))
        wait_in_flight(pool, AHEAD)  # two waited for one worker: one was sent ahead
        first.open()
        # settled only after the dispatch that followed its reply: one waits, none ahead
        assert held.result(timeout=60)
        assert pool.stats().in_flight == 1 and ahead.running() and not queued.running()
        assert queued.cancel()  # still the pool's: cancelled outright
        second.open()
        assert ahead.result(timeout=60)


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


class Clock:
    """The pool's clock, moved on by the test: a time limit passes when the test says."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.skipped


@pytest.mark.slow
def test_a_task_sent_ahead_of_a_hung_one_is_rendered_by_the_next_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr(pool_module, "time", clock)
    monkeypatch.setattr(pool_module, "_IDLE_WAIT", POLL)  # so it sees the clock move
    gate = Gate.make(tmp_path / "gate")  # never opened: the render hangs
    with one_worker(task_timeout=DEADLINE, max_attempts=1) as pool:
        hung = pool.submit(task(f"gate:{gate.folder}"))
        gate.wait_for(1)
        behind = [pool.submit(task("ok")) for _ in range(3)]
        wait_in_flight(pool, AHEAD)
        clock.skipped = DEADLINE
        with pytest.raises(
            TaskTimeout, match=rf"exceeded the {DEADLINE:g} s time limit \(1 attempt\)"
        ):
            hung.result(timeout=60)
        results = [f.result(timeout=60) for f in behind]
    assert [f.attempts for f in behind] == [1, 1, 1]
    pids = {r.width for r in results}
    assert len(pids) == 1 and gate.arrivals()[0] not in pids  # all by the worker started after


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


@pytest.mark.slow
def test_a_task_cancelled_while_sent_ahead_lets_the_render_before_it_finish(
    tmp_path: Path,
) -> None:
    first, other, never = (Gate.make(tmp_path / name) for name in ("first", "other", "never"))
    with WorkerPool(workers=2, func=scripted, initializer=None) as pool:  # type: ignore[arg-type]
        held = pool.submit(task(f"gate:{first.folder}"))
        first.wait_for(1)
        busy = pool.submit(task(f"gate:{other.folder}"))  # on the other worker
        other.wait_for(1)
        ahead = pool.submit(task(f"gate:{never.folder}"))
        rest = [pool.submit(task("ok")) for _ in range(2)]
        wait_in_flight(pool, 3)  # ``ahead`` waits behind ``held``
        assert not ahead.cancel()  # running: its worker's to stop
        other.open()
        # settled by a dispatcher round that saw the cancel
        assert busy.result(timeout=60)
        first.open()
        assert held.result(timeout=60).width == first.arrivals()[0]
        assert len(first.arrivals()) == 1  # rendered once, by the worker it was sent to
        with pytest.raises(CancelledError):
            ahead.result(timeout=60)
        assert all(f.result(timeout=60) for f in rest)
        assert held.attempts == 1 and pool.stats().restarts == 1
