"""An :class:`~derivo.InlineExecutor` whose renders run on one thread of the test process.

The service submits from the thread that answers an upload; rendering right there
would hold the answer for as long as a test holds the render at a gate. Here the
render waits on its own thread, as it would in a worker, while the service keeps
answering: "still rendering" states without worker processes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pyvips

from derivo import InlineExecutor, PoolStats, RenderResult, RenderTask
from derivo.executors.base import RenderFuture, settle


class BackgroundInline:
    """Renders in submission order on one thread; ``stats`` counts them as a one-worker pool."""

    def __init__(self, func: Callable[[RenderTask], RenderResult] | None = None) -> None:
        # libvips' operation cache keys on file names, as in InlineExecutor's default render
        pyvips.cache_set_max(0)
        self.inline = InlineExecutor() if func is None else InlineExecutor(func=func)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="derivo-test-render")
        self._lock = threading.Lock()
        self._queued = 0

    def submit(self, task: RenderTask, *, block: bool = True) -> RenderFuture:
        future = RenderFuture()
        future.attempts = 1
        with self._lock:
            self._queued += 1
        self._thread.submit(self._run, task, future)
        return future

    def _run(self, task: RenderTask, future: RenderFuture) -> None:
        with self._lock:
            self._queued -= 1
        if not future.set_running_or_notify_cancel():
            return
        done = self.inline.submit(task)
        error = done.exception()
        settle(future, error is None, done.result() if error is None else error)

    def stats(self) -> PoolStats:
        inline = self.inline.stats()
        with self._lock:
            queued = self._queued
        return PoolStats(
            workers=1,
            queued=queued,
            in_flight=inline.in_flight,
            completed=inline.completed,
            failed=inline.failed,
            restarts=0,
        )

    def start(self) -> None:
        """Nothing to start: the thread is made on the first submit."""

    def close(self, *, cancel: bool = False) -> None:
        self._thread.shutdown(wait=True, cancel_futures=cancel)
        self.inline.close()

    def __enter__(self) -> BackgroundInline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
