"""The one exception tree of derivo.

::

    DerivoError
    ├── InputError                 permanent: the photo itself is at fault, never retried
    │   ├── UnsupportedFormat      not an image, or a format derivo does not decode
    │   ├── CorruptImage           truncated or damaged data
    │   └── LimitExceeded          over the pixel or byte limit (decompression bombs)
    ├── SpecError                  a derivative spec or spec file is invalid
    ├── CacheError                 the cache database cannot be used (e.g. newer schema)
    ├── QueueFull                  the executor's bounded queue is full; try again later
    └── RenderFailed               transient: retried a bounded number of times
        ├── WorkerCrashed          the worker process died (segfault, OOM kill)
        └── TaskTimeout            the task ran over its time limit and was killed

Every leaf carries a one-line human reason in ``str(error)``.
"""

from __future__ import annotations


class DerivoError(Exception):
    """Root of every error derivo raises on purpose."""

    kind = "error"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InputError(DerivoError):
    """The source photo cannot be rendered; retrying will not help."""

    kind = "input"


class UnsupportedFormat(InputError):
    kind = "unsupported"


class CorruptImage(InputError):
    kind = "corrupt"


class LimitExceeded(InputError):
    kind = "limit"


class SpecError(DerivoError):
    kind = "spec"


class CacheError(DerivoError):
    kind = "cache"


class QueueFull(DerivoError):
    kind = "queue-full"


class RenderFailed(DerivoError):
    """A render that failed for a reason outside the photo; worth retrying."""

    kind = "failed"


class WorkerCrashed(RenderFailed):
    kind = "crashed"


class TaskTimeout(RenderFailed):
    kind = "timeout"


_BY_KIND: dict[str, type[DerivoError]] = {
    cls.kind: cls
    for cls in (
        DerivoError,
        InputError,
        UnsupportedFormat,
        CorruptImage,
        LimitExceeded,
        RenderFailed,
        WorkerCrashed,
        TaskTimeout,
    )
}


def error_from_kind(kind: str, reason: str) -> DerivoError:
    """Rebuild a typed error from its recorded ``kind`` and reason."""
    return _BY_KIND.get(kind, DerivoError)(reason)
