"""derivo: photo derivatives (thumbnails, previews) fast, in parallel, and never twice."""

from derivo.cache import DerivativeCache, FileStat, PhotoRecord
from derivo.errors import (
    CacheError,
    ConfigError,
    CorruptImage,
    DerivoError,
    FolderLocked,
    InputError,
    LimitExceeded,
    QueueFull,
    RenderFailed,
    SourceMissing,
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
from derivo.oneshot import thumbnail
from derivo.pipeline import PhotoResult, Pipeline
from derivo.render import render
from derivo.specs import DEFAULT_SPECS, PREVIEW, THUMBNAIL, Spec, SpecSet
from derivo.tasks import Derivative, Limits, RenderResult, RenderTask

__all__ = [
    "DEFAULT_SPECS",
    "PREVIEW",
    "THUMBNAIL",
    "CacheError",
    "ConfigError",
    "CorruptImage",
    "Derivative",
    "DerivativeCache",
    "DerivoError",
    "Executor",
    "FileStat",
    "FolderLocked",
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
    "SourceMissing",
    "Spec",
    "SpecError",
    "SpecSet",
    "TaskTimeout",
    "UnsupportedFormat",
    "WorkerCrashed",
    "WorkerPool",
    "render",
    "thumbnail",
    "workers_for",
]
