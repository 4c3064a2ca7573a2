"""``derivo.thumbnail``: one call, same cache, a second call costs a stat."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

import derivo
from derivo import CorruptImage, SpecError, thumbnail
from tests.conftest import BADINPUT, ORIENTATION, SAMPLES


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "IMG_0001.jpg"
    shutil.copy(SAMPLES / "jolla.jpg", path)
    old = path.stat().st_mtime_ns - 3_600 * 10**9  # older than the racy-clean window
    os.utime(path, ns=(old, old))
    return path


def test_renders_once_then_answers_from_the_cache(
    photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    thumb = thumbnail(photo, "200x200", out=tmp_path / "thumbs")
    assert (thumb.width, thumb.height, thumb.format) == (200, 150, "jpeg")
    assert Path(thumb.path).is_file() and Path(thumb.path).is_relative_to(tmp_path / "thumbs")
    assert Path(thumb.path).stat().st_size == thumb.bytes

    def forbidden(*args: object) -> None:
        raise AssertionError("a cached thumbnail must not hash or render")

    monkeypatch.setattr("derivo.pipeline.hash_file", forbidden)
    monkeypatch.setattr(sys.modules["derivo.render"], "render", forbidden)
    assert thumbnail(photo, "200x200", out=tmp_path / "thumbs") == thumb


def test_one_side_shorthands_and_cover(photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "thumbs"
    assert (thumbnail(photo, "300x", out=out).width, thumbnail(photo, "300x", out=out).height) == (
        300,
        225,
    )
    tall = thumbnail(photo, "x120", out=out)
    assert (tall.width, tall.height) == (160, 120)
    square = thumbnail(photo, "100x100", out=out, fit="cover", format="webp")
    assert (square.width, square.height, square.format) == (100, 100, "webp")
    assert square.path.endswith(".webp")


def test_rotated_photo_comes_out_upright(tmp_path: Path) -> None:
    # stored 450 wide and 600 high, with EXIF orientation 6 (rotate 90°)
    thumb = thumbnail(ORIENTATION / "landscape_6.jpg", "100x100", out=tmp_path)
    assert (thumb.width, thumb.height) == (100, 75)


def test_errors_raise_their_own_kind(tmp_path: Path) -> None:
    with pytest.raises(CorruptImage, match="truncated"):
        thumbnail(BADINPUT / "truncated" / "sharp__truncated.jpg", out=tmp_path)
    with pytest.raises(SpecError, match="cannot read size '200'"):
        thumbnail(SAMPLES / "jolla.jpg", "200", out=tmp_path)
    with pytest.raises(SpecError, match="needs both width and height"):
        thumbnail(SAMPLES / "jolla.jpg", "200x", out=tmp_path, fit="cover")


def test_shares_the_cache_with_the_command_line(photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "thumbs"
    thumb = thumbnail(photo, "64x64", out=out)
    with derivo.DerivativeCache(out / "derivo.db") as cache:
        record = cache.photo(str(photo))
        assert record is not None and record.status == "done"
        assert [d for _h, _fp, d in cache.recorded(record.hash)] == [thumb]
