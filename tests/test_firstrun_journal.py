"""The cache's writer keeps its statement journals in memory, not in temporary files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from derivo import DerivativeCache

MEMORY = 2  # PRAGMA temp_store: 0 default, 1 file, 2 memory


def test_the_writer_keeps_temporary_data_in_memory(tmp_path: Path) -> None:
    with DerivativeCache(tmp_path / "d.db") as cache:
        assert cache._db.execute("PRAGMA temp_store").fetchone()[0] == MEMORY


def test_a_connection_passed_in_is_set_the_same_way(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "d.db", check_same_thread=False, isolation_level=None)
    try:
        with DerivativeCache(connection) as cache:
            assert cache._db.execute("PRAGMA temp_store").fetchone()[0] == MEMORY
    finally:
        connection.close()
