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
    ├── ClusterError               a Dask cluster cannot be used (unreachable, workers unfit)
    └── RenderFailed               not the photo's fault (e.g. unreadable now): tried again
        │                          on the next run, never recorded as a verdict on the photo
        ├── WorkerCrashed          the worker died (segfault, OOM kill); the pool retries it
        └── TaskTimeout            over its time limit and killed; the pool retries it

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


class ClusterError(DerivoError):
    """The cluster is unreachable, or its workers cannot run derivo's tasks as configured."""

    kind = "cluster"


class QueueFull(DerivoError):
    kind = "queue-full"


class RenderFailed(DerivoError):
    """A render that failed for a reason outside the photo; a later run tries again."""

    kind = "failed"


class WorkerCrashed(RenderFailed):
    kind = "crashed"


class TaskTimeout(RenderFailed):
    kind = "timeout"
