"""What the cache knows about a photo: its state, its file as last seen, its record."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from derivo.capture import Captured


class PhotoStatus(StrEnum):
    """Where a photo is on its way to its derivatives; kept in SQLite, so it survives restarts.

    ::

        upload ──► PENDING ──submitted──► PROCESSING ──rendered──────────► DONE
                     ▲ ▲ ▲                 │      │                          │
                     │ │ └─ queue full, ───┘      └─ input error, crash, ─► FAILED
                     │ │    cancelled, interrupted   timeout                 │
                     │ └─── a derivative file is gone ────────────── DONE    │
                     └───── retried: failed, but not the photo's fault ──────┘

    Only :class:`~derivo.cache.DerivativeCache` writes it. A change that depends on
    the state the photo is in names that state (``mark_pending(photo_id, expected=DONE)``)
    and raises :class:`~derivo.errors.IllegalTransition` if the photo has moved on.
    The pipeline records where a submitted photo ends up (``processing``,
    ``done``, ``failed``) whatever its state before: any photo may be processed again.
    """

    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


STATUSES: tuple[PhotoStatus, ...] = tuple(PhotoStatus)


@dataclass(frozen=True, kw_only=True)
class FileStat:
    """What the quick check compares: unchanged means the recorded hash still holds."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileStat:
        st = path.stat()
        return cls(size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino)


@dataclass(frozen=True, kw_only=True)
class PhotoRecord:
    id: str
    source: str
    stat: FileStat | None
    hash: str | None
    status: PhotoStatus
    error: str | None
    error_kind: str | None
    error_key: str | None
    attempts: int
    width: int | None
    height: int | None
    created_at: float
    updated_at: float
    name: str | None = None
    captured: Captured | None = None


def photo_record(row: sqlite3.Row) -> PhotoRecord:
    """A ``photos`` row as a record."""
    stat = None
    if row["size"] is not None:
        stat = FileStat(size=row["size"], mtime_ns=row["mtime_ns"], inode=row["inode"])
    return PhotoRecord(
        id=row["id"],
        source=row["source"],
        stat=stat,
        hash=row["hash"],
        status=PhotoStatus(row["status"]),
        error=row["error"],
        error_kind=row["error_kind"],
        error_key=row["error_key"],
        attempts=row["attempts"],
        width=row["width"],
        height=row["height"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        name=row["name"],
        captured=Captured(
            at=row["captured_at"], offset=row["captured_offset"], source=row["captured_from"]
        ),
    )


def states(expected: PhotoStatus | Iterable[PhotoStatus] | None) -> list[PhotoStatus]:
    """``expected`` as a list of states (empty: any state)."""
    if expected is None:
        return []
    if isinstance(expected, str):
        return [PhotoStatus(expected)]
    return [PhotoStatus(s) for s in expected]
