"""Capture times from EXIF, ThumbHash placeholders, and the schema step that stores them."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import pytest
import pyvips
import thumbhash

from derivo import DerivativeCache
from derivo.cache import _SCHEMA, SCHEMA_VERSION
from derivo.capture import Captured, parse_exif_time, read_capture_time
from derivo.placeholder import thumbhash_of_picture
from derivo.render import to_picture

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


@pytest.mark.parametrize(
    ("value", "offset", "subsec", "iso"),
    [
        ("2021:04:11 15:47:53", "-05:00", "054", "2021-04-11T15:47:53.054000-05:00"),
        ("2021:04:11 15:47:53", "+05:30", None, "2021-04-11T15:47:53+05:30"),
        ("2014:09:21 16:00:56", None, None, "2014-09-21T16:00:56"),
        ("2014:09:21 16:00:56\x00", "bogus", None, "2014-09-21T16:00:56"),
    ],
)
def test_exif_times_keep_their_offset(
    value: str, offset: str | None, subsec: str | None, iso: str
) -> None:
    captured = parse_exif_time(value, offset, subsec)
    assert captured is not None
    assert captured.isoformat() == iso
    assert captured.source == "exif"


def test_an_offset_places_the_moment_in_utc() -> None:
    east = parse_exif_time("2020:01:01 12:00:00", "+02:00")
    west = parse_exif_time("2020:01:01 12:00:00", "-03:00")
    assert east is not None and west is not None
    assert west.at - east.at == 5 * 3600


@pytest.mark.parametrize("value", ["    :  :     :  :  ", "0000:00:00 00:00:00", "yesterday", ""])
def test_blank_or_damaged_dates_are_no_date(value: str) -> None:
    assert parse_exif_time(value) is None


def test_real_photos_dates() -> None:
    heic = read_capture_time(SAMPLES / "IMG_5195.HEIC", "heif")
    assert heic is not None and heic.isoformat() == "2021-04-11T15:47:53.054000-05:00"
    jolla = read_capture_time(SAMPLES / "jolla.jpg", "jpeg")
    assert jolla is not None and jolla.isoformat() == "2014-09-21T16:00:56"
    assert read_capture_time(SAMPLES / "Reconyx_HC500_Hyperfire.jpg", "jpeg") is None
    assert read_capture_time(SAMPLES / "NOTICE.md") is None


def test_thumbhash_follows_the_pixels() -> None:
    red = pyvips.Image.black(200, 100).new_from_image([220, 30, 30])
    tall = pyvips.Image.black(80, 200).new_from_image([20, 40, 200])
    for image, colour, ratio in ((red, (220, 30, 30), 2.0), (tall, (20, 40, 200), 0.4)):
        placeholder = base64.b64decode(thumbhash_of_picture(to_picture(image)))
        r, g, b, a = thumbhash.thumb_hash_to_average_rgba(placeholder)
        assert [r * 255, g * 255, b * 255] == pytest.approx(list(colour), abs=12)
        assert a == 1
        assert thumbhash.thumb_hash_to_approximate_aspect_ratio(placeholder) == pytest.approx(
            ratio, rel=0.3
        )


def test_a_version_1_database_gains_names_dates_and_placeholders(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "old.db")
    db.executescript(_SCHEMA)
    db.execute(
        "INSERT INTO photos (id, source, hash, status, created_at, updated_at) "
        "VALUES ('p1', '/x.jpg', 'h1', 'done', 1000.5, 1001.0)"
    )
    db.execute(
        "INSERT INTO derivatives "
        "VALUES ('h1', 'fp', 'thumbnail', '/out/h1/h1/t.jpg', 2, 1, 9, 'jpeg', 1.0)"
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with DerivativeCache(tmp_path / "old.db") as cache:
        record = cache.photo("p1")
        assert record is not None and record.status == "done" and record.hash == "h1"
        assert record.name is None
        assert record.captured == Captured(at=1000.5, offset=0, source="recorded")
        assert [r.id for r in cache.photos_in_order("captured")] == ["p1"]
    db = sqlite3.connect(tmp_path / "old.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("SELECT thumbhash, bytes FROM derivatives").fetchall() == [(None, 9)]
    db.close()
