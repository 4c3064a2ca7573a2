"""An executor that renders in the calling thread: no processes, no queue.

Starting worker processes costs more than rendering one photo, so one-off
renders (:func:`derivo.thumbnail`) run here; it is also the way to step through
``render`` in a debugger, to profile it, or to test code that drives a
:class:`~derivo.pipeline.Pipeline` without starting workers. It gives up what
only processes give: parallelism, isolation from native crashes (a crash takes
the caller with it), time limits and ``nice``. Batches belong in
:class:`~derivo.executors.pool.WorkerPool`. Like a worker, it silences Pillow's
warnings about damaged headers (:func:`derivo.jpeg.ignore_header_warnings`): with
filters set once, at the first render, for the caller's whole process.

>>> with InlineExecutor() as executor:                   # doctest: +SKIP
...     Pipeline(cache=cache, executor=executor, out_dir=out).submit("a", path)
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from derivo.errors import DerivoError, RenderFailed
from derivo.executors.base import RenderFuture
from derivo.executors.pool import PoolStats
from derivo.tasks import RenderResult, RenderTask


def _default_render(task: RenderTask) -> RenderResult:
    import pyvips

    from derivo import jpeg
    from derivo.render import render

    # libvips' operation cache keys on file names, and a source may change between renders
    pyvips.cache_set_max(0)
    # the part of a worker's set-up that decides how a photo is read: without it a
    # damaged EXIF block prints Pillow's warning here, or as an error sends the photo
    # to libvips (the rest, one libvips thread and the allocator, is the caller's own)
    jpeg.ignore_header_warnings()  # once per process: the filters are process-wide
    return render(task)


class InlineExecutor:
    """Run ``func(task)`` synchronously inside ``submit``; the future is done on return.

    Errors come back on the future exactly as from a worker pool: a
    :class:`~derivo.errors.DerivoError` as itself, anything else as
    :class:`~derivo.errors.RenderFailed` with its one-line reason.
    """

    def __init__(self, *, func: Callable[[RenderTask], RenderResult] = _default_render) -> None:
        self.func = func
        self._closed = False
        self._lock = threading.Lock()  # submit may be called from several threads at once
        self._in_flight = 0
        self._completed = 0
        self._failed = 0

    def submit(self, task: RenderTask, *, block: bool = True) -> RenderFuture:
        """Render ``task`` now; ``block`` is accepted for the protocol (there is no queue)."""
        if self._closed:
            raise RenderFailed("the inline executor is shut down")
        future = RenderFuture()
        future.attempts = 1
        with self._lock:
            self._in_flight += 1
        try:
            result = self.func(task)
        except DerivoError as exc:
            error: DerivoError = exc
        except Exception as exc:  # recorded on the future, as a worker would report it
            error = RenderFailed(f"{type(exc).__name__}: {exc}".splitlines()[0])
        else:
            self._count(failed=False)
            future.set_result(result)
            return future
        self._count(failed=True)
        future.set_exception(error)
        return future

    def stats(self) -> PoolStats:
        """Counts as a pool reports them; the one "worker" is the calling thread."""
        with self._lock:
            return PoolStats(
                workers=1,
                queued=0,
                in_flight=self._in_flight,
                completed=self._completed,
                failed=self._failed,
                restarts=0,
            )

    def _count(self, *, failed: bool) -> None:
        # settled before the future is, so a caller woken by it sees the counts
        with self._lock:
            self._in_flight -= 1
            if failed:
                self._failed += 1
            else:
                self._completed += 1

    def start(self) -> None:
        """Nothing to start: renders run in the caller."""

    def close(self, *, cancel: bool = False) -> None:
        """Refuse further tasks; nothing runs in the background, so nothing is left to stop."""
        self._closed = True

    def __enter__(self) -> InlineExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
