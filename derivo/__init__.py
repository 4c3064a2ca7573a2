"""derivo: photo derivatives (thumbnails, previews) fast, in parallel, and never twice."""

from derivo.cache import DerivativeCache, FileStat, PhotoRecord
from derivo.errors import (
    CacheError,
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
    Executor,
    InlineExecutor,
    PoolStats,
    RenderFuture,
    WorkerPool,
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
    "CorruptImage",
    "Derivative",
    "DerivativeCache",
    "DerivoError",
    "Executor",
    "FileStat",
    "InlineExecutor",
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
    "render",
    "workers_for",
]
