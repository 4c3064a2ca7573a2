"""Format recognition from bytes, never from names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from derivo.discover import find_photos
from derivo.formats import sniff, sniff_file
from tests.conftest import BADINPUT, SAMPLES


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (SAMPLES / "jolla.jpg", "jpeg"),
        (SAMPLES / "IMG_5195.HEIC", "heif"),
        (BADINPUT / "alpha" / "sharp__blackbug.png", "png"),
        (BADINPUT / "animated" / "sharp__rotating-squares.gif", "gif"),
        (BADINPUT / "animated" / "sharp__rotating-squares.webp", "webp"),
        (BADINPUT / "misc" / "Pillow__multipage.tiff", "tiff"),
        (BADINPUT / "MANIFEST.tsv", None),
    ],
)
def test_sniff_recognises_formats_by_content(path: Path, expected: str | None) -> None:
    assert sniff_file(path) == expected


def test_sniff_ignores_the_name(tmp_path: Path) -> None:
    disguised = tmp_path / "photo.txt"
    disguised.write_bytes((SAMPLES / "jolla.jpg").read_bytes()[:64])
    assert sniff_file(disguised) == "jpeg"
    assert sniff(b"") is None
    with pytest.raises(FileNotFoundError):
        sniff_file(tmp_path / "missing.jpg")


def test_find_photos_walks_folders_and_skips_non_images(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.bin").write_bytes((SAMPLES / "jolla.jpg").read_bytes())
    (tmp_path / "a" / "notes.jpg").write_text("text")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "y.jpg").write_bytes((SAMPLES / "jolla.jpg").read_bytes())
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "z.jpg").write_bytes((SAMPLES / "jolla.jpg").read_bytes())
    found = list(find_photos([tmp_path], exclude=[tmp_path / "out"]))
    assert [(f.path.relative_to(tmp_path).as_posix(), f.format) for f in found] == [
        ("a/b/x.bin", "jpeg")
    ]


def test_find_photos_yields_named_files_even_when_not_images(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("text")
    assert [(f.path, f.format) for f in find_photos([notes, notes])] == [(notes, None)]


def test_named_pipes_are_never_opened_for_reading(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jpg")
    assert list(find_photos([tmp_path])) == []
    assert sniff_file(tmp_path / "pipe.jpg") is None


def test_anything_inside_an_excluded_folder_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.jpg").write_bytes((SAMPLES / "jolla.jpg").read_bytes()[:64])
    assert list(find_photos([tmp_path / "out"], exclude=[tmp_path])) == []


def test_undecodable_file_names_get_printable_ids(tmp_path: Path) -> None:
    name = os.fsdecode(b"caf\xe9.jpg")
    (tmp_path / name).write_bytes((SAMPLES / "jolla.jpg").read_bytes()[:64])
    [found] = find_photos([tmp_path])
    assert found.photo_id == str(tmp_path / "caf\\xe9.jpg")
