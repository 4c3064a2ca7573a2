"""The Dask watchdog never gives up on a task whose result has already come back.

The scheduler's list of executing tasks is fetched before the watchdog takes its
lock, so a task that finished in between can still be listed, past its limit. The
test makes that moment last: the task finishes at a gate, the collector is held
before it fetches the result, and the watchdog is shown a list that still has the
task executing for far longer than its limit.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from derivo import DaskExecutor, RenderTask
from tests.dask_cluster import DEADLINE, cluster
from tests.gates import Gate
from tests.workers import scripted

pytestmark = pytest.mark.slow


def test_a_result_that_has_landed_is_not_given_up_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate.make(tmp_path / "gate")
    stall = {
        "DERIVO_TEST_STALL": str(gate.folder),
        "DASK_DISTRIBUTED__WORKER__PRELOAD": "tests.dask_gate",
    }
    task = RenderTask(source="ok", source_hash="c" * 64, specs=(), out_dir=str(tmp_path))
    with (
        cluster(tmp_path / "logs", workers=1, env=stall) as running,
        DaskExecutor(running.address, func=scripted, task_timeout=600, stall_slack=60) as dask,
    ):
        future = dask.submit(task)
        gate.wait_for(1)
        (worker, keys), *_ = running.client.processing().items()
        stale = {key: (worker, 1e6) for key in keys}  # listed as executing, long past its limit
        assert stale

        fetching, fetch = threading.Event(), threading.Event()
        gather = dask.client.gather

        def held_gather(*args: Any, **kwargs: Any) -> Any:
            fetching.set()
            assert fetch.wait(DEADLINE)
            return gather(*args, **kwargs)

        monkeypatch.setattr(dask.client, "gather", held_gather)
        gate.open()
        assert fetching.wait(DEADLINE)  # the task has finished; its result is not yet taken
        monkeypatch.setattr(dask.client, "run_on_scheduler", lambda *args, **kwargs: stale)
        dask._watch()
        fetch.set()

        assert future.result(timeout=DEADLINE).width > 0
        assert future.attempts == 1
        assert dask.stats().restarts == 0
        assert len(gate.arrivals()) == 1  # rendered once
