"""The derivative cache: one SQLite file that knows every photo and derivative.

Photos are keyed by the caller's id and carry their source's BLAKE3 hash and
state; derivatives are keyed by (source hash, spec fingerprint), so identical
sources share them and a changed spec misses exactly where it should. Derivative
locations are stored relative to the output root, so the output folder may be
moved or mounted elsewhere. Only the coordinator writes; a lock makes one
connection safe across its threads. Older schemas are migrated in place, in one
transaction, by the ordered :data:`MIGRATIONS`.

One module per concept: ``records`` (what a photo record is), ``schema`` (tables and
migrations), ``store`` (connections, transactions, errors), ``photos`` and
``derivatives`` (the two tables), ``state`` (a window of both at once, for re-runs).
"""

from __future__ import annotations

from derivo.cache.derivatives import Derivatives, damage
from derivo.cache.photos import ORDER_COLUMNS, Photos
from derivo.cache.records import STATUSES, FileStat, PhotoRecord, PhotoStatus
from derivo.cache.schema import _SCHEMA as _SCHEMA  # version 1, for tests that build old files
from derivo.cache.schema import MIGRATIONS, SCHEMA_VERSION
from derivo.cache.state import Recorded, State
from derivo.cache.store import recorded_root

__all__ = [
    "DB_NAME",
    "MIGRATIONS",
    "ORDER_COLUMNS",
    "SCHEMA_VERSION",
    "STATUSES",
    "DerivativeCache",
    "FileStat",
    "PhotoRecord",
    "PhotoStatus",
    "Recorded",
    "damage",
    "recorded_root",
]

#: The cache's file name inside an output folder, unless told otherwise.
DB_NAME = "derivo.db"


class DerivativeCache(Photos, Derivatives, State):
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

    def __enter__(self) -> DerivativeCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
