"""The body of a Dask task, in this process: where its renders run.

Renders run off the Dask thread, so a task can answer at its time limit; one
long-lived render thread per Dask thread runs them all, so a photo's freed buffers
serve the next, as in a pool worker.
"""

from __future__ import annotations

import importlib
import threading
import types
from pathlib import Path
from typing import Any

import pytest

from derivo import RenderResult, RenderTask
from derivo.executors.dask_tasks import Outcome, run_batch

DEADLINE = 60.0


@pytest.fixture(autouse=True)
def _no_worker_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    # a render worker's libvips settings are process-wide: keep this test process's own
    monkeypatch.setattr(importlib.import_module("derivo.render"), "init_worker", lambda: None)


def _task(out: Path, i: int) -> RenderTask:
    return RenderTask(source=f"photo-{i}", source_hash=f"{i:064x}", specs=(), out_dir=str(out))


def _rendered(render: Any, timeout: float, tasks: tuple[RenderTask, ...]) -> list[Outcome]:
    """The outcomes of one Dask task's body run here."""
    _worker, outcomes = run_batch(render, timeout, tasks)
    return outcomes


def _result() -> RenderResult:
    return RenderResult(width=1, height=1, derivatives=(), seconds=0.0)


def test_renders_of_one_dask_thread_share_one_render_thread(tmp_path: Path) -> None:
    threads: list[int] = []

    def render(task: RenderTask) -> RenderResult:
        threads.append(threading.get_ident())
        return _result()

    first = _rendered(render, DEADLINE, (_task(tmp_path, 1), _task(tmp_path, 2)))
    second = _rendered(render, DEADLINE, (_task(tmp_path, 3),))
    assert [kind for kind, *_ in first + second] == ["ok", "ok", "ok"]
    assert len(set(threads)) == 1 and threads[0] != threading.get_ident()


def test_two_dask_threads_render_at_once(tmp_path: Path) -> None:
    both = threading.Barrier(2, timeout=DEADLINE)  # passes only if the renders overlap
    kinds: list[str] = []

    def render(task: RenderTask) -> RenderResult:
        both.wait()
        return _result()

    def dask_thread(i: int) -> None:
        kinds.extend(kind for kind, *_ in _rendered(render, DEADLINE, (_task(tmp_path, i),)))

    threads = [threading.Thread(target=dask_thread, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert kinds == ["ok", "ok"]


def test_a_render_that_overran_leaves_its_thread_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = types.SimpleNamespace(address="tcp://127.0.0.1:1")
    monkeypatch.setattr("distributed.get_worker", lambda: worker)
    release = threading.Event()
    threads: list[int] = []

    def render(task: RenderTask) -> RenderResult:
        threads.append(threading.get_ident())
        if task.source == "photo-1":
            release.wait(DEADLINE)  # overruns the limit below until the test lets it go
        return _result()

    try:
        stuck = _rendered(render, 0.2, (_task(tmp_path, 1), _task(tmp_path, 2)))
        # the render not reached is left for the coordinator to send again
        assert [(kind, value) for kind, value, *_ in stuck] == [("timeout", worker.address)]
        after = _rendered(render, DEADLINE, (_task(tmp_path, 3),))
        assert [kind for kind, *_ in after] == ["ok"]
        assert len(set(threads)) == 2  # not queued behind the render that still runs
    finally:
        release.set()


def test_the_thread_of_a_render_that_overran_ends_with_that_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "distributed.get_worker", lambda: types.SimpleNamespace(address="tcp://127.0.0.1:1")
    )
    release = threading.Event()
    running: list[threading.Thread] = []

    def render(task: RenderTask) -> RenderResult:
        running.append(threading.current_thread())
        release.wait(DEADLINE)  # overruns the limit below until the test lets it go
        return _result()

    try:
        stuck = _rendered(render, 0.2, (_task(tmp_path, 1),))
        assert [kind for kind, *_ in stuck] == ["timeout"]
        assert running[0].is_alive()
    finally:
        release.set()
    running[0].join(DEADLINE)
    assert not running[0].is_alive()
