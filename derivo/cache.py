"""The derivative cache: one SQLite file that knows every photo and derivative.

Photos are keyed by the caller's id and carry their source's BLAKE3 hash and
state; derivatives are keyed by (source hash, spec fingerprint), so identical
sources share them and a changed spec misses exactly where it should. Derivative
locations are stored relative to the output root, so the output folder may be
moved or mounted elsewhere. Only the coordinator writes; a lock makes one
connection safe across its threads. Older schemas are migrated in place, in one
transaction, by the ordered :data:`MIGRATIONS`.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from derivo.errors import CacheError, IllegalTransition, UnknownPhoto
from derivo.specs import Spec
from derivo.tasks import Derivative

SCHEMA_VERSION = 2


class PhotoStatus(StrEnum):
    """Where a photo is on its way to its derivatives; kept in SQLite, so it survives restarts.

    ::

        upload ──► PENDING ──submitted──► PROCESSING ──rendered──────────► DONE
                     ▲ ▲ ▲                 │      │                          │
                     │ │ └─ queue full, ───┘      └─ input error, crash, ─► FAILED
                     │ │    cancelled, interrupted   timeout                 │
                     │ └─── a derivative file is gone ────────────── DONE    │
                     └───── retried: failed, but not the photo's fault ──────┘

    Only :class:`DerivativeCache` writes it. A change that depends on the state
    the photo is in names that state (``mark_pending(photo_id, expected=DONE)``)
    and raises :class:`~derivo.errors.IllegalTransition` if the photo has moved on.
    The pipeline records where a submitted photo ends up (``processing``,
    ``done``, ``failed``) whatever its state before: any photo may be processed again.
    """

    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


#: Kept for code that names the type of a status; the same enum.
Status = PhotoStatus
STATUSES: tuple[PhotoStatus, ...] = tuple(PhotoStatus)
#: The cache's file name inside an output folder, unless told otherwise.
DB_NAME = "derivo.db"

_SCHEMA = """
CREATE TABLE photos (
    id          TEXT PRIMARY KEY,
    source      TEXT NOT NULL,
    size        INTEGER,
    mtime_ns    INTEGER,
    inode       INTEGER,
    hash        TEXT,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'done', 'failed')),
    error       TEXT,
    error_kind  TEXT,
    error_key   TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    width       INTEGER,
    height      INTEGER,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE INDEX photos_by_hash ON photos (hash);
CREATE INDEX photos_by_status ON photos (status, id);
CREATE TABLE derivatives (
    hash        TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    spec        TEXT NOT NULL,
    path        TEXT NOT NULL,  -- relative to the output root, '/'-separated
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    format      TEXT NOT NULL,
    created_at  REAL NOT NULL,
    PRIMARY KEY (hash, fingerprint)
);
"""


def _relative_paths(db: sqlite3.Connection) -> None:
    """Version 1 stored absolute derivative paths; keep ``<hh>/<hash>/<file>`` of each."""
    rows = db.execute("SELECT rowid, hash, path FROM derivatives").fetchall()
    for rowid, source_hash, path in rows:
        parts = Path(path).parts
        if len(parts) < 3 or parts[-2] != source_hash or parts[-3] != source_hash[:2]:
            raise CacheError(f"cannot migrate derivative path {path}: not <hh>/<hash>/<file>")
        relative = "/".join(parts[-3:])
        db.execute("UPDATE derivatives SET path = ? WHERE rowid = ?", (relative, rowid))


#: ``MIGRATIONS[n - 1]`` turns a version ``n`` database into version ``n + 1``.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_relative_paths,)


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


class DerivativeCache:
    """SQLite-backed record of photos and derivatives. Use as a context manager.

    A connection passed in must be made with ``check_same_thread=False``: results
    are recorded from the executor's thread. Every commit survives the process
    being killed; with ``durable`` it also survives a power loss (an fsync per
    commit: the service, which promises an accepted upload is never lost, turns
    it on).

    ``root`` is the output folder derivative paths are relative to: by default the
    database's own folder (the CLI's ``OUT/derivo.db``), or the current directory
    for an in-memory database or a connection passed in.

    >>> with DerivativeCache(":memory:") as cache:
    ...     cache.counts()["done"]
    0
    """

    def __init__(
        self,
        path_or_connection: str | Path | sqlite3.Connection,
        *,
        root: str | Path | None = None,
        durable: bool = False,
    ) -> None:
        if root is None:
            if isinstance(path_or_connection, sqlite3.Connection):
                root = Path.cwd()
            elif str(path_or_connection) == ":memory:":
                root = Path.cwd()
            else:
                root = Path(path_or_connection).parent
        self.root = Path(root).resolve()
        self._owns_connection = not isinstance(path_or_connection, sqlite3.Connection)
        if isinstance(path_or_connection, sqlite3.Connection):
            self._db = path_or_connection
        else:
            if str(path_or_connection) != ":memory:":
                Path(path_or_connection).parent.mkdir(parents=True, exist_ok=True)
            try:
                self._db = sqlite3.connect(
                    path_or_connection, check_same_thread=False, isolation_level=None
                )
            except sqlite3.Error as exc:
                raise CacheError(
                    f"cannot open cache database {path_or_connection}: {exc}"
                ) from None
        self._lock = threading.RLock()
        self._db.row_factory = sqlite3.Row
        self._migrate("FULL" if durable else "NORMAL")

    def _migrate(self, synchronous: str) -> None:
        try:
            self._db.execute("PRAGMA busy_timeout = 10000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute(f"PRAGMA synchronous = {synchronous}")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise CacheError(
                    f"cache database has schema version {version}, newer than this derivo "
                    f"understands ({SCHEMA_VERSION}); upgrade derivo or use another --db"
                )
            if version == 0:
                with self._lock:
                    self._db.executescript(
                        f"BEGIN; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                    )
            elif version < SCHEMA_VERSION:
                with self._transaction() as db:
                    for step in MIGRATIONS[version - 1 :]:
                        step(db)
                    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise CacheError(f"cannot use cache database: {exc}") from None

    def close(self) -> None:
        """Close the database, unless the caller passed the connection in (theirs to close)."""
        if self._owns_connection:
            with self._lock:
                self._db.close()

    def __enter__(self) -> DerivativeCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._db.in_transaction:
                yield self._db
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    # Photos

    def photo(self, photo_id: str) -> PhotoRecord | None:
        rows = self._query("SELECT * FROM photos WHERE id = ?", (photo_id,))
        return _photo(rows[0]) if rows else None

    def photo_by_hash(self, source_hash: str) -> PhotoRecord | None:
        """The oldest photo with these exact bytes, for deduplicating uploads."""
        rows = self._query(
            "SELECT * FROM photos WHERE hash = ? ORDER BY created_at, id LIMIT 1", (source_hash,)
        )
        return _photo(rows[0]) if rows else None

    def put_photo(
        self,
        photo_id: str,
        *,
        source: str,
        stat: FileStat | None,
        source_hash: str | None,
        status: PhotoStatus = PhotoStatus.PENDING,
    ) -> None:
        """Insert or update a photo's source and hash, and set its state."""
        now = time.time()
        size, mtime, inode = (stat.size, stat.mtime_ns, stat.inode) if stat else (None, None, None)
        with self._transaction() as db:
            db.execute(
                """INSERT INTO photos (id, source, size, mtime_ns, inode, hash, status,
                                       created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (id) DO UPDATE SET
                       source = excluded.source, size = excluded.size,
                       mtime_ns = excluded.mtime_ns, inode = excluded.inode,
                       hash = excluded.hash, status = excluded.status,
                       updated_at = excluded.updated_at""",
                (photo_id, source, size, mtime, inode, source_hash, status, now, now),
            )

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
        allowed = _states(expected)
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
        return [_photo(r) for r in self._query(sql, [*params, limit])]

    def counts(self) -> dict[PhotoStatus, int]:
        counts: dict[PhotoStatus, int] = dict.fromkeys(PhotoStatus, 0)
        for row in self._query("SELECT status, COUNT(*) AS n FROM photos GROUP BY status"):
            counts[PhotoStatus(row["status"])] = row["n"]
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

    # Derivatives

    def derivatives(self, source_hash: str, specs: Iterable[Spec]) -> dict[str, Derivative]:
        """Recorded derivatives of ``source_hash`` for ``specs``, by spec name."""
        wanted = {spec.fingerprint: spec for spec in specs}
        rows = self._query(
            f"SELECT * FROM derivatives WHERE hash = ? AND fingerprint IN "
            f"({', '.join('?' * len(wanted))})",
            [source_hash, *wanted],
        )
        return {
            wanted[r["fingerprint"]].name: Derivative(
                spec=wanted[r["fingerprint"]].name,
                path=self._absolute(r["path"]),
                width=r["width"],
                height=r["height"],
                bytes=r["bytes"],
                format=r["format"],
            )
            for r in rows
        }

    def missing(self, source_hash: str, specs: Iterable[Spec]) -> tuple[Spec, ...]:
        """Specs with no recorded derivative for ``source_hash``, or whose file is gone."""
        specs = tuple(specs)
        have = self.derivatives(source_hash, specs)
        return tuple(
            s for s in specs if s.name not in have or not Path(have[s.name].path).is_file()
        )

    def record(self, source_hash: str, specs: Iterable[Spec], made: Iterable[Derivative]) -> None:
        """Record derivatives written for ``source_hash`` (call only after they are on disk)."""
        by_name = {spec.name: spec for spec in specs}
        now = time.time()
        with self._transaction() as db:
            db.executemany(
                """INSERT OR REPLACE INTO derivatives
                   (hash, fingerprint, spec, path, width, height, bytes, format, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    (
                        source_hash,
                        by_name[d.spec].fingerprint,
                        d.spec,
                        self._relative(d.path),
                        d.width,
                        d.height,
                        d.bytes,
                        d.format,
                        now,
                    )
                    for d in made
                ],
            )

    # Queries for listing and cleaning

    def recorded(self, source_hash: str | None = None) -> list[tuple[str, str, Derivative]]:
        """Every recorded derivative as (hash, fingerprint, derivative), whatever spec made it;
        of one source when ``source_hash`` is given. Ordered by hash, spec, newest first."""
        sql = "SELECT * FROM derivatives"
        params: list[str] = []
        if source_hash is not None:
            sql += " WHERE hash = ?"
            params.append(source_hash)
        rows = self._query(sql + " ORDER BY hash, spec, created_at DESC", params)
        return [
            (
                r["hash"],
                r["fingerprint"],
                Derivative(
                    spec=r["spec"],
                    path=self._absolute(r["path"]),
                    width=r["width"],
                    height=r["height"],
                    bytes=r["bytes"],
                    format=r["format"],
                ),
            )
            for r in rows
        ]

    def forget_derivatives(self, keys: Iterable[tuple[str, str]]) -> None:
        """Forget the derivatives recorded under these (hash, fingerprint) keys."""
        with self._transaction() as db:
            db.executemany("DELETE FROM derivatives WHERE hash = ? AND fingerprint = ?", keys)

    # Derivative locations: absolute for callers, relative to the root on disk

    def _absolute(self, stored: str) -> str:
        return str(self.root / stored)

    def _relative(self, path: str) -> str:
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            pass
        try:
            return Path(path).resolve().relative_to(self.root).as_posix()
        except ValueError:
            raise CacheError(
                f"derivative {path} is outside the output folder {self.root}"
            ) from None


def _states(expected: PhotoStatus | Iterable[PhotoStatus] | None) -> list[PhotoStatus]:
    if expected is None:
        return []
    if isinstance(expected, str):
        return [PhotoStatus(expected)]
    return [PhotoStatus(s) for s in expected]


def _photo(row: sqlite3.Row) -> PhotoRecord:
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
    )
