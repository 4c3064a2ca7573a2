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

import contextlib
import errno
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from derivo.capture import Captured, CapturedFrom
from derivo.errors import CacheError, CacheFull, IllegalTransition, UnknownPhoto
from derivo.hashing import hash_file
from derivo.specs import Spec
from derivo.tasks import Derivative


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


STATUSES: tuple[PhotoStatus, ...] = tuple(PhotoStatus)
#: The cache's file name inside an output folder, unless told otherwise.
DB_NAME = "derivo.db"

#: Version 1; :data:`MIGRATIONS` takes it to :data:`SCHEMA_VERSION`, a new database too.
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
    path        TEXT NOT NULL,  -- absolute in version 1; relative to the root from version 4
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    format      TEXT NOT NULL,
    created_at  REAL NOT NULL,
    PRIMARY KEY (hash, fingerprint)
);
"""
_IN_CHUNK = 500  # ids per ``IN (...)`` list, well under SQLite's limit on parameters


def _photo_meta(db: sqlite3.Connection) -> None:
    """Who a photo is (uploaded name, capture time) and its placeholder; orders for listing."""
    for statement in (
        "ALTER TABLE photos ADD COLUMN name TEXT",
        "ALTER TABLE photos ADD COLUMN captured_at REAL",
        "ALTER TABLE photos ADD COLUMN captured_offset INTEGER",
        "ALTER TABLE photos ADD COLUMN captured_from TEXT",
        "UPDATE photos SET captured_at = created_at, captured_offset = 0, "
        "captured_from = 'recorded'",
        "CREATE INDEX photos_by_captured ON photos (captured_at, id)",
        "CREATE INDEX photos_by_created ON photos (created_at, id)",
        "ALTER TABLE derivatives ADD COLUMN thumbhash TEXT",
    ):
        db.execute(statement)


def _derivative_hashes(db: sqlite3.Connection) -> None:
    """Keep each derivative's BLAKE3 (NULL for files recorded before it was kept), so
    damage is found by ``--verify`` and ``derivo check``."""
    db.execute("ALTER TABLE derivatives ADD COLUMN blake3 TEXT")


def _relative_paths(db: sqlite3.Connection) -> None:
    """Store derivative paths relative to the output root (``<hh>/<hash>/<file>``, the
    tail every absolute one ends in), so the output folder may move."""
    rows = db.execute("SELECT rowid, hash, path FROM derivatives").fetchall()
    for rowid, source_hash, path in rows:
        parts = Path(path).parts
        if len(parts) < 3 or parts[-2] != source_hash or parts[-3] != source_hash[:2]:
            raise CacheError(f"cannot migrate derivative path {path}: not <hh>/<hash>/<file>")
        relative = "/".join(parts[-3:])
        db.execute("UPDATE derivatives SET path = ? WHERE rowid = ?", (relative, rowid))


def _meta(db: sqlite3.Connection) -> None:
    """Facts about the database itself; ``root`` names the output folder it belongs to,
    so a command given only ``--db`` finds the derivatives."""
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


#: Schema steps in order, each (version, step): the step takes a database from the
#: version before it to its own. A new step goes at the end, with the next version.
MIGRATIONS: tuple[tuple[int, Callable[[sqlite3.Connection], None]], ...] = (
    (2, _photo_meta),
    (3, _derivative_hashes),
    (4, _relative_paths),
    (5, _meta),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]

#: Orders for :meth:`DerivativeCache.photos_in_order`, newest first: their column.
ORDER_COLUMNS = {"captured": "captured_at", "uploaded": "created_at"}


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


class DerivativeCache:
    """SQLite-backed record of photos and derivatives. Use as a context manager.

    A connection passed in must be made with ``check_same_thread=False``: results
    are recorded from the executor's thread. Every commit survives the process
    being killed; with ``durable`` it also survives a power loss (an fsync per
    commit: the service, which promises an accepted upload is never lost, turns
    it on).

    ``root`` is the output folder derivative paths are relative to: by default the
    database's own folder (the CLI's ``OUT/derivo.db``), or the current directory
    for an in-memory database or a connection passed in. A root given for a
    database file is recorded in it (see :func:`recorded_root`).

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
        record_root = root is not None
        if root is None:
            if isinstance(path_or_connection, sqlite3.Connection):
                root = Path.cwd()
            elif str(path_or_connection) == ":memory:":
                root = Path.cwd()
            else:
                root = Path(path_or_connection).parent
        self.root = Path(root).resolve()
        self._owns_connection = not isinstance(path_or_connection, sqlite3.Connection)
        self.name = _name(path_or_connection)
        self._lock = threading.RLock()
        self._writing = threading.local()
        self._reader: sqlite3.Connection | None = None
        self._reader_lock = threading.Lock()
        with self._sqlite_errors():
            if isinstance(path_or_connection, sqlite3.Connection):
                self._db = path_or_connection
            else:
                if str(path_or_connection) != ":memory:":
                    Path(path_or_connection).parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(
                    path_or_connection, check_same_thread=False, isolation_level=None
                )
        self._db.row_factory = sqlite3.Row
        try:
            with self._sqlite_errors():
                self._migrate("FULL" if durable else "NORMAL")
                if not isinstance(path_or_connection, sqlite3.Connection) and (
                    self.name != ":memory:"
                ):
                    if record_root:
                        self._record_root()
                    self._reader = self._open_reader(path_or_connection)
        except CacheError:
            self.close()
            raise

    def _open_reader(self, path: str | Path) -> sqlite3.Connection:
        """A second connection for reads: in WAL mode they never wait for a writer's commit
        (an fsync with ``durable``), so a lookup stays fast while uploads are recorded."""
        reader = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        reader.row_factory = sqlite3.Row
        reader.execute("PRAGMA busy_timeout = 10000")
        reader.execute("PRAGMA query_only = ON")
        return reader

    def _migrate(self, synchronous: str) -> None:
        self._db.execute("PRAGMA busy_timeout = 10000")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute(f"PRAGMA synchronous = {synchronous}")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise CacheError(
                f"cache database has schema version {version}, newer than this derivo "
                f"understands ({SCHEMA_VERSION}): {self.name}; upgrade derivo or use another --db"
            )
        if version < SCHEMA_VERSION:
            # all steps in one transaction: a crash or a full disk leaves the old version;
            # read the version again under the write lock, another process may have migrated
            with self._transaction() as db:
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version == 0:
                    for statement in _SCHEMA.split(";\n"):
                        if statement.strip():
                            db.execute(statement)
                for step_version, step in MIGRATIONS:
                    if step_version > version:
                        step(db)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _record_root(self) -> None:
        """Remember which output folder this database's derivative paths are relative to."""
        root = str(self.root)
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'root'").fetchone()
        except sqlite3.DatabaseError:
            return  # a damaged file: left as it is for ``derivo check`` to report
        if row is None or row[0] != root:
            with self._transaction() as db:
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('root', ?)", (root,))

    @contextmanager
    def _sqlite_errors(self) -> Iterator[None]:
        """Turn every SQLite (and file system) error into a one-line :class:`CacheError`."""
        try:
            yield
        except sqlite3.Error as exc:
            raise _cache_error(self.name, exc) from None
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise CacheFull(f"{self.name}: {_FULL}") from None
            raise CacheError(f"{self.name}: {exc.strerror or exc}; {_WAY_OUT['perm']}") from None

    def close(self) -> None:
        """Close the database, unless the caller passed the connection in (theirs to close)."""
        if self._owns_connection:
            with self._lock:
                self._db.close()
            if self._reader is not None:
                with self._reader_lock:
                    self._reader.close()

    def __enter__(self) -> DerivativeCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, or the one already open; SQLite errors become CacheErrors."""
        with self._lock, self._sqlite_errors():
            opened = self._begin()
            try:
                yield self._db
            except BaseException:
                if opened:
                    self._rollback()
                raise
            if opened:
                self._commit()

    def _begin(self) -> bool:
        """Open a write transaction unless one is open; True if this call opened it."""
        if self._db.in_transaction:
            return False
        self._db.execute("BEGIN IMMEDIATE")
        self._writing.active = True
        return True

    def _commit(self) -> None:
        try:
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        self._writing.active = False

    def _rollback(self) -> None:
        # a failed COMMIT (disk full) leaves the transaction open: close it, or every
        # later write would join it and never commit
        self._writing.active = False
        with contextlib.suppress(sqlite3.Error):
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        if self._reader is not None and not getattr(self._writing, "active", False):
            with self._reader_lock, self._sqlite_errors():
                return self._reader.execute(sql, tuple(params)).fetchall()
        with self._lock, self._sqlite_errors():
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
                """INSERT INTO photos (id, source, size, mtime_ns, inode, hash, status,
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
                       updated_at = excluded.updated_at""",
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
            wanted[r["fingerprint"]].name: self._derivative(r, spec=wanted[r["fingerprint"]].name)
            for r in rows
        }

    def missing(
        self, source_hash: str, specs: Iterable[Spec], *, verify: bool = False
    ) -> tuple[Spec, ...]:
        """Specs with no recorded derivative for ``source_hash``, or whose file is gone or
        damaged: not its recorded size (one stat), or with ``verify`` not its recorded hash."""
        specs = tuple(specs)
        have = self.derivatives(source_hash, specs)
        return tuple(s for s in specs if s.name not in have or damage(have[s.name], verify=verify))

    def record(self, source_hash: str, specs: Iterable[Spec], made: Iterable[Derivative]) -> None:
        """Record derivatives written for ``source_hash`` (call only after they are on disk)."""
        by_name = {spec.name: spec for spec in specs}
        now = time.time()
        with self._transaction() as db:
            db.executemany(
                """INSERT OR REPLACE INTO derivatives
                   (hash, fingerprint, spec, path, width, height, bytes, format, created_at,
                    thumbhash, blake3)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
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
                        d.thumbhash,
                        d.blake3,
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
        return [(r["hash"], r["fingerprint"], self._derivative(r)) for r in rows]

    def forget_derivatives(self, keys: Iterable[tuple[str, str]]) -> None:
        """Forget the derivatives recorded under these (hash, fingerprint) keys."""
        with self._transaction() as db:
            db.executemany("DELETE FROM derivatives WHERE hash = ? AND fingerprint = ?", keys)

    # Bulk access: one statement per window of photos, for libraries of millions

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group several writes into one transaction (one commit instead of one per write).

        Each write turns its own SQLite errors into CacheErrors; an error of the
        caller's own code passes through as it is, and undoes the batch.
        """
        with self._lock:
            with self._sqlite_errors():
                opened = self._begin()
            try:
                yield
            except BaseException:
                if opened:
                    self._rollback()
                raise
            if opened:
                with self._sqlite_errors():
                    self._commit()

    def photos_by_id(self, ids: Sequence[str]) -> dict[str, PhotoRecord]:
        """The recorded photos among ``ids`` (primary-key lookups, ``_IN_CHUNK`` per query)."""
        found: dict[str, PhotoRecord] = {}
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            rows = self._query(
                f"SELECT * FROM photos WHERE id IN ({', '.join('?' * len(chunk))})", chunk
            )
            found.update((row["id"], _photo(row)) for row in rows)
        return found

    def derivatives_of(
        self, hashes: Iterable[str], specs: Iterable[Spec]
    ) -> dict[str, dict[str, Derivative]]:
        """Recorded derivatives of each of ``hashes`` for ``specs``: hash -> spec name -> file."""
        wanted = {spec.fingerprint: spec.name for spec in specs}
        unique = list(dict.fromkeys(hashes))
        found: dict[str, dict[str, Derivative]] = {}
        marks = ", ".join("?" * len(wanted))
        for start in range(0, len(unique), _IN_CHUNK):
            chunk = unique[start : start + _IN_CHUNK]
            rows = self._query(
                f"SELECT * FROM derivatives "
                f"WHERE hash IN ({', '.join('?' * len(chunk))}) AND fingerprint IN ({marks})",
                [*chunk, *wanted],
            )
            for r in rows:
                name = wanted[r["fingerprint"]]
                found.setdefault(r["hash"], {})[name] = self._derivative(r, spec=name)
        return found

    def put_photos(
        self, photos: Iterable[tuple[str, str, FileStat | None, str | None, PhotoStatus]]
    ) -> None:
        """:meth:`put_photo` for many ``(id, source, stat, hash, status)`` in one transaction."""
        rows = list(photos)
        if rows:
            with self._transaction():
                for photo_id, source, stat, source_hash, status in rows:
                    self.put_photo(
                        photo_id, source=source, stat=stat, source_hash=source_hash, status=status
                    )

    # Checks (``derivo check``)

    def integrity_problems(self, limit: int = 20) -> list[str]:
        """What SQLite's ``PRAGMA integrity_check`` finds wrong, at most ``limit`` lines."""
        rows = self._query(f"PRAGMA integrity_check({int(limit)})")
        found = [str(row[0]) for row in rows]
        return [] if found == ["ok"] else found

    def all_derivatives(self, page: int = 500) -> Iterator[tuple[str, str, Derivative]]:
        """Every recorded derivative as (source hash, fingerprint, derivative), in pages."""
        last = 0
        while rows := self._query(
            "SELECT rowid, * FROM derivatives WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (last, page),
        ):
            for r in rows:
                yield r["hash"], r["fingerprint"], self._derivative(r)
            last = rows[-1]["rowid"]

    def forget_derivative(self, source_hash: str, fingerprint: str) -> list[str]:
        """Forget one derivative record, and queue the done photos that had it again."""
        with self._transaction() as db:
            db.execute(
                "DELETE FROM derivatives WHERE hash = ? AND fingerprint = ?",
                (source_hash, fingerprint),
            )
            rows = db.execute(
                """UPDATE photos SET status = ?, error = NULL, error_kind = NULL,
                       error_key = NULL, updated_at = ?
                   WHERE hash = ? AND status = ? RETURNING id""",
                (PhotoStatus.PENDING, time.time(), source_hash, PhotoStatus.DONE),
            ).fetchall()
        return sorted(r["id"] for r in rows)

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

    def _derivative(self, row: sqlite3.Row, *, spec: str | None = None) -> Derivative:
        """A derivative row as callers see it: its path joined to the root."""
        return Derivative(
            spec=spec or row["spec"],
            path=self._absolute(row["path"]),
            width=row["width"],
            height=row["height"],
            bytes=row["bytes"],
            format=row["format"],
            thumbhash=row["thumbhash"],
            blake3=row["blake3"],
        )


def damage(derivative: Derivative, *, verify: bool = False) -> str | None:
    """What is wrong with a recorded derivative's file (gone, wrong size or hash), or None.

    The size costs one stat; the hash (``verify``) reads the file, and is checked only
    when one was recorded.
    """
    path = Path(derivative.path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    if size != derivative.bytes:
        return f"{size} bytes, recorded {derivative.bytes}"
    if verify and derivative.blake3 is not None:
        try:
            if hash_file(path) != derivative.blake3:
                return "content differs from the recorded hash"
        except OSError as exc:
            return f"unreadable ({exc.strerror})"
    return None


_FULL = "its device is full; free space there, then try again"

#: What to do about an SQLite error, by its primary result code.
_WAY_OUT = {
    "damaged": "the file is damaged: run 'derivo check' on it, or move it away to start "
    "afresh (derivatives are then rendered again)",
    "busy": "another process holds it locked; try again once it is done",
    "perm": "check that it and its folder exist and are writable",
    "io": "the device reported an error; check the device, then run 'derivo check'",
    "other": "run 'derivo check' on it",
}
_WAY_OUT_BY_CODE = {
    sqlite3.SQLITE_CORRUPT: "damaged",
    sqlite3.SQLITE_NOTADB: "damaged",
    sqlite3.SQLITE_BUSY: "busy",
    sqlite3.SQLITE_LOCKED: "busy",
    sqlite3.SQLITE_READONLY: "perm",
    sqlite3.SQLITE_PERM: "perm",
    sqlite3.SQLITE_CANTOPEN: "perm",
    sqlite3.SQLITE_IOERR: "io",
}


def recorded_root(db: Path) -> Path | None:
    """The output folder a database file belongs to, as recorded; None when it has none."""
    try:
        with contextlib.closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)) as c:
            c.execute("PRAGMA busy_timeout = 10000")
            row = c.execute("SELECT value FROM meta WHERE key = 'root'").fetchone()
    except sqlite3.Error:
        return None  # no database, or one from before roots were recorded
    return Path(row[0]) if row else None


def _cache_error(name: str, exc: sqlite3.Error) -> CacheError:
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code == sqlite3.SQLITE_FULL:
        return CacheFull(f"cannot write cache database {name}: {_FULL}")
    way = _WAY_OUT[_WAY_OUT_BY_CODE.get(code, "other")]
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return CacheError(f"cannot use cache database {name}: {reason}; {way}")


def _name(path_or_connection: str | Path | sqlite3.Connection) -> str:
    """The database file as a person finds it: an absolute path, or what SQLite calls it."""
    if isinstance(path_or_connection, sqlite3.Connection):
        with contextlib.suppress(sqlite3.Error):
            for row in path_or_connection.execute("PRAGMA database_list"):
                if row[1] == "main":
                    return str(row[2]) or ":memory:"
        return "(connection)"
    if str(path_or_connection) == ":memory:":
        return ":memory:"
    return str(Path(path_or_connection).absolute())


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
        name=row["name"],
        captured=Captured(
            at=row["captured_at"], offset=row["captured_offset"], source=row["captured_from"]
        ),
    )
