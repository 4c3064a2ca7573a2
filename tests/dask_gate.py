"""Dask worker preload for tests: hold work at a gate the test opens.

Started as ``dask worker`` with ``DASK_DISTRIBUTED__WORKER__PRELOAD=tests.dask_gate``
and one of:

* ``DERIVO_TEST_GATE`` (a folder): each render leaves ``started-<pid>`` there,
  then waits for the file ``open``, so a test can kill a worker while it provably
  holds a task.
* ``DERIVO_TEST_STALL`` (a :class:`~tests.gates.Gate` folder): each render's task
  waits at the gate *before* the render's own time limit starts, as a task that
  a live worker never answers for; only the coordinator's watchdog ends it.
* ``DERIVO_TEST_SYNC`` (a :class:`~tests.gates.Gate` folder): each sync of written
  files the coordinator asks a worker for waits at the gate (or, open, while the
  worker's pid is held), then syncs; with a file ``full`` in the folder it fails as
  on a full device instead.
"""

from __future__ import annotations

import importlib
import os
import time
from pathlib import Path
from typing import Any

from derivo.errors import StorageFull
from derivo.executors import dask_tasks
from derivo.tasks import RenderResult, RenderTask
from tests.gates import wait_at

# the module, not the function of the same name that ``derivo`` re-exports
_module = importlib.import_module("derivo.render")
_render = _module.render
_run_one = dask_tasks._run_one
_make_durable = dask_tasks.make_durable


def gated_render(task: RenderTask) -> RenderResult:
    gate = Path(os.environ["DERIVO_TEST_GATE"])
    (gate / f"started-{os.getpid()}").touch()
    while not (gate / "open").exists():
        time.sleep(0.02)
    return _render(task)


def stalled_run_one(func: Any, task: RenderTask, timeout: float) -> dask_tasks.Outcome:
    wait_at(os.environ["DERIVO_TEST_STALL"], task.source_hash)
    return _run_one(func, task, timeout)


def gated_make_durable(files: Any) -> None:
    gate = os.environ["DERIVO_TEST_SYNC"]
    wait_at(gate, str(os.getpid()))  # held by this worker's pid, or by the shut gate
    if (Path(gate) / "full").exists():
        raise StorageFull("no space left on device")
    _make_durable(files)


def dask_setup(worker: Any) -> None:
    if "DERIVO_TEST_GATE" in os.environ:
        _module.render = gated_render
    if "DERIVO_TEST_STALL" in os.environ:
        dask_tasks._run_one = stalled_run_one  # type: ignore[assignment]
    if "DERIVO_TEST_SYNC" in os.environ:
        dask_tasks.make_durable = gated_make_durable
