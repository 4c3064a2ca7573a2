"""``process --dry-run``: what would happen, with nothing touched."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from derivo.cache import SCHEMA_VERSION
from derivo.cli import main
from tests.conftest import BADINPUT, ORIENTATION

pytestmark = pytest.mark.usefixtures("cli_renders_inline")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout


@pytest.fixture
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    lib = Path("lib")
    lib.mkdir()
    shutil.copy(ORIENTATION / "landscape_1.jpg", lib / "good.jpg")
    shutil.copy(BADINPUT / "truncated" / "sharp__truncated.jpg", lib / "broken.jpg")
    (lib / "notes.txt").write_text("not a photo")
    return lib


def test_dry_run_before_and_after_a_run(library: Path) -> None:
    assert run("process", "lib", "--out", "out", "--dry-run") == (
        0,
        "render  lib/broken.jpg (thumbnail, preview)\n"
        "render  lib/good.jpg (thumbnail, preview)\n"
        "Dry run: 2 to render, 0 cached, 0 skipped, 1 not an image; nothing was changed\n",
    )
    assert not Path("out").exists()

    code, stdout = run("process", "lib", "--out", "out", "--json", "--workers", "1")
    reason = json.loads(stdout)["failures"][0]["error"]
    before = sorted(Path("out").rglob("*"))
    assert run("process", "lib", "--out", "out", "--dry-run") == (
        0,
        f"skip    lib/broken.jpg: failed before: {reason}\n"
        "cached  lib/good.jpg\n"
        "Dry run: 0 to render, 1 cached, 1 skipped, 1 not an image; nothing was changed\n",
    )
    new_spec = ("--spec", "thumbnail=200x200,quality=80", "--spec", "small=100x100")
    code, stdout = run("process", "lib", "--out", "out", "--dry-run", "--json", *new_spec)
    assert json.loads(stdout) == [
        {
            "source": str(Path("lib/broken.jpg").resolve()),
            "verdict": "render",
            "specs": ["thumbnail", "small"],
            "reason": "",
        },
        {
            "source": str(Path("lib/good.jpg").resolve()),
            "verdict": "render",
            "specs": ["small"],
            "reason": "",
        },
    ]
    assert sorted(Path("out").rglob("*")) == before


def test_dry_run_on_an_older_cache_changes_nothing_and_says_so(library: Path) -> None:
    from tests.test_migrations import release_db

    Path("out").mkdir()
    db = release_db(Path("out/derivo.db"))
    before = db.read_bytes()
    result = CliRunner().invoke(main, ["process", "lib", "--out", "out", "--dry-run"])
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        f"Error: cache database has schema version 1, older than this derivo's ({SCHEMA_VERSION}): "
        "out/derivo.db; a dry run changes nothing, so run process once to upgrade"
    )
    assert db.read_bytes() == before
    assert sorted(p.name for p in Path("out").iterdir()) == ["derivo.db"]

    assert run("process", "lib", "--out", "out", "--workers", "1")[0] == 1  # broken.jpg fails
    code, stdout = run("process", "lib", "--out", "out", "--dry-run")
    assert code == 0
    assert stdout.endswith("1 cached, 1 skipped, 1 not an image; nothing was changed\n")
