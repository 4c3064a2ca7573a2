"""derivo: photo derivatives (thumbnails, previews) fast, in parallel, and never twice."""

from derivo.cache import DerivativeCache, FileStat, PhotoRecord
from derivo.errors import (
    CacheError,
    ClusterError,
    CorruptImage,
    DerivoError,
    InputError,
    LimitExceeded,
    QueueFull,
    RenderFailed,
    SpecError,
    TaskTimeout,
    UnsupportedFormat,
    WorkerCrashed,
)
from derivo.executors import (
    DaskExecutor,
    Executor,
    PoolStats,
    RenderFuture,
    WorkerPool,
    make_executor,
    workers_for,
)
from derivo.pipeline import PhotoResult, Pipeline
from derivo.render import render
from derivo.specs import DEFAULT_SPECS, PREVIEW, THUMBNAIL, Spec, SpecSet
from derivo.tasks import Derivative, Limits, RenderResult, RenderTask

__all__ = [
    "DEFAULT_SPECS",
    "PREVIEW",
    "THUMBNAIL",
    "CacheError",
    "ClusterError",
    "CorruptImage",
    "DaskExecutor",
    "Derivative",
    "DerivativeCache",
    "DerivoError",
    "Executor",
    "FileStat",
    "InputError",
    "LimitExceeded",
    "Limits",
    "PhotoRecord",
    "PhotoResult",
    "Pipeline",
    "PoolStats",
    "QueueFull",
    "RenderFailed",
    "RenderFuture",
    "RenderResult",
    "RenderTask",
    "Spec",
    "SpecError",
    "SpecSet",
    "TaskTimeout",
    "UnsupportedFormat",
    "WorkerCrashed",
    "WorkerPool",
    "make_executor",
    "render",
    "workers_for",
]
