"""The ``photos`` table: each photo's source, hash and state."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from derivo.cache.records import FileStat, PhotoRecord, PhotoStatus, photo_record, states
from derivo.cache.store import Store
from derivo.capture import Captured, CapturedFrom
from derivo.errors import IllegalTransition, UnknownPhoto

_IN_CHUNK = 500  # ids per ``IN (...)`` list, well under SQLite's limit on parameters
_PUT_PHOTO = """INSERT INTO photos (id, source, size, mtime_ns, inode, hash, status,
                                   created_at, updated_at,
                                   name, captured_at, captured_offset, captured_from)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET
                    source = excluded.source, size = excluded.size,
                    mtime_ns = excluded.mtime_ns, inode = excluded.inode,
                    hash = excluded.hash, status = excluded.status,
                    error = CASE WHEN excluded.status = 'failed' THEN error END,
                    error_kind = CASE WHEN excluded.status = 'failed' THEN error_kind END,
                    error_key = CASE WHEN excluded.status = 'failed' THEN error_key END,
                    updated_at = excluded.updated_at"""

#: Orders for :meth:`Photos.photos_in_order`, newest first: their column.
ORDER_COLUMNS = {"captured": "captured_at", "uploaded": "created_at"}


class Photos(Store):
    """Photos keyed by the caller's id."""

    def photo(self, photo_id: str) -> PhotoRecord | None:
        rows = self._query("SELECT * FROM photos WHERE id = ?", (photo_id,))
        return photo_record(rows[0]) if rows else None

    def photo_by_hash(self, source_hash: str) -> PhotoRecord | None:
        """The oldest photo with these exact bytes, for deduplicating uploads."""
        rows = self._query(
            "SELECT * FROM photos WHERE hash = ? ORDER BY created_at, id LIMIT 1", (source_hash,)
        )
        return photo_record(rows[0]) if rows else None

    def put_photo(
        self,
        photo_id: str,
        *,
        source: str,
        stat: FileStat | None,
        source_hash: str | None,
        status: PhotoStatus = PhotoStatus.PENDING,
        name: str | None = None,
        captured: Captured | None = None,
        captured_fallback: CapturedFrom = "recorded",
    ) -> None:
        """Insert or update a photo's source and hash, and set its state.

        ``name`` and ``captured`` are kept from the first insert; without a capture
        time the photo sorts by the time it was first recorded (``captured_fallback``
        says what that time was, e.g. ``upload``).
        """
        now = time.time()
        size, mtime, inode = (stat.size, stat.mtime_ns, stat.inode) if stat else (None, None, None)
        captured = captured or Captured.fallback(now, captured_fallback)
        with self._transaction() as db:
            db.execute(
                _PUT_PHOTO,
                (
                    photo_id,
                    source,
                    size,
                    mtime,
                    inode,
                    source_hash,
                    status,
                    now,
                    now,
                    name,
                    captured.at,
                    captured.offset,
                    captured.source,
                ),
            )

    def put_photos(
        self, photos: Iterable[tuple[str, str, FileStat | None, str | None, PhotoStatus]]
    ) -> None:
        """:meth:`put_photo` for many ``(id, source, stat, hash, status)`` in one statement."""
        now = time.time()
        captured = Captured.fallback(now, "recorded")
        rows = [
            (
                photo_id,
                source,
                *((stat.size, stat.mtime_ns, stat.inode) if stat else (None, None, None)),
                source_hash,
                status,
                now,
                now,
                None,
                captured.at,
                captured.offset,
                captured.source,
            )
            for photo_id, source, stat, source_hash, status in photos
        ]
        if rows:
            with self._transaction() as db:
                db.executemany(_PUT_PHOTO, rows)

    def set_status(
        self,
        photo_id: str,
        status: PhotoStatus,
        *,
        expected: PhotoStatus | Iterable[PhotoStatus] | None = None,
        error: str | None = None,
        error_kind: str | None = None,
        error_key: str | None = None,
        attempts: int | None = None,
        size: tuple[int, int] | None = None,
    ) -> None:
        """Move a photo to ``status``; an error is kept only with ``failed``.

        With ``expected``, only from that state (or one of those states): otherwise
        :class:`~derivo.errors.IllegalTransition`, or
        :class:`~derivo.errors.UnknownPhoto` for a photo that is not recorded.
        """
        status = PhotoStatus(status)
        sql = """UPDATE photos SET status = ?, error = ?, error_kind = ?, error_key = ?,
                     attempts = COALESCE(?, attempts),
                     width = COALESCE(?, width), height = COALESCE(?, height),
                     updated_at = ?
                 WHERE id = ?"""
        params: list[Any] = [
            status,
            error if status is PhotoStatus.FAILED else None,
            error_kind if status is PhotoStatus.FAILED else None,
            error_key if status is PhotoStatus.FAILED else None,
            attempts,
            size[0] if size else None,
            size[1] if size else None,
            time.time(),
            photo_id,
        ]
        allowed = states(expected)
        if allowed:
            sql += f" AND status IN ({', '.join('?' * len(allowed))})"
            params += allowed
        with self._transaction() as db:
            if db.execute(sql, params).rowcount == 0 and allowed:
                self._refuse(photo_id, status, allowed)

    def _refuse(self, photo_id: str, status: PhotoStatus, allowed: list[PhotoStatus]) -> None:
        record = self.photo(photo_id)
        if record is None:
            raise UnknownPhoto(f"no photo {photo_id}")
        raise IllegalTransition(
            f"photo {photo_id} is {record.status}, not {' or '.join(allowed)}: "
            f"cannot make it {status}"
        )

    def mark_pending(self, photo_id: str, *, expected: PhotoStatus | Iterable[PhotoStatus]) -> None:
        """Queue a photo again: from ``processing`` (interrupted), ``done`` (a derivative
        file is gone) or ``failed`` (not the photo's fault); its error is cleared."""
        self.set_status(photo_id, PhotoStatus.PENDING, expected=expected)

    def photos(
        self, *, status: PhotoStatus | None = None, after: str | None = None, limit: int = 100
    ) -> list[PhotoRecord]:
        """Photos ordered by id, ``limit`` at a time from the cursor ``after``."""
        sql, params = "SELECT * FROM photos WHERE id > ?", [after or ""]
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        sql += " ORDER BY id LIMIT ?"
        return [photo_record(r) for r in self._query(sql, [*params, limit])]

    def photos_in_order(
        self,
        order: str,
        *,
        status: PhotoStatus | None = None,
        after: tuple[float, str] | None = None,
        limit: int = 100,
    ) -> list[PhotoRecord]:
        """Photos newest first by ``order`` (see :data:`ORDER_COLUMNS`), from the cursor ``after``.

        The cursor is the last row's (key, id): a keyset, so photos added or removed
        meanwhile never shift a page (no photo seen twice, none skipped).
        """
        column = ORDER_COLUMNS[order]
        sql = "SELECT * FROM photos"
        params: list[object] = []
        where = []
        if after is not None:
            where.append(f"({column}, id) < (?, ?)")
            params.extend(after)
        if status is not None:
            where.append("status = ?")
            params.append(str(status))
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {column} DESC, id DESC LIMIT ?"
        return [photo_record(r) for r in self._query(sql, [*params, limit])]

    def photos_by_id(self, ids: Sequence[str]) -> dict[str, PhotoRecord]:
        """The recorded photos among ``ids`` (primary-key lookups, ``_IN_CHUNK`` per query)."""
        found: dict[str, PhotoRecord] = {}
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            rows = self._query(
                f"SELECT * FROM photos WHERE id IN ({', '.join('?' * len(chunk))})", chunk
            )
            found.update((row["id"], photo_record(row)) for row in rows)
        return found

    def counts(self) -> dict[PhotoStatus, int]:
        """Photos in each state, from the counts the schema's triggers keep in step."""
        counts: dict[PhotoStatus, int] = dict.fromkeys(PhotoStatus, 0)
        for status, n in self._tuples("SELECT status, n FROM photo_counts"):
            counts[PhotoStatus(status)] = n
        return counts

    def delete_photo(self, photo_id: str) -> list[str]:
        """Forget a photo; returns the derivative paths no other photo uses, to remove."""
        with self._transaction() as db:
            row = db.execute("SELECT hash FROM photos WHERE id = ?", (photo_id,)).fetchone()
            db.execute("DELETE FROM photos WHERE id = ?", (photo_id,))
            if row is None or row["hash"] is None:
                return []
            shared = db.execute("SELECT 1 FROM photos WHERE hash = ? LIMIT 1", (row["hash"],))
            if shared.fetchone():
                return []
            paths = [
                self._absolute(r["path"])
                for r in db.execute("SELECT path FROM derivatives WHERE hash = ?", (row["hash"],))
            ]
            db.execute("DELETE FROM derivatives WHERE hash = ?", (row["hash"],))
            return paths
