"""The worker pool: crashes, hangs and errors never lose or hang a batch."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import CancelledError
from pathlib import Path

import pytest

from derivo import (
    CorruptImage,
    DerivativeCache,
    Pipeline,
    QueueFull,
    RenderFailed,
    RenderTask,
    TaskTimeout,
    WorkerCrashed,
    WorkerPool,
)
from derivo.executors import workers_for
from tests.conftest import SAMPLES
from tests.gates import Gate
from tests.workers import crash_mid_write, scripted


def task(source: str) -> RenderTask:
    return RenderTask(source=source, source_hash="00" * 32, specs=(), out_dir="/nonexistent")


def scripted_pool(**options: float) -> WorkerPool:
    return WorkerPool(workers=2, func=scripted, initializer=None, **options)  # type: ignore[arg-type]


@pytest.mark.slow
def test_a_crashed_worker_is_replaced_and_its_task_retried(tmp_path: Path) -> None:
    with scripted_pool() as pool:
        crashing = pool.submit(task(f"crash-once:{tmp_path / 'marker'}"))
        others = [pool.submit(task("ok")) for _ in range(6)]
        assert crashing.result(timeout=60).derivatives == ()
        assert crashing.attempts == 2
        assert all(f.result(timeout=60) for f in others)
        assert pool.stats().restarts == 1


@pytest.mark.slow
def test_a_task_that_always_crashes_fails_after_three_attempts() -> None:
    with scripted_pool() as pool:
        future = pool.submit(task("crash"))
        with pytest.raises(WorkerCrashed, match=r"died \(signal 9\) on 3 attempts"):
            future.result(timeout=60)
        assert pool.submit(task("ok")).result(timeout=60)


@pytest.mark.slow
def test_a_hung_task_is_killed_at_its_time_limit(tmp_path: Path) -> None:
    ready = Gate.make(tmp_path / "ready")
    with WorkerPool(
        workers=2,
        func=scripted,
        initializer=ready.announcer(),  # type: ignore[arg-type]
        task_timeout=0.5,
        max_attempts=2,
    ) as pool:
        pool.start()
        ready.wait_for(2)  # a time limit also counts a worker's start: both idle first
        hung, fine = pool.submit(task("hang")), pool.submit(task("ok"))
        with pytest.raises(TaskTimeout, match=r"exceeded the 0.5 s time limit \(2 attempts\)"):
            hung.result(timeout=60)
        assert fine.result(timeout=60)
        assert pool.stats().restarts == 2


@pytest.mark.slow
def test_input_errors_are_not_retried_and_other_errors_are_typed() -> None:
    with scripted_pool() as pool:
        bad, boom = pool.submit(task("bad")), pool.submit(task("boom"))
        with pytest.raises(CorruptImage, match="truncated JPEG"):
            bad.result(timeout=60)
        assert bad.attempts == 1
        with pytest.raises(RenderFailed, match="ZeroDivisionError: division by zero"):
            boom.result(timeout=60)


@pytest.mark.slow
def test_workers_run_niced_in_their_own_processes() -> None:
    with scripted_pool() as pool:
        result = pool.submit(task("ok")).result(timeout=60)
    assert result.width != os.getpid()
    assert result.height == min(os.nice(0) + 10, 19)


@pytest.mark.slow
def test_a_full_queue_refuses_without_blocking(tmp_path: Path) -> None:
    gate = Gate.make(tmp_path / "gate")
    with WorkerPool(workers=1, queue_size=1, func=scripted, initializer=None) as pool:  # type: ignore[arg-type]
        held = pool.submit(task(f"gate:{gate.folder}"))
        gate.wait_for(1)  # the first task is now with the worker, the queue empty
        queued = pool.submit(task("ok"))
        with pytest.raises(QueueFull, match=r"^render queue is full \(1 waiting\)$"):
            pool.submit(task("ok"), block=False)
        gate.open()
        assert held.result(timeout=60) and queued.result(timeout=60)


@pytest.mark.slow
def test_closing_with_cancel_cancels_queued_work(tmp_path: Path) -> None:
    gate = Gate.make(tmp_path / "gate")  # never opened: the running task is cut short
    pool = WorkerPool(workers=1, func=scripted, initializer=None)  # type: ignore[arg-type]
    running = pool.submit(task(f"gate:{gate.folder}"))
    queued = [pool.submit(task("ok")) for _ in range(3)]
    gate.wait_for(1)
    pool.close(cancel=True)
    for future in [running, *queued]:  # queued, or sent ahead to the worker now gone
        with pytest.raises(CancelledError):
            future.result(timeout=60)
    assert sum(f.cancelled() for f in queued) >= len(queued) - 1  # at most one was sent ahead
    with pytest.raises(RenderFailed, match="shut down"):
        pool.submit(task("ok"))


def test_worker_count_from_a_cpu_budget() -> None:
    assert workers_for(workers=3) == 3
    assert workers_for(cpu=0.01) == 1
    with pytest.raises(ValueError, match="cpu must be a fraction"):
        workers_for(cpu=1.5)


@pytest.mark.slow
def test_kill_9_of_a_real_worker_mid_batch(tmp_path: Path) -> None:
    """The batch completes; the photo the killed worker held is retried and rendered."""
    photos = sorted(SAMPLES.glob("orientation/*.jpg"))
    gate = Gate.make(tmp_path / "gate")
    with (
        DerivativeCache(tmp_path / "d.db") as cache,
        WorkerPool(workers=2, func=gate.render()) as pool,
        Pipeline(cache=cache, executor=pool, out_dir=tmp_path / "out") as pipeline,
    ):
        futures = [pipeline.submit(p.name, p) for p in photos]
        victim, other = gate.wait_for(2)
        os.kill(victim, signal.SIGKILL)
        assert victim not in gate.wait_for(3)[2:]  # its photo, retried by a new worker
        gate.open()
        results = [f.result(timeout=120) for f in futures]
    assert [r.outcome for r in results] == ["rendered"] * len(photos)
    assert sorted(r.attempts for r in results) == [1] * (len(photos) - 1) + [2]
    assert pool.stats().restarts == 1


@pytest.mark.slow
def test_start_spawns_the_workers_before_any_task() -> None:
    with scripted_pool() as pool:
        assert pool.stats().pids == ()
        pool.start()
        deadline = time.monotonic() + 30
        while len(pool.stats().pids) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(pool.stats().pids) == 2


@pytest.mark.slow
def test_a_dispatcher_failure_fails_every_future_and_later_submits() -> None:
    pool = WorkerPool(workers=1, func=lambda task: task, initializer=None)  # type: ignore[arg-type,return-value]
    future = pool.submit(task("ok"))
    with pytest.raises(RenderFailed, match="the worker pool stopped: .*pickle"):
        future.result(timeout=60)
    with pytest.raises(RenderFailed, match="the worker pool stopped"):
        pool.submit(task("ok"))
    pool.close()
    pool.close()  # a second close is harmless


def test_an_unbounded_time_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="task_timeout must be in"):
        WorkerPool(workers=1, task_timeout=float("inf"))


@pytest.mark.slow
def test_temp_files_of_a_killed_writer_are_removed(tmp_path: Path) -> None:
    with (
        DerivativeCache(tmp_path / "d.db") as cache,
        WorkerPool(workers=1, func=crash_mid_write) as pool,
        Pipeline(cache=cache, executor=pool, out_dir=tmp_path / "out") as pipeline,
    ):
        result = pipeline.submit("jolla", SAMPLES / "jolla.jpg").result(timeout=120)
    assert result.outcome == "rendered" and result.attempts == 2
    assert not list((tmp_path / "out").rglob("*.tmp"))
    assert len(list((tmp_path / "out").rglob("*.jpg"))) == 2
