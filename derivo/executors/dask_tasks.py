"""What the Dask executor runs on the cluster: renders, their sync, the probe, stall queries.

Top-level functions over plain data, so Dask pickles them by name; the scheduler
and every worker import them from the same derivo version.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from derivo.atomic import make_durable
from derivo.errors import DerivoError, RenderFailed, TaskTimeout
from derivo.specs import RENDERER_VERSION
from derivo.tasks import RenderResult, RenderTask, source_folder

#: One render's outcome: ``(status, value, a try before left files, seconds)``;
#: status ``ok`` (value: the result), ``error`` (the error) or ``timeout`` (the worker).
Outcome = tuple[str, Any, bool, float]
#: A Dask task's answer: the worker that ran it, and the outcome of each render it reached.
Answer = tuple[str, list[Outcome]]


def derivo_version() -> str:
    """This derivo's version and renderer version: workers must match both."""
    try:
        return f"{version('derivo')} (renderer {RENDERER_VERSION})"
    except PackageNotFoundError:
        return f"unknown (renderer {RENDERER_VERSION})"


async def warm() -> None:
    """Import the renderer on a worker before its first task needs it, off its event loop."""
    await asyncio.get_running_loop().run_in_executor(None, _import_renderer)


def _import_renderer() -> None:
    from derivo.render import init_worker

    init_worker()


def run_batch(
    func: Callable[[RenderTask], RenderResult], timeout: float, tasks: tuple[RenderTask, ...]
) -> Answer:
    """Body of one Dask task: render ``tasks`` in turn, each within ``timeout``.

    Stops after a render that overran: its thread still runs, so the coordinator
    restarts this worker and sends the renders not reached again. The files are not
    made durable here, where the next task would wait for the sync: the coordinator
    asks for that (:func:`make_written_durable`) before it takes a render as done.
    """
    from derivo.render import init_worker

    init_worker()  # cheap, and holds on workers the nanny restarted
    outcomes: list[Outcome] = []
    for task in tasks:
        outcomes.append(_run_one(func, replace(task, sync=False), timeout))
        if outcomes[-1][0] == "timeout":
            break
    return _this_worker(), outcomes


def _this_worker() -> str:
    from distributed import get_worker

    try:
        return str(get_worker().address)
    except ValueError:  # not on a Dask worker
        return ""


async def make_written_durable(paths: list[str], timeout: float) -> DerivoError | None:
    """On a worker, at the coordinator's request: make the files it wrote durable.

    The sync runs in a thread of its own, so the worker renders on meanwhile. Answers
    what went wrong (a full device, say, or :class:`~derivo.errors.TaskTimeout` for a
    sync still running after ``timeout`` seconds, as on a file server that stopped
    answering), or None.
    """
    sync = asyncio.get_running_loop().run_in_executor(None, make_durable, paths)
    try:
        await asyncio.wait_for(sync, timeout)
    except TimeoutError:
        return TaskTimeout(f"making the files durable took over {timeout:g} s")
    except DerivoError as exc:
        return exc
    except OSError as exc:
        return RenderFailed(f"cannot make the derivatives durable: {exc}")
    return None


def _run_one(
    func: Callable[[RenderTask], RenderResult], task: RenderTask, timeout: float
) -> Outcome:
    """One render on this Dask thread's render thread, so the task can give up at its limit."""
    from derivo.atomic import TEMP_PATTERN

    started = time.perf_counter()
    folder = source_folder(Path(task.out_dir), task.source_hash)
    leftovers = folder.is_dir() and any(folder.glob(TEMP_PATTERN))

    def job() -> tuple[str, Any]:
        try:
            return "ok", func(task)
        except DerivoError as exc:
            return "error", exc
        except Exception as exc:  # recorded, as on the pool: a retryable failure
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
            return "error", RenderFailed(reason)

    renderer = getattr(_renderers, "current", None)
    if renderer is None:
        renderer = _renderers.current = _RenderThread()
    answer = renderer.run(job, timeout)
    seconds = time.perf_counter() - started
    if answer is None:
        # it still runs the render that overran: the next render gets a new thread,
        # and this one ends once the overrun render does
        _renderers.current = None
        renderer.retire()
        return "timeout", _this_worker(), leftovers, seconds
    status, value = answer
    return status, value, leftovers, seconds


#: Each Dask thread's render thread (a worker may run several Dask threads).
_renderers = threading.local()


class _RenderThread:
    """A long-lived thread that runs one Dask thread's renders in turn.

    Renders run off the Dask thread so a task can return at its time limit; one
    thread for them all, rather than one per render, keeps the freed buffers of a
    photo for the next (glibc's per-thread arenas, see
    :func:`~derivo.render.reuse_freed_memory`), as a pool worker does: measured about
    200 page faults per 3-24 MP photo against about 300 with a thread per render.
    Daemonic, so a render that never returns does not hold up the worker's exit.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="derivo-render", daemon=True).start()

    def _serve(self) -> None:
        while (item := self._jobs.get()) is not None:
            job, answer, done = item
            answer.append(job())
            done.set()

    def retire(self) -> None:
        """End the thread once the jobs already given are done (they are not waited for)."""
        self._jobs.put(None)

    def run(self, job: Callable[[], tuple[str, Any]], timeout: float) -> tuple[str, Any] | None:
        """``job()``'s answer, or None if it has not returned within ``timeout`` seconds."""
        answer: list[tuple[str, Any]] = []
        done = threading.Event()
        self._jobs.put((job, answer, done))
        return answer[0] if done.wait(timeout) else None


_Job = tuple[Callable[[], tuple[str, Any]], list[tuple[str, Any]], threading.Event]


def probe(out_dir: str, token_name: str, token: str, source: str | None) -> tuple[str, str | None]:
    """Run on each worker at connect: its derivo version, and what it cannot do, if anything."""
    out = Path(out_dir)
    try:
        if source is not None:
            with open(source, "rb") as f:
                f.read(1)
    except OSError as exc:
        return derivo_version(), f"cannot read source {source}: {exc.strerror}"
    try:
        seen = (out / token_name).read_text()
    except OSError:
        seen = None
    if seen != token:
        return derivo_version(), f"does not see the output folder {out_dir} (not shared storage?)"
    mine = out / f"{token_name}-{os.getpid()}"
    try:
        mine.write_text(token)
        mine.unlink()
    except OSError as exc:
        return derivo_version(), f"cannot write into the output folder {out_dir}: {exc.strerror}"
    return derivo_version(), None


def executing(prefix: str, dask_scheduler: Any = None) -> dict[str, tuple[str, float]]:
    """On the scheduler: tasks keyed ``prefix...`` that workers report running, with the
    worker and for how many seconds (from the workers' heartbeats)."""
    found: dict[str, tuple[str, float]] = {}
    for worker in dask_scheduler.workers.values():
        for task, seconds in getattr(worker, "executing", {}).items():
            if isinstance(task.key, str) and task.key.startswith(prefix):
                found[task.key] = (worker.address, float(seconds))
    return found
