"""Executors: interchangeable ways to run ``render(task)``.

``base`` holds the interface the pipeline depends on; ``pool`` the local worker
pool, the default; ``inline`` renders in the calling thread (one-off renders,
debugging, tests).
"""

from derivo.executors.base import Executor, RenderFuture, available_cores, workers_for
from derivo.executors.inline import InlineExecutor
from derivo.executors.pool import PoolStats, WorkerPool

__all__ = [
    "Executor",
    "InlineExecutor",
    "PoolStats",
    "RenderFuture",
    "WorkerPool",
    "available_cores",
    "workers_for",
]
