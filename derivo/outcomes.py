"""What became of one submitted photo: rendered, cached, failed or pending.

Every :class:`PhotoResult` is made by one of its named constructors, so each outcome
carries the same fields wherever the pipeline decides it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from derivo.cache import PhotoRecord
from derivo.errors import DerivoError, StorageFull
from derivo.tasks import Derivative, RenderResult

Outcome = Literal["rendered", "cached", "failed", "pending"]


def printable(path: Path | str) -> str:
    """``str(path)`` with undecodable bytes shown as ``\\xNN`` escapes, safe to store."""
    if isinstance(path, str) and path.isascii():  # most names: nothing to escape
        return path
    return os.fsencode(path).decode("utf-8", "backslashreplace")


@dataclass(frozen=True, kw_only=True, slots=True)
class PhotoResult:
    """What became of one submitted photo."""

    photo_id: str
    source: str
    source_hash: str | None
    outcome: Outcome
    derivatives: dict[str, Derivative] = field(default_factory=dict)
    width: int | None = None
    height: int | None = None
    error: str | None = None
    error_kind: str | None = None
    attempts: int = 0
    render_seconds: float = 0.0
    peak_rss_kb: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome in ("rendered", "cached")

    @classmethod
    def rendered(
        cls,
        photo_id: str,
        source: str,
        source_hash: str,
        result: RenderResult,
        derivatives: dict[str, Derivative],
        attempts: int,
    ) -> PhotoResult:
        return cls(
            photo_id=photo_id,
            source=source,
            source_hash=source_hash,
            outcome="rendered",
            derivatives=derivatives,
            width=result.width,
            height=result.height,
            attempts=attempts,
            render_seconds=result.seconds,
            peak_rss_kb=result.peak_rss_kb,
        )

    @classmethod
    def cached(
        cls,
        photo_id: str,
        source: str,
        source_hash: str,
        derivatives: dict[str, Derivative],
        record: PhotoRecord | None,
    ) -> PhotoResult:
        """Nothing rendered: every derivative was recorded and on disk."""
        size = (record.width, record.height) if record else (None, None)
        return cls.unchanged(photo_id, source, source_hash, derivatives, size)

    @classmethod
    def unchanged(
        cls,
        photo_id: str,
        source: str,
        source_hash: str,
        derivatives: dict[str, Derivative],
        size: tuple[int | None, int | None],
    ) -> PhotoResult:
        """Cached, answered by the quick check alone: nothing recorded, nothing rendered."""
        return cls(
            photo_id=photo_id,
            source=source,
            source_hash=source_hash,
            outcome="cached",
            derivatives=derivatives,
            width=size[0],
            height=size[1],
        )

    @classmethod
    def shared(
        cls,
        photo_id: str,
        source: str,
        source_hash: str,
        result: RenderResult,
        derivatives: dict[str, Derivative],
    ) -> PhotoResult:
        """Cached: its bytes were rendered once, for another photo waiting on the same render."""
        size = (result.width, result.height)
        return cls.unchanged(photo_id, source, source_hash, derivatives, size)

    @classmethod
    def failed(
        cls,
        photo_id: str,
        source: str,
        source_hash: str | None,
        error: DerivoError | str,
        *,
        kind: str | None = None,
        attempts: int = 0,
    ) -> PhotoResult:
        """Failed with ``error`` (its kind taken from the error unless given)."""
        if isinstance(error, DerivoError):
            kind = kind or error.kind
        return cls(
            photo_id=photo_id,
            source=source,
            source_hash=source_hash,
            outcome="failed",
            error=str(error),
            error_kind=kind,
            attempts=attempts,
        )

    @classmethod
    def recorded_failure(cls, record: PhotoRecord) -> PhotoResult:
        """The failure recorded earlier for these same bytes, specs and limits."""
        return cls(
            photo_id=record.id,
            source=record.source,
            source_hash=record.hash,
            outcome="failed",
            error=record.error,
            error_kind=record.error_kind,
            attempts=record.attempts,
        )

    @classmethod
    def pending(
        cls,
        photo_id: str,
        source: str,
        source_hash: str | None,
        why: BaseException | None = None,
    ) -> PhotoResult:
        """Not rendered (the run stopped first, or the disk is full); the next run picks it up."""
        full = isinstance(why, StorageFull)
        return cls(
            photo_id=photo_id,
            source=source,
            source_hash=source_hash,
            outcome="pending",
            error=str(why) if full else "not rendered: stopped before its turn",
            error_kind=StorageFull.kind if full else None,
        )
