"""derivo: photo derivatives (thumbnails, previews) fast, in parallel, and never twice.

``import derivo`` does not start libvips: :func:`render` loads it on first use, so
``derivo status`` and ``--help`` stay quick. The cache, the executors and the
pipeline are imported when first asked for too: a render worker imports this
package before :mod:`derivo.render`, and needs none of them.
"""

import importlib
import sys
import types
import typing

from derivo.errors import (
    CacheError,
    CacheFull,
    ClusterError,
    ConfigError,
    CorruptImage,
    DerivoError,
    FolderLocked,
    InputError,
    LimitExceeded,
    OutputError,
    QueueFull,
    RenderFailed,
    SourceMissing,
    SpecError,
    StorageFull,
    TaskTimeout,
    UnsupportedFormat,
    UploadStalled,
    WorkerCrashed,
)
from derivo.specs import DEFAULT_SPECS, PREVIEW, THUMBNAIL, Spec, SpecSet
from derivo.tasks import Derivative, Limits, RenderResult, RenderTask

if typing.TYPE_CHECKING:
    from collections.abc import Callable

    from derivo.cache import DerivativeCache, FileStat, PhotoRecord, PhotoStatus
    from derivo.executors import (
        Executor,
        InlineExecutor,
        PoolStats,
        RenderFuture,
        WorkerPool,
        make_executor,
        workers_for,
    )
    from derivo.executors.dask import DaskExecutor
    from derivo.oneshot import thumbnail
    from derivo.pipeline import PhotoResult, Pipeline

#: Public names imported when first asked for, and the module each comes from. Type
#: checkers read the TYPE_CHECKING imports above instead, which they need spelled out;
#: a test keeps the two naming the same.
_LAZY = {
    **dict.fromkeys(("DerivativeCache", "FileStat", "PhotoRecord", "PhotoStatus"), "cache"),
    **dict.fromkeys(
        (
            "DaskExecutor",
            "Executor",
            "InlineExecutor",
            "PoolStats",
            "RenderFuture",
            "WorkerPool",
            "make_executor",
            "workers_for",
        ),
        "executors",
    ),
    "thumbnail": "oneshot",
    "PhotoResult": "pipeline",
    "Pipeline": "pipeline",
}

__all__ = [
    "DEFAULT_SPECS",
    "PREVIEW",
    "THUMBNAIL",
    "CacheError",
    "CacheFull",
    "ClusterError",
    "ConfigError",
    "CorruptImage",
    "DaskExecutor",
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
    "OutputError",
    "PhotoRecord",
    "PhotoResult",
    "PhotoStatus",
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
    "StorageFull",
    "TaskTimeout",
    "UnsupportedFormat",
    "UploadStalled",
    "WorkerCrashed",
    "WorkerPool",
    "make_executor",
    "render",
    "thumbnail",
    "workers_for",
]


class _Package(types.ModuleType):
    @property
    def render(self) -> "Callable[[RenderTask], RenderResult]":
        """:func:`derivo.render.render`, imported (with libvips) when first asked for."""
        from derivo.render import render

        return render

    @render.setter
    def render(self, submodule: types.ModuleType) -> None:
        """The import system sets the submodule here on its first import; the function stays."""


def __getattr__(name: str) -> typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"derivo.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "render"})


sys.modules[__name__].__class__ = _Package
