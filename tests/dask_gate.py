"""Dask worker preload for tests: every render waits at a gate the test opens.

Started as ``dask worker --preload tests.dask_gate`` with ``DERIVO_TEST_GATE`` set
to a folder: each render leaves ``started-<pid>`` there, then waits for the file
``open``, so a test can kill a worker while it provably holds a task.
"""

from __future__ import annotations

import importlib
import os
import time
from pathlib import Path
from typing import Any

from derivo.tasks import RenderResult, RenderTask

# the module, not the function of the same name that ``derivo`` re-exports
_module = importlib.import_module("derivo.render")
_render = _module.render


def gated_render(task: RenderTask) -> RenderResult:
    gate = Path(os.environ["DERIVO_TEST_GATE"])
    (gate / f"started-{os.getpid()}").touch()
    while not (gate / "open").exists():
        time.sleep(0.02)
    return _render(task)


def dask_setup(worker: Any) -> None:
    _module.render = gated_render
