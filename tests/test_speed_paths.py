"""The cheaper steps of the scaled JPEG path give what the libvips ones gave."""

from __future__ import annotations

import base64
import struct
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest
import pyvips
import thumbhash
from PIL import Image

from derivo.jpeg import ignore_header_warnings, read_header
from derivo.placeholder import thumbhash_of_picture
from derivo.render import to_picture
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
    """Where the header is read, it agrees with libvips; where not, libvips decides: only
    for a file Pillow cannot read as 8-bit RGB or grey (CMYK, 12-bit, a broken header)."""
    header = read_header(path.read_bytes())
    if header is None:
        try:
            with Image.open(path, formats=["JPEG"]) as image:
                mode = image.mode
        except OSError:
            return
        assert mode not in ("RGB", "L")
        return
    try:
        expected = vips_header(path)
    except pyvips.Error:
        pytest.fail("a header libvips cannot read was read")
    assert (header.width, header.height, header.gray, header.orientation) == expected[:4]
    assert header.icc == expected[4]


def _with_exif(tmp_path: Path, tiff: bytes) -> Path:
    path = tmp_path / "exif.jpg"
    Image.new("RGB", (16, 8)).save(path, "JPEG", exif=b"Exif\0\0" + tiff)
    return path


#: EXIF blocks Pillow warns about: five entries said and one there, a directory past the end.
DAMAGED_EXIF = [
    b"II*\0\x08\0\0\0\x05\0" + struct.pack("<HHII", 0x010F, 2, 4, 0),
    b"II*\0\xff\xff\0\0",
]


@pytest.mark.parametrize("tiff", DAMAGED_EXIF, ids=["truncated", "out of range"])
def test_in_a_worker_a_damaged_exif_block_means_no_orientation(tmp_path: Path, tiff: bytes) -> None:
    data = _with_exif(tmp_path, tiff).read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_header(data) is None  # a warning made an error: libvips decides
        ignore_header_warnings()  # as a worker's setup does
        header = read_header(data)
    assert header is not None and (header.width, header.height, header.orientation) == (16, 8, 1)


def test_a_worker_set_up_reads_a_damaged_exif_block_even_with_warnings_as_errors(
    tmp_path: Path,
) -> None:
    path = _with_exif(tmp_path, DAMAGED_EXIF[0])
    script = (
        "import sys; from derivo.render import init_worker; from derivo.jpeg import read_header;"
        "init_worker(); print(read_header(open(sys.argv[1], 'rb').read()))"
    )
    run = subprocess.run(
        [sys.executable, "-W", "error", "-c", script, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert run.stdout.startswith("Header(width=16, height=8, gray=False, orientation=1,")


def test_reading_a_header_sets_no_process_wide_warning_filter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Render threads read headers side by side: a filter one sets and restores around
    its read would be restored out of order by another."""
    data = _with_exif(tmp_path, DAMAGED_EXIF[0]).read_bytes()
    reading, go_on = threading.Event(), threading.Event()
    getexif = Image.Image.getexif

    def held(image: Image.Image) -> Image.Exif:
        reading.set()
        go_on.wait(60)
        return getexif(image)

    monkeypatch.setattr(Image.Image, "getexif", held)
    filters = list(warnings.filters)
    headers: list[object] = []
    reader = threading.Thread(target=lambda: headers.append(read_header(data)))
    reader.start()
    try:
        assert reading.wait(60)
        assert warnings.filters == filters
    finally:
        go_on.set()
        reader.join(60)
    assert len(headers) == 1


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
    from_pixels = base64.b64decode(thumbhash_of_picture(to_picture(image)))
    decoded = pyvips.Image.new_from_buffer(image.jpegsave_buffer(Q=80), "")
    from_file = base64.b64decode(thumbhash_of_picture(to_picture(decoded)))
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
        placeholder = base64.b64decode(thumbhash_of_picture(to_picture(image.copy_memory())))
        rgb = thumbhash.thumb_hash_to_average_rgba(placeholder)[:3]
        assert max(range(3), key=lambda band: rgb[band]) == strongest
        ratio = thumbhash.thumb_hash_to_approximate_aspect_ratio(placeholder)
        # the format keeps the ratio coarsely (as how many components run across and down)
        assert ratio == pytest.approx(image.width / image.height, rel=0.15)
