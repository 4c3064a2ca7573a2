"""The cache's tables as version 1 made them, and the ordered steps that bring any
older database up to :data:`SCHEMA_VERSION`.

A new database is made by running version 1 and then every step, so a new
database and a migrated one cannot drift apart.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from derivo.errors import CacheError

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


def _counts(db: sqlite3.Connection) -> None:
    """Photos per state, kept in step by triggers on every write to ``photos``: the
    service's status and list pages read four rows, not a million."""
    db.execute("CREATE TABLE photo_counts (status TEXT PRIMARY KEY, n INTEGER NOT NULL)")
    db.execute(
        "INSERT INTO photo_counts (status, n) VALUES "
        "('pending', 0), ('processing', 0), ('done', 0), ('failed', 0)"
    )
    db.execute(
        "UPDATE photo_counts SET n = "
        "(SELECT COUNT(*) FROM photos WHERE photos.status = photo_counts.status)"
    )
    for statement in (
        """CREATE TRIGGER photos_counted_insert AFTER INSERT ON photos BEGIN
               UPDATE photo_counts SET n = n + 1 WHERE status = NEW.status;
           END""",
        """CREATE TRIGGER photos_counted_delete AFTER DELETE ON photos BEGIN
               UPDATE photo_counts SET n = n - 1 WHERE status = OLD.status;
           END""",
        """CREATE TRIGGER photos_counted_update AFTER UPDATE OF status ON photos
           WHEN OLD.status IS NOT NEW.status BEGIN
               UPDATE photo_counts SET n = n - 1 WHERE status = OLD.status;
               UPDATE photo_counts SET n = n + 1 WHERE status = NEW.status;
           END""",
    ):
        db.execute(statement)


def _listing_by_status(db: sqlite3.Connection) -> None:
    """List one state newest first (the gallery's filter) from an index, however few of a
    million photos are in it."""
    for name, column in (("captured", "captured_at"), ("created", "created_at")):
        db.execute(
            f"CREATE INDEX IF NOT EXISTS photos_by_status_{name} ON photos (status, {column}, id)"
        )


#: Schema steps in order, each (version, step): the step takes a database from the
#: version before it to its own. A new step goes at the end, with the next version.
MIGRATIONS: tuple[tuple[int, Callable[[sqlite3.Connection], None]], ...] = (
    (2, _photo_meta),
    (3, _derivative_hashes),
    (4, _relative_paths),
    (5, _meta),
    (6, _counts),
    (7, _listing_by_status),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


def upgrade(db: sqlite3.Connection, version: int) -> None:
    """Bring a database at ``version`` (0: empty) to :data:`SCHEMA_VERSION`, inside the
    caller's write transaction."""
    if version == 0:
        for statement in _SCHEMA.split(";\n"):
            if statement.strip():
                db.execute(statement)
    for step_version, step in MIGRATIONS:
        if step_version > version:
            step(db)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
