"""Damaged state: derivatives cut short or altered, a garbled database, photos left stuck.

Each is found (``process`` by size, ``--verify`` by hash, ``derivo check`` by all),
repaired where it can be, and reported in one line where it cannot.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import pyvips
from click.testing import CliRunner

from derivo import DerivativeCache, PhotoStatus
from derivo.cache import SCHEMA_VERSION
from derivo.cli import main
from tests.conftest import SAMPLES

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("cli_renders_inline")]

NAMES = ("jolla.jpg", "canon_hdr_NO.jpg", "Reconyx_HC500_Hyperfire.jpg")


def derivo(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The command line in this process (its pool's workers are still real processes)."""
    argv = list(map(str, args))
    result = CliRunner().invoke(main, argv)
    if not isinstance(result.exception, SystemExit | None):
        raise result.exception  # a crash, where the command must answer in one line
    return subprocess.CompletedProcess(argv, result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def rendered(tmp_path: Path) -> tuple[Path, Path]:
    """Three real photos processed into ``out``: (photos folder, out folder)."""
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    for name in NAMES:
        shutil.copy(SAMPLES / name, photos / name)
    done = derivo("process", photos, "--out", out, "--workers", "1")
    assert done.returncode == 0, done.stderr
    return photos, out


def process(photos: Path, out: Path, *args: str) -> dict[str, object]:
    done = derivo("process", photos, "--out", out, "--workers", "1", "--json", *args)
    assert done.returncode == 0, done.stderr
    summary: dict[str, object] = json.loads(done.stdout)
    return summary


def previews(out: Path) -> list[Path]:
    return sorted(out.rglob("preview-*.jpg"))


def whole(path: Path) -> bool:
    try:
        pyvips.Image.new_from_file(str(path), fail_on="warning").avg()
    except pyvips.Error:
        return False
    return True


def test_a_derivative_cut_short_is_rendered_again_by_process(rendered: tuple[Path, Path]) -> None:
    photos, out = rendered
    victim = previews(out)[0]
    victim.write_bytes(victim.read_bytes()[:100])
    summary = process(photos, out)
    assert (summary["rendered"], summary["cached"]) == (1, 2)
    assert whole(victim)


def test_a_derivative_altered_in_place_is_found_by_verify(rendered: tuple[Path, Path]) -> None:
    photos, out = rendered
    victim = previews(out)[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)  # same size, other bytes
    victim.write_bytes(bytes(data))
    assert process(photos, out)["cached"] == 3  # size alone cannot see it
    summary = process(photos, out, "--verify")
    assert (summary["rendered"], summary["cached"]) == (1, 2)
    assert whole(victim)


def test_check_reports_repairs_and_says_what_it_cannot(rendered: tuple[Path, Path]) -> None:
    photos, out = rendered
    clean = derivo("check", "--out", out, "--verify")
    assert clean.returncode == 0, clean.stdout
    assert "0 problem(s)" in clean.stdout

    cut = previews(out)[0]
    cut.write_bytes(cut.read_bytes()[:100])
    with DerivativeCache(out / "derivo.db") as cache:
        # the photo whose source goes is not the one whose derivative was cut
        records = sorted(cache.photos(), key=lambda p: p.hash == cut.parent.name)
        gone, stuck = records[0].id, records[1].id
        cache.set_status(stuck, PhotoStatus.PROCESSING)
        source = cache.photo(gone)
        assert source is not None
    Path(source.source).unlink()

    found = derivo("check", "--out", out)
    assert found.returncode == 1
    lines = found.stdout.splitlines()
    assert any(line.startswith(f"{cut}: 100 bytes") for line in lines), lines
    assert any(line.startswith(f"photo {stuck}: left processing") for line in lines), lines
    assert any(f"source {source.source} is gone" in line for line in lines), lines
    assert "3 problem(s), 0 repaired, 3 left" in lines[-1]

    repaired = derivo("check", "--out", out, "--repair")
    assert repaired.returncode == 1  # the gone source cannot be repaired here
    assert "3 problem(s), 2 repaired, 1 left" in repaired.stdout.splitlines()[-1]
    assert any("cannot be repaired here" in line for line in repaired.stdout.splitlines())
    with DerivativeCache(out / "derivo.db") as cache:
        assert cache.counts()[PhotoStatus.PROCESSING] == 0

    summary = process(photos, out)
    assert (summary["rendered"], summary["cached"]) == (1, 1)  # the cut one is made again
    assert whole(cut)


def garble(db: Path) -> None:
    """Overwrite every page but the header page with noise, as a failing disk might."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = db.read_bytes()
    page = int.from_bytes(data[16:18], "big")
    noise = random.Random(7).randbytes(len(data) - page)
    db.write_bytes(data[:page] + noise)


def test_a_garbled_database_is_one_line_and_exit_2(rendered: tuple[Path, Path]) -> None:
    photos, out = rendered
    db = out / "derivo.db"
    garble(db)
    for args in (("status", "--out", out), ("process", photos, "--out", out, "--workers", "1")):
        done = derivo(*args)
        assert done.returncode == 2, (args, done.returncode, done.stderr)
        assert "Traceback" not in done.stderr
        errors = [line for line in done.stderr.splitlines() if line.strip()]
        assert errors[-1].startswith(f"Error: cannot use cache database {db}: "), errors
        assert "derivo check" in errors[-1]
        assert len([e for e in errors if e.startswith("Error")]) == 1
    checked = derivo("check", "--out", out)
    assert checked.returncode == 1
    assert "SQLite integrity" in checked.stdout and "restore it from a backup" in checked.stdout


def test_a_version_1_database_gains_derivative_hashes(rendered: tuple[Path, Path]) -> None:
    photos, out = rendered
    db = out / "derivo.db"
    with sqlite3.connect(db) as conn:  # back to version 1: without every later step's columns
        conn.executescript(
            """DROP INDEX photos_by_status_captured; DROP INDEX photos_by_status_created;
            DROP TRIGGER photos_counted_insert; DROP TRIGGER photos_counted_delete;
            DROP TRIGGER photos_counted_update; DROP TABLE photo_counts;
            DROP TABLE meta; DROP INDEX photos_by_captured; DROP INDEX photos_by_created;
            ALTER TABLE photos DROP COLUMN name; ALTER TABLE photos DROP COLUMN captured_at;
            ALTER TABLE photos DROP COLUMN captured_offset;
            ALTER TABLE photos DROP COLUMN captured_from;
            ALTER TABLE derivatives DROP COLUMN thumbhash;
            ALTER TABLE derivatives DROP COLUMN blake3;
            PRAGMA user_version = 1;"""
        )
        # version 1 kept absolute derivative paths
        conn.execute("UPDATE derivatives SET path = ? || '/' || path", (str(out.resolve()),))
    conn.close()
    with DerivativeCache(db) as cache:
        hashes = [d.blake3 for _h, _f, d in cache.all_derivatives()]
    assert len(hashes) == 6 and set(hashes) == {None}  # unknown until rendered again
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        columns = [row[1] for row in conn.execute("PRAGMA table_info(derivatives)")]
        assert "blake3" in columns
    conn.close()
    assert process(photos, out, "--verify")["cached"] == 3
    assert derivo("check", "--out", out, "--verify").returncode == 0


def test_serve_on_a_garbled_database_is_one_line_and_exit_2(
    rendered: tuple[Path, Path], tmp_path: Path
) -> None:
    _photos, out = rendered
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(out / "derivo.db", data / "derivo.db")
    garble(data / "derivo.db")
    done = subprocess.run(
        [sys.executable, "-m", "derivo", "serve", "--data-dir", str(data), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=170,
        env={**os.environ, "DERIVO_TOKEN": "a-token-long-enough-0123"},
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(f"Error: cannot use cache database {data / 'derivo.db'}: ")
