"""Capture times are read from several threads at once without touching one another's
warning filters, and huge photos still give their date from the header alone."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import pytest
from PIL import Image

from derivo.capture import Captured, read_capture_time

WHEN = "2021:04:11 15:47:53"
DEADLINE = 60  # seconds; reached only on failure


def dated_jpeg(path: Path, width: int = 16, height: int = 8) -> Path:
    """A small JPEG taken at :data:`WHEN` whose header claims ``width`` x ``height``.

    Only the header is read for a capture time, so a size written into the frame
    header stands for a photo that large without its pixels.
    """
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = WHEN  # DateTimeOriginal
    Image.new("RGB", (16, 8)).save(path, "JPEG", exif=exif.tobytes())
    data = bytearray(path.read_bytes())
    frame = data.index(b"\xff\xc0")  # baseline frame header: length, precision, height, width
    data[frame + 5 : frame + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    path.write_bytes(bytes(data))
    return path


def test_a_filter_set_while_another_thread_reads_a_capture_time_stays_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service reads capture times in a thread pool: a read must not put back, when it
    ends, a warning filter list that other threads have changed meanwhile."""
    photo = dated_jpeg(tmp_path / "a.jpg")
    reading, go_on = threading.Event(), threading.Event()
    getexif = Image.Image.getexif

    def held(image: Image.Image) -> Image.Exif:
        reading.set()
        go_on.wait(DEADLINE)
        return getexif(image)

    monkeypatch.setattr(Image.Image, "getexif", held)
    found: list[Captured | None] = []
    reader = threading.Thread(target=lambda: found.append(read_capture_time(photo, "jpeg")))
    reader.start()
    try:
        assert reading.wait(DEADLINE)
        warnings.filterwarnings("ignore", message="set by another thread")
    finally:
        go_on.set()
        reader.join(DEADLINE)
    assert not reader.is_alive()
    assert ("ignore", "set by another thread") in [
        (action, message.pattern if message else None) for action, message, *_ in warnings.filters
    ]
    assert found and found[0] is not None and found[0].isoformat() == "2021-04-11T15:47:53"


@pytest.mark.parametrize("reads", [1, 2])
def test_a_photo_over_pillows_pixel_warning_gives_its_date_with_warnings_as_errors(
    tmp_path: Path, reads: int
) -> None:
    """10000 x 10000 is over Pillow's warning size: only a header is read, so no warning
    (the suite turns warnings into errors); again on a second read, and after the
    filter list was restored from under it."""
    photo = dated_jpeg(tmp_path / "big.jpg", 10_000, 10_000)
    for _ in range(reads):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            captured = read_capture_time(photo, "jpeg")
        assert captured is not None and captured.isoformat() == "2021-04-11T15:47:53"


def test_a_photo_over_pillows_pixel_limit_has_no_date(tmp_path: Path) -> None:
    """Over twice the warning size Pillow refuses to open it at all: the fallback date applies."""
    photo = dated_jpeg(tmp_path / "huge.jpg", 20_000, 20_000)
    assert read_capture_time(photo, "jpeg") is None
