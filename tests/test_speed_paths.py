"""The cheaper steps of the scaled JPEG path give what the libvips ones gave."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import pyvips
import thumbhash

from derivo.jpeg import read_header
from derivo.placeholder import thumbhash_of_pixels
from tests.conftest import BADINPUT, ORIENTATION, SAMPLES

JPEGS = sorted(SAMPLES.glob("*.jpg")) + sorted(ORIENTATION.glob("*.jpg"))
ODD_JPEGS = sorted(BADINPUT.rglob("*.jp*g"))


def vips_header(path: Path) -> tuple[int, int, bool, int, bytes | None]:
    image = pyvips.Image.new_from_file(str(path), access="sequential")
    orientation = image.get("orientation") if image.get_typeof("orientation") else 1
    icc = image.get("icc-profile-data") if image.get_typeof("icc-profile-data") else None
    return image.width, image.height, image.bands == 1, orientation, icc


@pytest.mark.parametrize("path", JPEGS, ids=lambda p: p.name)
def test_the_header_is_what_libvips_reads(path: Path) -> None:
    header = read_header(path.read_bytes())
    assert header is not None
    assert (header.width, header.height, header.gray, header.orientation, header.icc) == (
        vips_header(path)
    )


def test_every_orientation_is_read() -> None:
    found = {read_header(p.read_bytes()).orientation for p in ORIENTATION.glob("*.jpg")}  # type: ignore[union-attr]
    assert found == set(range(1, 9))


@pytest.mark.parametrize("path", ODD_JPEGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_an_odd_file_is_read_as_libvips_reads_it_or_left_to_libvips(path: Path) -> None:
    """Where the header is read, it agrees with libvips; where not, libvips decides."""
    header = read_header(path.read_bytes())
    if header is None:
        return
    try:
        expected = vips_header(path)
    except pyvips.Error:
        pytest.fail("a header libvips cannot read was read")
    assert (header.width, header.height, header.gray, header.orientation) == expected[:4]
    assert header.icc == expected[4]


def test_cmyk_is_left_to_libvips() -> None:
    cmyk = sorted((BADINPUT / "cmyk").glob("*.jpg"))
    assert cmyk
    assert [read_header(p.read_bytes()) for p in cmyk] == [None] * len(cmyk)


def test_not_a_jpeg_is_left_to_libvips() -> None:
    assert read_header(b"\xff\xd8\xff" + bytes(64)) is None
    assert read_header((SAMPLES / "IMG_5195.HEIC").read_bytes()) is None


def test_the_placeholder_of_pixels_is_that_of_the_encoded_thumbnail() -> None:
    image = pyvips.Image.new_from_file(str(SAMPLES / "jolla.jpg")).thumbnail_image(200)
    image = image.copy_memory()
    from_pixels = base64.b64decode(thumbhash_of_pixels(image))
    decoded = pyvips.Image.new_from_buffer(image.jpegsave_buffer(Q=80), "")
    from_file = base64.b64decode(thumbhash_of_pixels(decoded))
    *rgb, alpha = thumbhash.thumb_hash_to_average_rgba(from_pixels)
    assert alpha == 1
    assert rgb == pytest.approx([image[band].avg() / 255 for band in range(3)], abs=0.03)
    assert rgb == pytest.approx(thumbhash.thumb_hash_to_average_rgba(from_file)[:3], abs=0.02)
    ratio = thumbhash.thumb_hash_to_approximate_aspect_ratio(from_pixels)
    assert ratio == pytest.approx(image.width / image.height, rel=0.1)


def test_the_placeholder_follows_the_pixels() -> None:
    red = (pyvips.Image.black(200, 100) + [230, 20, 20]).cast("uchar").copy(interpretation="srgb")
    blue = (pyvips.Image.black(100, 200) + [20, 20, 230]).cast("uchar").copy(interpretation="srgb")
    for image, strongest in ((red, 0), (blue, 2)):
        placeholder = base64.b64decode(thumbhash_of_pixels(image.copy_memory()))
        rgb = thumbhash.thumb_hash_to_average_rgba(placeholder)[:3]
        assert max(range(3), key=lambda band: rgb[band]) == strongest
        ratio = thumbhash.thumb_hash_to_approximate_aspect_ratio(placeholder)
        # the format keeps the ratio coarsely (as how many components run across and down)
        assert ratio == pytest.approx(image.width / image.height, rel=0.15)
