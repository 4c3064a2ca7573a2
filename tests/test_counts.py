"""Photo counts kept in step by every write, a release database migrated to them, and the
service's list and requeue queries served from indexes at any size."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derivo import DerivativeCache, FileStat, PhotoStatus
from derivo.cache import SCHEMA_VERSION
from derivo.specs import SpecSet
from tests.conftest import ROOT

RELEASE_V5 = ROOT / "tests" / "data" / "cache-v5.sql"


def counted(path: Path) -> dict[str, int]:
    """The counts as a full scan finds them, by another connection."""
    db = sqlite3.connect(path)
    try:
        found = dict(db.execute("SELECT status, COUNT(*) FROM photos GROUP BY status").fetchall())
    finally:
        db.close()
    return {status: found.get(status, 0) for status in PhotoStatus}


def test_a_release_database_migrates_with_its_counts(tmp_path: Path) -> None:
    path = tmp_path / "derivo.db"
    db = sqlite3.connect(path)
    db.executescript(RELEASE_V5.read_text())
    db.close()
    with DerivativeCache(path) as cache:
        assert cache.counts() == {"pending": 3, "processing": 1, "done": 5, "failed": 2}
        cache.set_status("/lib/IMG_0005.jpg", PhotoStatus.PENDING)  # was failed
        cache.delete_photo("/lib/IMG_0000.jpg")
        assert cache.counts() == counted(path)
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        db.close()


ids = st.sampled_from([f"p{i}" for i in range(6)])
statuses = st.sampled_from(list(PhotoStatus))
writes = st.one_of(
    st.tuples(st.just("put"), ids, statuses),
    st.tuples(st.just("set"), ids, statuses),
    st.tuples(st.just("delete"), ids, statuses),
    st.tuples(st.just("forget"), ids, statuses),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(writes, max_size=30))
def test_counts_stay_in_step_with_every_kind_of_write(
    tmp_path: Path, sequence: list[tuple[str, str, PhotoStatus]]
) -> None:
    path = tmp_path / f"{abs(hash(tuple(sequence)))}.db"
    specs = SpecSet()
    with DerivativeCache(path) as cache:
        for verb, photo_id, status in sequence:
            source_hash = photo_id.encode().hex().ljust(64, "0")
            if verb == "put":
                cache.put_photo(
                    photo_id,
                    source=photo_id,
                    stat=FileStat(size=1, mtime_ns=1, inode=1),
                    source_hash=source_hash,
                    status=status,
                )
            elif verb == "set":
                cache.set_status(photo_id, status)
            elif verb == "delete":
                cache.delete_photo(photo_id)
            else:  # a derivative forgotten sends its done photos back to pending
                cache.forget_derivative(source_hash, specs.specs[0].fingerprint)
        with cache.batch():  # and writes grouped in one transaction
            cache.put_photos(
                [(f"b{i}", f"b{i}", None, None, PhotoStatus.PENDING) for i in range(3)]
            )
        assert cache.counts() == counted(path)


def test_the_service_list_and_requeue_queries_use_indexes(tmp_path: Path) -> None:
    path = tmp_path / "derivo.db"
    statements: list[str] = []
    connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    connection.set_trace_callback(statements.append)
    try:
        with DerivativeCache(connection) as cache:
            start = len(statements)
            for order in ("captured", "uploaded"):
                for status in (None, PhotoStatus.FAILED):
                    cache.photos_in_order(order, status=status, limit=50)
                    cache.photos_in_order(order, status=status, after=(1.0e9, "m"), limit=50)
            cache.photos(status=PhotoStatus.PENDING, after="m", limit=100)  # requeue
            cache.photos(status=PhotoStatus.PROCESSING, limit=100)  # reconcile
            cache.counts()
            queries = [s for s in statements[start:] if s.lstrip().upper().startswith("SELECT")]
            assert len(queries) == 11
            for sql in queries:
                plan = [row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}")]
                text = " | ".join(plan)
                assert "TEMP B-TREE" not in text, f"{sql} -> {text}"  # no sort of the rows found
                assert all(
                    "USING INDEX" in step
                    or "USING COVERING INDEX" in step
                    or "photo_counts" in step
                    for step in plan
                ), f"{sql} -> {text}"
    finally:
        connection.close()
