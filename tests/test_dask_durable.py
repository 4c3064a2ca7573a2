"""On a cluster, a render is done once its files are durable, and its worker renders on meanwhile.

The worker that wrote a render's files syncs them when the coordinator asks, in a
thread beside its next render; the render is settled only after. Each worker holds
that sync at a gate (``tests.dask_gate``), so the tests act while it provably runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from derivo import DaskExecutor, RenderTask, StorageFull, TaskTimeout
from derivo.specs import DEFAULT_SPECS
from derivo.tasks import derivative_path
from tests.conftest import SAMPLES
from tests.dask_cluster import DEADLINE, cluster
from tests.gates import Gate
from tests.workers import writes_a_file

pytestmark = pytest.mark.slow

PHOTOS = sorted(SAMPLES.glob("*.jpg"))


def _task(out: Path, i: int) -> RenderTask:
    return RenderTask(
        source=str(PHOTOS[i % len(PHOTOS)]),
        source_hash=f"{i:064x}",
        specs=DEFAULT_SPECS,
        out_dir=str(out),
    )


@contextlib.contextmanager
def syncs_held(
    tmp_path: Path, workers: int, **options: Any
) -> Iterator[tuple[Gate, Path, DaskExecutor]]:
    """A cluster whose workers hold each sync at a gate (opened at the end, at the
    latest), and an executor on it: the gate, the output folder, the executor."""
    gate, out = Gate.make(tmp_path / "gate"), tmp_path / "out"
    held = {
        "DERIVO_TEST_SYNC": str(gate.folder),
        "DASK_DISTRIBUTED__WORKER__PRELOAD": "tests.dask_gate",
    }
    with (
        cluster(tmp_path / "logs", workers=workers, env=held) as running,
        DaskExecutor(running.address, **options) as dask,
    ):
        try:
            yield gate, out, dask
        finally:
            gate.open()


def test_a_worker_renders_on_while_it_makes_its_last_files_durable(tmp_path: Path) -> None:
    with syncs_held(tmp_path, workers=1) as (gate, out, dask):
        first = dask.submit(_task(out, 0))
        gate.wait_for(1)  # the worker holds the sync of the first render's files
        second = dask.submit(_task(out, 1))
        made = [derivative_path(out, f"{1:064x}", spec) for spec in DEFAULT_SPECS]
        deadline = time.monotonic() + DEADLINE
        while not all(path.exists() for path in made) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert all(path.exists() for path in made)  # rendered beside the held sync
        assert not first.done()  # not done before its files are durable
        gate.open()
        for future in (first, second):
            result = future.result(timeout=DEADLINE)
            assert future.attempts == 1
            assert all(Path(d.path).stat().st_size > 0 for d in result.derivatives)


def test_a_worker_slow_to_sync_holds_up_only_its_own_renders(tmp_path: Path) -> None:
    with syncs_held(tmp_path, workers=2) as (gate, out, dask):
        slow = dask.submit(_task(out, 0))
        [slow_pid] = gate.wait_for(1)
        gate.hold(str(slow_pid))  # this worker's syncs wait; the other's pass
        gate.open()
        others = [dask.submit(_task(out, i)) for i in range(1, 5)]
        deadline = time.monotonic() + DEADLINE
        while not any(f.done() for f in others) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert any(f.done() and f.exception() is None for f in others)
        assert not slow.done()
        gate.release(str(slow_pid))
        for future in [slow, *others]:
            assert future.result(timeout=DEADLINE).derivatives
            assert future.attempts == 1


def test_a_render_whose_worker_is_lost_before_its_files_are_durable_is_rendered_again(
    tmp_path: Path,
) -> None:
    with syncs_held(tmp_path, workers=2) as (gate, out, dask):
        future = dask.submit(_task(out, 0))
        [worker_pid] = gate.wait_for(1)
        os.kill(worker_pid, signal.SIGKILL)  # holding the sync of the render's files
        gate.open()
        result = future.result(timeout=DEADLINE)
        assert future.attempts == 2
        assert len(gate.arrivals()) == 2 and gate.arrivals()[1] != worker_pid
        assert dask.stats().restarts == 0
        assert all(Path(d.path).stat().st_size > 0 for d in result.derivatives)


def test_a_sync_that_fails_fails_its_renders_with_its_reason(tmp_path: Path) -> None:
    with syncs_held(tmp_path, workers=1) as (gate, out, dask):
        (gate.folder / "full").touch()
        gate.open()
        futures = [dask.submit(_task(out, i)) for i in range(2)]
        for future in futures:
            with pytest.raises(StorageFull, match="^no space left on device$"):
                future.result(timeout=DEADLINE)
            assert future.attempts == 1  # not a worker's fault: not tried again
        assert len(gate.arrivals()) >= 1


def test_a_sync_that_never_ends_is_given_up_and_its_worker_restarted(tmp_path: Path) -> None:
    # a limit the instant render itself keeps even on a slow machine; the sync never ends
    limit = 3
    options = {"func": writes_a_file, "task_timeout": float(limit), "max_attempts": 2}
    with syncs_held(tmp_path, workers=1, **options) as (gate, out, dask):
        future = dask.submit(_task(out, 0))
        message = rf"^making the files durable took over {limit} s \(2 attempts\)$"
        with pytest.raises(TaskTimeout, match=message):
            future.result(timeout=DEADLINE)
        assert future.attempts == 2
        # the render went again only once its worker was restarted: a new process
        assert len(set(gate.wait_for(2))) == 2
        assert dask.stats().restarts == 2
