"""The cache's SQLite connections: opening (and migrating), transactions, reads, and
every SQLite error turned into a one-line :class:`~derivo.errors.CacheError`."""

from __future__ import annotations

import contextlib
import errno
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from derivo.cache.schema import SCHEMA_VERSION, upgrade
from derivo.errors import CacheError, CacheFull
from derivo.specs import Spec, fingerprint_of
from derivo.tasks import Derivative


class Store:
    """One writer connection (behind a lock, shared by the coordinator's threads) and one
    reader; derivative paths relative to ``root``. See :class:`~derivo.cache.DerivativeCache`."""

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
        self._root_prefix = str(self.root).rstrip("/") + "/"
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
        # a write inside a batch keeps a statement journal (the photo-count triggers): in
        # memory, not a temporary file taking two write calls per page it touches
        self._db.execute("PRAGMA temp_store = MEMORY")
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
                if version < SCHEMA_VERSION:
                    upgrade(db, version)

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

    def meta(self, key: str) -> str | None:
        """A value the database keeps about itself (its output root; what its photos
        were last checked against)."""
        rows = self._tuples("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

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

    def _tuples(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Like :meth:`_query`, as plain tuples: for bulk reads, where building rows costs."""
        if self._reader is not None and not getattr(self._writing, "active", False):
            with self._reader_lock, self._sqlite_errors():
                cursor = self._reader.cursor()
                cursor.row_factory = None
                return cursor.execute(sql, tuple(params)).fetchall()
        with self._lock, self._sqlite_errors():
            cursor = self._db.cursor()
            cursor.row_factory = None
            return cursor.execute(sql, tuple(params)).fetchall()

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

    def integrity_problems(self, limit: int = 20) -> list[str]:
        """What SQLite's ``PRAGMA integrity_check`` finds wrong, at most ``limit`` lines."""
        rows = self._query(f"PRAGMA integrity_check({int(limit)})")
        found = [str(row[0]) for row in rows]
        return [] if found == ["ok"] else found

    def _fingerprint(self, spec: Spec) -> str:
        """``spec.fingerprint``, remembered by :func:`derivo.specs.fingerprint_of`."""
        if not isinstance(spec, Spec):  # anything with a fingerprint will do, unremembered
            return spec.fingerprint
        return fingerprint_of(spec)

    # Derivative locations: absolute for callers, relative to the root on disk

    def _absolute(self, stored: str) -> str:
        # stored paths are clean relative POSIX paths: joining strings gives what
        # ``root / stored`` would, without a Path per derivative
        return self._root_prefix + stored

    def _relative(self, path: str) -> str:
        if path.startswith(self._root_prefix):
            # a clean path under the root (every one a worker returns): the string's tail is
            # what ``relative_to`` gives, without two Paths per derivative
            rest = path[len(self._root_prefix) :]
            if all(part not in ("", ".") for part in rest.split("/")):
                return rest
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


def recorded_root(db: Path) -> Path | None:
    """The output folder a database file belongs to, as recorded; None when it has none."""
    try:
        with contextlib.closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)) as c:
            c.execute("PRAGMA busy_timeout = 10000")
            row = c.execute("SELECT value FROM meta WHERE key = 'root'").fetchone()
    except sqlite3.Error:
        return None  # no database, or one from before roots were recorded
    return Path(row[0]) if row else None


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
