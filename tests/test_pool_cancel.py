"""Cancelling a render: a queued one never starts, one in progress stops with its worker."""

from __future__ import annotations

from concurrent.futures import CancelledError
from pathlib import Path

import pytest

from derivo import DerivativeCache, Pipeline, RenderTask, WorkerPool
from tests.conftest import SAMPLES
from tests.gates import Gate
from tests.workers import scripted


def task(source: str) -> RenderTask:
    return RenderTask(source=source, source_hash="00" * 32, specs=(), out_dir="/nonexistent")


@pytest.mark.slow
def test_a_render_in_progress_is_running_and_cancelling_it_stops_its_worker(
    tmp_path: Path,
) -> None:
    gate = Gate.make(tmp_path / "gate")  # never opened: only the cancel ends the render
    with WorkerPool(workers=1, func=scripted, initializer=None) as pool:  # type: ignore[arg-type]
        held = pool.submit(task(f"gate:{gate.folder}"))
        queued = pool.submit(task("ok"))
        [holder] = gate.wait_for(1)
        assert held.running() and not queued.running()
        assert queued.cancel() and queued.cancelled()  # still queued: cancelled outright
        assert not held.cancel()  # running: declined, as for any running future...
        with pytest.raises(CancelledError):
            held.result(timeout=60)  # ...and stopped, its worker gone
        assert holder not in pool.stats().pids
        assert pool.stats().restarts == 1
        assert pool.submit(task("ok")).result(timeout=60).width != holder


@pytest.mark.slow
def test_a_render_given_up_on_writes_nothing_afterwards(tmp_path: Path) -> None:
    """The pipeline is left by an exception while a real render is held in a worker:
    the photo is pending, and no derivative or temp file appears later."""
    gate = Gate.make(tmp_path / "gate")
    out = tmp_path / "out"
    with DerivativeCache(tmp_path / "d.db") as cache:
        with WorkerPool(workers=1, func=gate.render()) as pool:
            with (
                pytest.raises(KeyboardInterrupt),
                Pipeline(cache=cache, executor=pool, out_dir=out) as pipeline,
            ):
                future = pipeline.submit("jolla", SAMPLES / "jolla.jpg")
                gate.wait_for(1)
                raise KeyboardInterrupt
            assert future.result(timeout=60).outcome == "pending"
            gate.open()  # a render still going on would now write its files
        # the pool has closed, after finishing whatever it still ran
        assert [p for p in out.rglob("*") if p.is_file()] == []
        assert cache.photo("jolla").status == "pending"  # type: ignore[union-attr]
