"""A database records the output folder it belongs to: ``--db`` alone finds the derivatives."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from derivo.cache import recorded_root
from derivo.cli import main
from tests.conftest import ORIENTATION

pytestmark = pytest.mark.usefixtures("cli_renders_inline")


def run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture
def processed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Two photos rendered into ``out`` with the database kept apart in ``dbdir``."""
    monkeypatch.chdir(tmp_path)
    Path("lib").mkdir()
    shutil.copy(ORIENTATION / "landscape_1.jpg", "lib/a.jpg")
    shutil.copy(ORIENTATION / "landscape_2.jpg", "lib/b.jpg")
    db = Path("dbdir/x.db")
    code, output = run("process", "lib", "--out", "out", "--db", db, "--workers", "1")
    assert code == 0, output
    return Path("out"), db


def test_the_output_folder_is_recorded(processed: tuple[Path, Path]) -> None:
    out, db = processed
    assert recorded_root(db) == out.resolve()


def test_check_and_ls_with_only_db_find_the_derivatives(processed: tuple[Path, Path]) -> None:
    out, db = processed
    code, output = run("check", "--db", db)
    assert code == 0, output
    assert output.endswith("2 photos, 4 derivatives checked; 0 problem(s), 0 repaired, 0 left\n")
    code, output = run("ls", "--db", db, "--json")
    assert code == 0, output
    paths = [Path(d["path"]) for item in json.loads(output) for d in item["derivatives"]]
    assert len(paths) == 4
    assert all(p.is_file() and p.is_relative_to(out.resolve()) for p in paths)
    code, output = run("check", "--db", db, "--repair")
    assert code == 0, output
    assert len(list(out.rglob("*.jpg"))) == 4


def test_process_with_only_db_is_cached_in_the_recorded_folder(
    processed: tuple[Path, Path],
) -> None:
    _, db = processed
    code, output = run("process", "lib", "--db", db, "--workers", "1", "--json")
    assert code == 0, output
    summary = json.loads(output)
    assert (summary["rendered"], summary["cached"]) == (0, 2)
    assert not Path("derivo-out").exists()


def test_another_out_for_the_same_db_is_refused(processed: tuple[Path, Path]) -> None:
    out, db = processed
    code, output = run("check", "--db", db, "--out", "elsewhere")
    assert code == 2
    assert output == (
        f"Error: {db} belongs to output folder {out.resolve()}, not --out elsewhere; "
        f"drop --out, or move {out.resolve()} to elsewhere first\n"
    )
    code, _ = run("process", "lib", "--db", db, "--out", "elsewhere", "--workers", "1")
    assert code == 2
    assert not Path("elsewhere").exists()


def test_a_moved_output_folder_is_recorded_at_its_new_place(processed: tuple[Path, Path]) -> None:
    out, db = processed
    shutil.move(out, "moved")
    code, output = run("check", "--db", db, "--out", "moved")
    assert code == 0, output
    assert recorded_root(db) == Path("moved").resolve()
    assert run("ls", "--db", db)[0] == 0
