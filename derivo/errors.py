"""The one exception tree of derivo.

::

    DerivoError
    ├── InputError                 permanent: the photo itself is at fault, never retried
    │   ├── UnsupportedFormat      not an image, or a format derivo does not decode
    │   ├── CorruptImage           truncated or damaged data
    │   └── LimitExceeded          over the pixel or byte limit (decompression bombs)
    ├── UploadStalled              the client sent nothing of its upload for too long; dropped
    │                              (the client's connection, not the photo, is at fault)
    ├── SpecError                  a derivative spec or spec file is invalid
    ├── ConfigError                a config file or setting is invalid
    ├── CacheError                 the cache database cannot be used (damaged, newer schema,
    │   │                          locked); the reason names the file and the way out
    │   └── CacheFull              its device is full (also a StorageFull)
    ├── StorageFull                no space left where derivo writes: retry once space is freed
    ├── OutputError                a file outside the cache (a mirror name, the results spool)
    │                              cannot be written (not a folder, no permission)
    ├── FolderLocked               another derivo run holds the output folder's lock
    ├── QueueFull                  the executor's bounded queue is full; try again later
    ├── ClusterError               a Dask cluster cannot be used (unreachable, workers unfit)
    ├── PhotoFailed                the photo was recorded as failed; asked for its derivative
    ├── NotFound                   asked the service for something it does not have
    │   ├── UnknownPhoto           no photo with that id
    │   ├── UnknownSpec            no derivative spec with that name
    │   └── UnknownVersion         not the spec's current fingerprint
    ├── Busy                       the photo is being rendered; try again once it is done
    ├── Unauthorized               a write without the right bearer token
    ├── IllegalTransition          a photo is not in the state a change of state expects
    └── RenderFailed               not the photo's fault (e.g. unreadable now): tried again
        │                          on the next run, never recorded as a verdict on the photo
        ├── SourceMissing          the source file is gone (deleted or moved since it was found)
        ├── WorkerCrashed          the worker died (segfault, OOM kill); the pool retries it
        └── TaskTimeout            over its time limit and killed; the pool retries it

Every leaf carries a one-line human reason in ``str(error)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


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


class UploadStalled(DerivoError):
    """A slow or stalled client, not a bad photo: nothing of the upload is kept or recorded."""

    kind = "upload-stalled"


class SpecError(DerivoError):
    kind = "spec"


class ConfigError(DerivoError):
    kind = "config"


class CacheError(DerivoError):
    kind = "cache"


class StorageFull(DerivoError):
    """A write found its device full (ENOSPC, EDQUOT); nothing half-written is kept."""

    kind = "storage-full"


class OutputError(DerivoError):
    """A file derivo writes for the caller beside the cache cannot be written."""

    kind = "output"


class CacheFull(CacheError, StorageFull):
    kind = "storage-full"


class ClusterError(DerivoError):
    """The cluster is unreachable, or its workers cannot run derivo's tasks as configured."""

    kind = "cluster"


class FolderLocked(DerivoError):
    kind = "locked"


class QueueFull(DerivoError):
    """``photo`` is what the service kept meanwhile (JSON-ready), shown with the error."""

    kind = "queue-full"

    def __init__(self, reason: str, *, photo: Mapping[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.photo = photo


class PhotoFailed(DerivoError):
    """Carries the photo's own recorded failure: its reason and kind."""

    def __init__(self, reason: str, *, kind: str | None = None) -> None:
        super().__init__(reason)
        self.kind = kind or "failed"


class NotFound(DerivoError):
    kind = "not-found"


class UnknownPhoto(NotFound):
    kind = "unknown-photo"


class UnknownSpec(NotFound):
    kind = "unknown-spec"


class UnknownVersion(NotFound):
    kind = "unknown-version"


class Busy(DerivoError):
    kind = "busy"


class Unauthorized(DerivoError):
    kind = "unauthorized"


class IllegalTransition(DerivoError):
    kind = "illegal-transition"


class RenderFailed(DerivoError):
    """A render that failed for a reason outside the photo; a later run tries again."""

    kind = "failed"


class SourceMissing(RenderFailed):
    kind = "missing"


class WorkerCrashed(RenderFailed):
    kind = "crashed"


class TaskTimeout(RenderFailed):
    kind = "timeout"
