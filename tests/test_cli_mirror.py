"""``--layout mirror``: derivatives under their sources' names, linked, kept in step."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from derivo.cli import main
from derivo.mirror import mirror
from derivo.tasks import Derivative
from tests.conftest import ORIENTATION, SAMPLES

pytestmark = pytest.mark.usefixtures("cli_renders_inline")


def process(*extra: str) -> None:
    result = CliRunner().invoke(
        main, ["process", "lib", "--out", "out", "--layout", "mirror", "--workers", "1", *extra]
    )
    assert result.exit_code == 0, result.output


def derivatives(source: str) -> dict[str, Path]:
    result = CliRunner().invoke(main, ["ls", "--out", "out", "--json", source])
    [photo] = json.loads(result.stdout)
    # newest first per spec: the first one of each name is the current one
    current: dict[str, Path] = {}
    for d in photo["derivatives"]:
        current.setdefault(d["spec"], Path(d["path"]))
    return current


def test_mirror_links_follow_specs_and_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("lib/2024/june").mkdir(parents=True)
    shutil.copy(ORIENTATION / "landscape_1.jpg", "lib/2024/june/IMG_0001.jpg")
    process()
    thumb = Path("out/2024/june/IMG_0001.jpg.thumbnail.jpg")
    preview = Path("out/2024/june/IMG_0001.jpg.preview.jpg")
    made = derivatives("lib/2024/june/IMG_0001.jpg")
    assert os.path.samefile(thumb, made["thumbnail"])
    assert os.path.samefile(preview, made["preview"])

    process("--spec", "thumbnail=100x100", "--spec", "preview=1200x1200")
    made = derivatives("lib/2024/june/IMG_0001.jpg")
    assert os.path.samefile(thumb, made["thumbnail"])
    assert thumb.stat().st_size == made["thumbnail"].stat().st_size

    shutil.copy(SAMPLES / "jolla.jpg", "lib/2024/june/IMG_0001.jpg")
    process("--spec", "thumbnail=100x100", "--spec", "preview=1200x1200")
    made = derivatives("lib/2024/june/IMG_0001.jpg")
    assert os.path.samefile(thumb, made["thumbnail"])
    assert os.path.samefile(preview, made["preview"])
    assert sorted(p.name for p in Path("out/2024/june").iterdir()) == [
        "IMG_0001.jpg.preview.jpg",
        "IMG_0001.jpg.thumbnail.jpg",
    ]


def test_where_links_fail_copies_are_made_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = tmp_path / "cache" / "thumbnail-0123.jpg"
    original.parent.mkdir()
    original.write_bytes(b"first")
    derivative = Derivative(
        spec="thumbnail", path=str(original), width=1, height=1, bytes=5, format="jpeg"
    )

    def no_links(*args: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    [copy] = mirror(tmp_path / "out", Path("a/IMG.jpg"), [derivative])
    assert copy == tmp_path / "out" / "a" / "IMG.jpg.thumbnail.jpg"
    assert copy.read_bytes() == b"first" and not os.path.samefile(copy, original)
    inode = copy.stat().st_ino
    mirror(tmp_path / "out", Path("a/IMG.jpg"), [derivative])
    assert copy.stat().st_ino == inode  # unchanged copy left alone
    original.write_bytes(b"second")
    mirror(tmp_path / "out", Path("a/IMG.jpg"), [derivative])
    assert copy.read_bytes() == b"second"
    assert sorted(p.name for p in copy.parent.iterdir()) == ["IMG.jpg.thumbnail.jpg"]


def test_a_mirror_name_that_cannot_be_written_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("lib/2024").mkdir(parents=True)
    shutil.copy(ORIENTATION / "landscape_1.jpg", "lib/2024/IMG_0001.jpg")
    Path("out").mkdir()
    Path("out/2024").write_text("a file where the mirror wants a folder")
    result = CliRunner().invoke(
        main, ["process", "lib", "--out", "out", "--layout", "mirror", "--workers", "1"]
    )
    assert result.exit_code == 2, result.output
    [line] = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert line == "Error: cannot write out/2024/IMG_0001.jpg.preview.jpg: File exists at out/2024"
