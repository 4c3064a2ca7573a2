"""Schema migrations: a database from the previous release opens, migrates and keeps
every record; derivative locations are relative to the output root afterwards."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from derivo import CacheError, DerivativeCache
from derivo.cache import MIGRATIONS, SCHEMA_VERSION
from derivo.cli import main
from tests.conftest import ORIENTATION, ROOT

RELEASE_V1 = ROOT / "tests" / "data" / "cache-v1.sql"
OLD_ROOT = "/tmp/derivo-release/out/"


def release_db(path: Path) -> Path:
    db = sqlite3.connect(path)
    db.executescript(RELEASE_V1.read_text())
    db.close()
    return path


#: Version 1's columns: later steps add their own, each checked by its own test.
V1_COLUMNS = {
    "photos": "id, source, size, mtime_ns, inode, hash, status, error, error_kind, error_key, "
    "attempts, width, height, created_at, updated_at",
    "derivatives": "hash, fingerprint, spec, path, width, height, bytes, format, created_at",
}


def rows(path: Path, table: str) -> list[tuple[object, ...]]:
    db = sqlite3.connect(path)
    try:
        return db.execute(f"SELECT {V1_COLUMNS[table]} FROM {table} ORDER BY 1, 2").fetchall()
    finally:
        db.close()


def test_every_version_has_its_migration() -> None:
    assert len(MIGRATIONS) == SCHEMA_VERSION - 1
    assert [version for version, _step in MIGRATIONS] == list(range(2, SCHEMA_VERSION + 1))


def test_a_release_database_migrates_and_keeps_every_record(tmp_path: Path) -> None:
    db = release_db(tmp_path / "derivo.db")
    photos, derivatives = rows(db, "photos"), rows(db, "derivatives")
    assert len(photos) == 11 and len(derivatives) == 16
    assert {p[6] for p in photos} == {"done", "failed"}
    with DerivativeCache(db, root=tmp_path / "elsewhere"):
        pass
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert rows(db, "photos") == photos
    migrated = rows(db, "derivatives")
    assert [r[:3] + r[4:] for r in migrated] == [r[:3] + r[4:] for r in derivatives]
    for old, new in zip(derivatives, migrated, strict=True):
        assert isinstance(old[3], str) and old[3].startswith(OLD_ROOT)
        assert new[3] == old[3].removeprefix(OLD_ROOT)  # <hh>/<hash>/<spec>-<fp>.jpg


def test_migrated_derivatives_are_found_under_the_new_root(tmp_path: Path) -> None:
    db = release_db(tmp_path / "derivo.db")
    source_hash, fingerprint, name, old_path, _w, _h, size = rows(db, "derivatives")[0][:7]
    spec = SimpleNamespace(name=name, fingerprint=fingerprint)
    root = tmp_path / "mounted-here"
    with DerivativeCache(db, root=root) as cache:
        made = cache.derivatives(str(source_hash), [spec])  # type: ignore[list-item]
        path = Path(made[str(name)].path)
        assert path == root / str(old_path).removeprefix(OLD_ROOT)
        assert cache.missing(str(source_hash), [spec]) == (spec,)  # type: ignore[list-item]
        path.parent.mkdir(parents=True)
        assert isinstance(size, int)
        path.write_bytes(b"\xff" * size)  # the recorded size: taken as whole
        assert cache.missing(str(source_hash), [spec]) == ()  # type: ignore[list-item]


def test_a_migration_that_fails_changes_nothing(tmp_path: Path) -> None:
    db = release_db(tmp_path / "derivo.db")
    connection = sqlite3.connect(db)
    connection.execute("UPDATE derivatives SET path = '/odd/place.jpg' WHERE rowid = 5")
    connection.commit()
    connection.close()
    before = rows(db, "derivatives")
    with pytest.raises(CacheError, match="cannot migrate derivative path /odd/place.jpg"):
        DerivativeCache(db)
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == 1
    assert rows(db, "derivatives") == before


def derivo(*args: str | Path) -> dict[str, object]:
    done = CliRunner().invoke(main, ["process", *map(str, args), "--json"])
    assert done.exit_code == 0, done.output
    summary: dict[str, object] = json.loads(done.stdout)
    return summary


@pytest.mark.usefixtures("cli_renders_inline")
def test_a_moved_output_folder_stays_cached_and_another_out_is_refused(tmp_path: Path) -> None:
    first = tmp_path / "first"
    assert derivo(ORIENTATION, "--out", first)["rendered"] == 8
    moved = tmp_path / "moved"
    shutil.move(first, moved)
    again = derivo(ORIENTATION, "--out", moved)
    assert (again["rendered"], again["cached"]) == (0, 8)
    other = tmp_path / "other"
    refused = CliRunner().invoke(
        main, ["process", str(ORIENTATION), "--out", str(other), "--db", str(moved / "derivo.db")]
    )
    assert refused.exit_code == 2
    assert f"belongs to output folder {moved.resolve()}, not --out {other}" in refused.stderr
    assert not other.exists()
