"""The SQLite derivative cache: schema, records, regeneration checks, deletion."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from derivo import CacheError, Derivative, DerivativeCache, FileStat
from derivo.cache import SCHEMA_VERSION
from derivo.specs import DEFAULT_SPECS, PREVIEW, THUMBNAIL
from derivo.tasks import derivative_path

HASH = "cd" * 32


def write_derivatives(cache: DerivativeCache, out: Path, source_hash: str = HASH) -> None:
    made = []
    for spec in DEFAULT_SPECS:
        path = derivative_path(out, source_hash, spec)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"jpeg")
        made.append(
            Derivative(spec=spec.name, path=str(path), width=10, height=10, bytes=4, format="jpeg")
        )
    cache.record(source_hash, DEFAULT_SPECS, made)


def test_a_new_database_is_wal_and_versioned(tmp_path: Path) -> None:
    with DerivativeCache(tmp_path / "d.db"):
        pass
    db = sqlite3.connect(tmp_path / "d.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 7


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "d.db")
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(CacheError, match="schema version 99, newer than this derivo"):
        DerivativeCache(tmp_path / "d.db")


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d.db").write_text("hello, this is not SQLite" * 100)
    with pytest.raises(CacheError, match="cannot use cache database"):
        DerivativeCache(tmp_path / "d.db")


def test_missing(tmp_path: Path, cache: DerivativeCache) -> None:
    assert cache.missing(HASH, DEFAULT_SPECS) == DEFAULT_SPECS
    write_derivatives(cache, cache.root)
    assert cache.missing(HASH, DEFAULT_SPECS) == ()
    Path(cache.derivatives(HASH, DEFAULT_SPECS)["preview"].path).unlink()
    assert cache.missing(HASH, DEFAULT_SPECS) == (PREVIEW,)
    assert cache.missing("ef" * 32, (THUMBNAIL,)) == (THUMBNAIL,)


def test_photos_records_and_pagination(cache: DerivativeCache) -> None:
    stat = FileStat(size=1, mtime_ns=2, inode=3)
    for i in range(5):
        cache.put_photo(f"p{i}", source=f"/x/{i}.jpg", stat=stat, source_hash=HASH)
    cache.set_status("p3", "failed", error="truncated JPEG", error_kind="corrupt")
    record = cache.photo("p3")
    assert record is not None and record.stat == stat and record.error == "truncated JPEG"
    assert [p.id for p in cache.photos(limit=2)] == ["p0", "p1"]
    assert [p.id for p in cache.photos(after="p1", limit=2)] == ["p2", "p3"]
    assert [p.id for p in cache.photos(status="failed")] == ["p3"]
    assert cache.counts() == {"pending": 4, "processing": 0, "done": 0, "failed": 1}
    assert cache.photo_by_hash(HASH) is not None and cache.photo_by_hash(HASH).id == "p0"  # type: ignore[union-attr]


def test_delete_keeps_derivatives_another_photo_shares(
    tmp_path: Path, cache: DerivativeCache
) -> None:
    write_derivatives(cache, cache.root)
    for photo_id in ("a", "b"):
        cache.put_photo(photo_id, source="/x", stat=None, source_hash=HASH, status="done")
    assert cache.delete_photo("a") == []
    paths = cache.delete_photo("b")
    assert sorted(Path(p).name for p in paths) == sorted(s.filename for s in DEFAULT_SPECS)
    assert cache.derivatives(HASH, DEFAULT_SPECS) == {}
    assert cache.photo("b") is None


def test_the_record_survives_reopening(tmp_path: Path) -> None:
    with DerivativeCache(tmp_path / "d.db") as cache:
        write_derivatives(cache, tmp_path)
    with DerivativeCache(tmp_path / "d.db") as cache:
        assert set(cache.derivatives(HASH, DEFAULT_SPECS)) == {"thumbnail", "preview"}


def test_durable_mode_syncs_every_commit(tmp_path: Path) -> None:
    with DerivativeCache(tmp_path / "d.db", durable=True) as durable:
        assert durable._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with DerivativeCache(tmp_path / "e.db") as default:
        assert default._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_a_cache_on_a_connection_passed_in_leaves_it_open(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "d.db", check_same_thread=False)
    with DerivativeCache(connection, root=tmp_path) as cache:
        write_derivatives(cache, tmp_path)
        cache.put_photo("a", source="/x", stat=None, source_hash=HASH, status="done")
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert connection.execute("SELECT count(*) FROM photos").fetchone()[0] == 1
    connection.close()
    with DerivativeCache(tmp_path / "d.db") as reopened:
        assert reopened.photo("a").status == "done"  # type: ignore[union-attr]
        assert set(reopened.derivatives(HASH, DEFAULT_SPECS)) == {"thumbnail", "preview"}


def test_recording_a_photo_again_clears_its_old_failure(cache: DerivativeCache) -> None:
    from derivo.cache import PhotoStatus

    cache.put_photo("p", source="/x.jpg", stat=None, source_hash=HASH)
    cache.set_status("p", PhotoStatus.FAILED, error="broken", error_kind="input", error_key="k")
    cache.put_photo("p", source="/x.jpg", stat=None, source_hash=HASH, status=PhotoStatus.FAILED)
    assert cache.photo("p").error == "broken"  # type: ignore[union-attr]
    cache.put_photos([("p", "/x.jpg", None, HASH, PhotoStatus.DONE)])
    record = cache.photo("p")
    assert record is not None and record.status == "done"
    assert (record.error, record.error_kind, record.error_key) == (None, None, None)
