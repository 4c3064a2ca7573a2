"""Task functions for pool tests; top-level so spawned workers can import them.

Each reads its instructions from the task's ``source`` field, so one pool can
exercise crashes, hangs and errors side by side.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from derivo import CorruptImage, Derivative, RenderResult, RenderTask
from derivo.render import render
from derivo.tasks import derivative_path
from tests.gates import wait_at


def scripted(task: RenderTask) -> RenderResult:
    """``crash-once:<marker>`` dies the first time; ``hang``; ``bad``; ``boom``;
    ``gate:<folder>`` waits at that :class:`~tests.gates.Gate`; else a result."""
    action, _, arg = task.source.partition(":")
    if action == "crash-once" and not Path(arg).exists():
        Path(arg).touch()
        os.kill(os.getpid(), signal.SIGKILL)
    if action == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    if action == "hang":
        time.sleep(60)
    if action == "bad":
        raise CorruptImage("truncated JPEG")
    if action == "boom":
        raise ZeroDivisionError("division by zero")
    if action == "gate":
        wait_at(arg)
    return RenderResult(width=os.getpid(), height=os.nice(0), derivatives=(), seconds=0.0)


def crash_mid_write(task: RenderTask) -> RenderResult:
    """Leave a temp file and die on the first attempt, as a worker killed mid-write would."""
    folder = Path(task.out_dir) / task.source_hash[:2] / task.source_hash
    if not folder.exists():
        folder.mkdir(parents=True)
        (folder / ".preview-0123.jpg.k3x9.tmp").write_bytes(b"half a jpeg")
        os.kill(os.getpid(), signal.SIGKILL)
    return render(task)


def writes_a_file(task: RenderTask) -> RenderResult:
    """A render that only writes a few bytes for each spec: files to sync, at once."""
    made = []
    for spec in task.specs:
        path = derivative_path(Path(task.out_dir), task.source_hash, spec)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"derivative")
        size = path.stat().st_size
        made.append(
            Derivative(
                spec=spec.name, path=str(path), width=1, height=1, bytes=size, format=spec.format
            )
        )
    return RenderResult(width=1, height=1, derivatives=tuple(made), seconds=0.0)
