"""``derivo clean`` and mirror names: names of the old form (``IMG.thumbnail.jpg``)
go; a file of your own that only looks like a mirror name stays."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from derivo.cli import main
from tests.conftest import ORIENTATION


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_clean_removes_old_mirror_names_and_keeps_look_alikes_of_your_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("lib/a").mkdir(parents=True)
    shutil.copy(ORIENTATION / "landscape_1.jpg", "lib/a/IMG.jpg")
    process = ("process", "lib", "--out", "out", "--layout", "mirror", "--workers", "1")
    run(*process)
    mirrored = Path("out/a")
    # as an earlier version named them: a hard link, and a copy (made where links fail)
    os.link(mirrored / "IMG.jpg.thumbnail.jpg", mirrored / "IMG.thumbnail.jpg")
    shutil.copyfile(mirrored / "IMG.jpg.preview.jpg", mirrored / "IMG.preview.jpg")
    # photos of your own kept in OUT, named like mirror names of specs the cache made
    shutil.copy(ORIENTATION / "landscape_2.jpg", mirrored / "beach.thumbnail.jpg")
    shutil.copy(ORIENTATION / "landscape_3.jpg", "out/beach.preview.jpg")
    own = {
        p: p.read_bytes() for p in (mirrored / "beach.thumbnail.jpg", Path("out/beach.preview.jpg"))
    }

    run(*process)  # the next run leaves the old names alone
    assert (mirrored / "IMG.thumbnail.jpg").exists() and (mirrored / "IMG.preview.jpg").exists()

    output = run("clean", "--out", "out")
    assert "out/a/IMG.thumbnail.jpg  (its photo is no longer recorded)" in output
    assert "out/a/IMG.preview.jpg" in output
    assert "beach" not in output
    assert sorted(p.name for p in mirrored.iterdir()) == [
        "IMG.jpg.preview.jpg",
        "IMG.jpg.thumbnail.jpg",
        "beach.thumbnail.jpg",
    ]
    for path, body in own.items():
        assert path.read_bytes() == body
