"""An executor that renders in the calling process, for one-off renders.

Starting worker processes costs more than rendering one photo, so the one-call
:func:`derivo.thumbnail` renders here. It gives up what the pool protects against
(a native crash or a runaway render takes the caller with it); batches belong in
:class:`~derivo.executors.pool.WorkerPool`.
"""

from __future__ import annotations

from derivo.executors.base import RenderFuture
from derivo.tasks import RenderTask


class InlineExecutor:
    """Runs ``render(task)`` synchronously inside :meth:`submit`; the future is done on return.

    libvips' operation cache is turned off for this process on first use: it keys on
    file names, and a source may change between two renders.
    """

    def submit(self, task: RenderTask, *, block: bool = True) -> RenderFuture:
        import pyvips

        from derivo.render import render

        pyvips.cache_set_max(0)
        future = RenderFuture()
        future.attempts = 1
        try:
            future.set_result(render(task))
        except Exception as exc:  # the pipeline records it, as it does for the pool
            future.set_exception(exc)
        return future

    def close(self, *, cancel: bool = False) -> None:
        """Nothing to release."""
