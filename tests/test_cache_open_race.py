"""Two processes opening an old or a new database at once: one migrates, the other uses it."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from derivo import cache as cache_module
from derivo.cache import MIGRATIONS, SCHEMA_VERSION, DerivativeCache


def migrate_by_hand(db: sqlite3.Connection, version: int) -> None:
    """What another process's DerivativeCache does to a database at ``version``."""
    if version == 0:
        for statement in cache_module._SCHEMA.split(";\n"):
            if statement.strip():
                db.execute(statement)
    for step_version, step in MIGRATIONS:
        if step_version > max(version, 1):
            step(db)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


@pytest.mark.parametrize("version", [0, SCHEMA_VERSION - 1])
def test_a_database_migrated_while_waiting_to_migrate_is_used_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: int
) -> None:
    path = tmp_path / "derivo.db"
    if version:
        with DerivativeCache(path):
            pass
        with sqlite3.connect(path, isolation_level=None) as old:
            old.execute("DROP TABLE meta")
            old.execute(f"PRAGMA user_version = {version}")
        old.close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA journal_mode = WAL")
    other.execute("BEGIN IMMEDIATE")  # the other process holds the write lock

    waiting = threading.Event()
    begin = DerivativeCache._begin

    def begin_after_saying_so(self: DerivativeCache) -> bool:
        waiting.set()
        return begin(self)

    monkeypatch.setattr(DerivativeCache, "_begin", begin_after_saying_so)
    outcome: list[BaseException | int] = []

    def open_cache() -> None:
        try:
            with DerivativeCache(path) as cache:
                outcome.append(sum(cache.counts().values()))
        except BaseException as exc:
            outcome.append(exc)

    opener = threading.Thread(target=open_cache)
    opener.start()
    assert waiting.wait(60)  # it read the old version and now waits for the write lock
    migrate_by_hand(other, version)
    other.execute("COMMIT")
    other.close()
    opener.join(60)
    assert outcome == [0]
