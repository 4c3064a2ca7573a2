"""Executors: interchangeable ways to run ``render(task)``.

``base`` holds the interface the pipeline depends on; ``pool`` the local worker
pool, the default; ``inline`` renders in the calling thread (one-off renders,
debugging, tests); ``dask`` a Dask distributed cluster (the ``dask`` extra),
with ``dask_tasks`` what it runs on the cluster;
``factory`` picks one from settings. ``dask`` is imported when first asked for: a
run on the local pool does not pay for its imports.
"""

from typing import TYPE_CHECKING, Any

from derivo.executors.base import Executor, RenderFuture, available_cores, workers_for
from derivo.executors.factory import make_executor
from derivo.executors.inline import InlineExecutor
from derivo.executors.pool import PoolStats, WorkerPool

__all__ = [
    "DaskExecutor",
    "Executor",
    "InlineExecutor",
    "PoolStats",
    "RenderFuture",
    "WorkerPool",
    "available_cores",
    "make_executor",
    "workers_for",
]


if TYPE_CHECKING:
    from derivo.executors.dask import DaskExecutor


def __getattr__(name: str) -> Any:
    if name == "DaskExecutor":
        from derivo.executors.dask import DaskExecutor

        return DaskExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
