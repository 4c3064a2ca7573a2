"""``derivo process`` on a full disk: one line naming the path, exit 2, and the next run finishes.

``--out`` (or ``--db``) sits on a small tmpfs filled to the last page, so every
write there fails with a real ENOSPC.
"""

from __future__ import annotations

import multiprocessing
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from derivo import DerivativeCache, PhotoStatus
from derivo.cli import main
from tests.conftest import SAMPLES
from tests.smallfs import fill, free

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]  # real servers, processes or a browser


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("jolla.jpg", "canon_hdr_NO.jpg", "Reconyx_HC500_Hyperfire.jpg"):
        shutil.copy(SAMPLES / name, folder / name)
    return folder


def derivo(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "derivo", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=170,
    )


def assert_one_line_exit_2(done: subprocess.CompletedProcess[str], path: Path) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, done.stderr
    assert str(path) in errors[0] and "space" in errors[0]
    return errors[0]


def test_full_out_stops_with_one_line_and_the_next_run_finishes(
    photos: Path, small: Path, tmp_path: Path
) -> None:
    db = tmp_path / "derivo.db"
    fill(small)
    done = derivo("process", photos, "--out", small, "--db", db, "--workers", "1")
    assert_one_line_exit_2(done, small)
    with DerivativeCache(db) as cache:
        counts = cache.counts()
    assert counts[PhotoStatus.FAILED] == counts[PhotoStatus.DONE] == 0  # nothing given up on
    assert counts[PhotoStatus.PROCESSING] == 0 and counts[PhotoStatus.PENDING] == 3
    # nothing half-written: no temp file, no derivative
    assert sorted(p.name for p in small.rglob("*") if p.is_file()) == ["derivo.lock", "filler"]

    free(small)
    again = derivo("process", photos, "--out", small, "--db", db, "--workers", "1", "--json")
    assert again.returncode == 0, again.stderr
    with DerivativeCache(db) as cache:
        assert cache.counts()[PhotoStatus.DONE] == 3


def test_full_database_device_stops_with_one_line_and_the_next_run_finishes(
    photos: Path, small: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    db = small / "derivo.db"
    fill(small)
    done = derivo("process", photos, "--out", out, "--db", db, "--workers", "1")
    assert_one_line_exit_2(done, db)

    free(small)
    again = derivo("process", photos, "--out", out, "--db", db, "--workers", "1")
    assert again.returncode == 0, again.stderr
    with DerivativeCache(db) as cache:
        assert cache.counts()[PhotoStatus.DONE] == 3


def test_full_temp_folder_for_json_results_is_one_line(
    photos: Path, small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # set directly: through TMPDIR, Python would quietly pass over a full folder
    # multiprocessing keeps the first temp folder it sees: not this one
    monkeypatch.setitem(multiprocessing.current_process()._config, "tempdir", tempfile.mkdtemp())
    monkeypatch.setattr(tempfile, "tempdir", str(small))
    fill(small)
    result = CliRunner().invoke(
        main, ["process", str(photos), "--out", str(tmp_path / "out"), "--workers", "1", "--json"]
    )
    assert result.exit_code == 2, result.output
    assert result.output.splitlines()[-1] == (
        f"Error: no space left on the device of {small}: free space there, then try again"
    )
