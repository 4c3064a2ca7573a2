"""``derivo clean``: forget gone sources, delete unused files, say what and how much."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from derivo.cli import main
from derivo.specs import PREVIEW, THUMBNAIL
from tests.conftest import ORIENTATION

pytestmark = pytest.mark.usefixtures("cli_renders_inline")

NEW_SPECS = ("--spec", "thumbnail=200x200,quality=70", "--spec", "preview=1200x1200,quality=85")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.fixture
def out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two photos processed with the default specs, then with a changed thumbnail spec."""
    monkeypatch.chdir(tmp_path)
    Path("lib").mkdir()
    shutil.copy(ORIENTATION / "landscape_1.jpg", "lib/keep.jpg")
    shutil.copy(ORIENTATION / "landscape_2.jpg", "lib/gone.jpg")
    assert run("process", "lib", "--out", "out", "--workers", "1")[0] == 0
    assert run("process", "lib", "--out", "out", "--workers", "1", *NEW_SPECS)[0] == 0
    return Path("out")


def files(out: Path) -> set[Path]:
    return {p for p in out.rglob("*") if p.is_file() and p.parent != out}


def test_dry_run_lists_exactly_what_clean_then_removes(out: Path) -> None:
    Path("lib/gone.jpg").unlink()
    keep, gone = (
        json.loads(run("ls", "--out", "out", "--json", f"lib/{name}.jpg")[1])[0]["hash"]
        for name in ("keep", "gone")
    )
    stray = out / keep[:2] / keep / "preview-0123456789ab.jpg.tmp"
    stray.write_bytes(b"left by a crash")
    old_thumb = out / keep[:2] / keep / THUMBNAIL.filename
    gone_files = sorted((out / gone[:2] / gone).iterdir())
    before = files(out)

    def size(path: Path) -> int:
        return path.stat().st_size

    expected = [
        "{forget} lib/gone.jpg (source gone)",
        *sorted(
            [
                f"{{remove}} {old_thumb}  {size(old_thumb):,} bytes "
                "(spec thumbnail is no longer configured)",
                f"{{remove}} {stray}  15 bytes (not recorded)",
                *(f"{{remove}} {p}  {size(p):,} bytes (no photo uses it)" for p in gone_files),
            ],
            key=lambda line: line.split()[1],
        ),
    ]
    freed = size(old_thumb) + 15 + sum(map(size, gone_files))
    assert len(gone_files) == 3  # preview, and the thumbnails of both specs

    code, output = run("clean", "--out", "out", *NEW_SPECS, "--dry-run")
    assert code == 0
    assert output.splitlines() == [
        *(line.format(forget="would forget", remove="would remove") for line in expected),
        f"Dry run: would forget 1 photo, remove 5 files, free {freed:,} bytes",
    ]
    assert files(out) == before

    code, output = run("clean", "--out", "out", *NEW_SPECS)
    assert code == 0
    assert output.splitlines() == [
        *(line.format(forget="forgot", remove="removed") for line in expected),
        f"Forgot 1 photo, removed 5 files, freed {freed:,} bytes",
    ]
    assert not (out / gone[:2] / gone).exists()
    assert {p.name for p in files(out)} == {
        THUMBNAIL.filename.replace(THUMBNAIL.fingerprint, _new_thumbnail_fp()),
        PREVIEW.filename,
    }
    [photo] = json.loads(run("ls", "--out", "out", "--json")[1])
    assert photo["source"].endswith("lib/keep.jpg") and len(photo["derivatives"]) == 2
    assert run("clean", "--out", "out", *NEW_SPECS)[1] == (
        "Forgot 0 photos, removed 0 files, freed 0 bytes\n"
    )
    rerun = CliRunner().invoke(main, ["process", "lib", "--out", "out", *NEW_SPECS, "--json"])
    assert json.loads(rerun.stdout)["cached"] == 1


def _new_thumbnail_fp() -> str:
    from derivo.specs import parse_inline

    return parse_inline(NEW_SPECS[1]).fingerprint


def test_clean_keeps_files_it_does_not_own(out: Path) -> None:
    mine = out / "notes.txt"
    mine.write_text("mine")
    (out / "ab").mkdir(exist_ok=True)
    other = out / "ab" / "holiday.jpg"
    other.write_text("also mine")
    run("clean", "--out", "out")
    assert mine.read_text() == "mine" and other.read_text() == "also mine"


def test_clean_without_a_cache_is_a_usage_error(tmp_path: Path) -> None:
    code, output = run("clean", "--out", str(tmp_path / "none"))
    assert code == 2 and "Error: no cache database at" in output


def test_clean_keeps_photos_of_a_missing_folder_until_told(tmp_path: Path) -> None:
    """An unmounted drive looks like a deleted folder: its photos and derivatives stay."""
    lib = tmp_path / "mnt" / "drive" / "photos"
    (lib / "2020").mkdir(parents=True)
    shutil.copy(ORIENTATION / "landscape_1.jpg", lib / "2020" / "a.jpg")
    shutil.copy(ORIENTATION / "landscape_2.jpg", lib / "b.jpg")
    out = tmp_path / "out"
    assert run("process", str(lib), "--out", str(out), "--workers", "1")[0] == 0
    before = files(out)
    shutil.rmtree(tmp_path / "mnt" / "drive")  # the mount point's folder stays

    code, output = run("clean", "--out", str(out))
    assert code == 0
    assert output.splitlines() == [
        f"kept 2 photos under {tmp_path / 'mnt' / 'drive'}: folder missing (not mounted?); "
        "--forget-missing forgets them",
        "Forgot 0 photos, removed 0 files, freed 0 bytes",
    ]
    assert files(out) == before
    assert len(json.loads(run("ls", "--out", str(out), "--json")[1])) == 2

    code, output = run("clean", "--out", str(out), "--forget-missing")
    assert code == 0 and output.splitlines()[-1].startswith("Forgot 2 photos, removed 4 files")
    assert files(out) == set()


def test_clean_forgets_a_photo_deleted_from_a_folder_that_is_there(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copy(ORIENTATION / "landscape_1.jpg", lib / "a.jpg")
    out = tmp_path / "out"
    assert run("process", str(lib), "--out", str(out), "--workers", "1")[0] == 0
    (lib / "a.jpg").unlink()
    code, output = run("clean", "--out", str(out))
    assert code == 0 and output.splitlines()[-1].startswith("Forgot 1 photo, removed 2 files")
