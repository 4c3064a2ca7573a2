"""Is a decoder's report a sign of missing pixels, or a harmless quirk?

Decoders report damage two ways: errors that stop them, and warnings after which
they carry on and fill what they could not read (libjpeg with flat grey, libpng
with black rows). A warning is therefore treated as missing pixels unless it is
on the short list below of reports known to leave every pixel intact, such as
the padding some cameras write between JPEG segments. Unknown reports fail closed:
a refused photo can still be rendered with ``lenient``, a grey one cannot be
taken back once served.

The libvips paths (JPEG, PNG, WebP, TIFF, GIF, AVIF) ask :func:`missing_pixels`
about what :func:`watch_vips` gathered while they decoded; any other decoder that
can hand over its messages asks it too. The HEIF path, whose decoder's warnings
pillow-heif does not pass on, asks :func:`missing_blocks` of the pixels instead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pyvips

# Messages from libjpeg-turbo's table (jerror.h) that leave the pixels intact.
# The others that can reach a finished decode (premature end of data segment, bad
# Huffman or arithmetic code, found marker instead of RST, premature end of file,
# inconsistent progression) all mean coefficients were lost and filled in.
_HARMLESS_JPEG = (
    r"extraneous bytes before marker",  # JWRN_EXTRANEOUS_DATA: padding between segments
    r"unknown jfif revision number",  # JWRN_JFIF_MAJOR
    r"unknown adobe color transform code",  # JWRN_ADOBE_XFORM
    r"bad icc marker",  # JWRN_BOGUS_ICC: the profile is dropped, not the pixels
    r"invalid sos parameters for sequential jpeg",  # JWRN_NOT_SEQUENTIAL
)
# libtiff and libpng warnings about tags and ancillary chunks, not image data.
_HARMLESS_OTHER = (
    r"unknown field with tag",
    r"tags are not sorted in ascending order",
    r"ascii value for tag .* does not end in null byte",
    r"wrong data type .* for .*; tag ignored",
    r"^(iccp|srgb|text|ztxt|itxt|time|exif|phys|gama|chrm|bkgd|splt):",
    r"known incorrect srgb profile",
    r"interlace handling should be turned on",
    # libheif probing past the end of the file through libvips; data really missing
    # makes libheif fail instead
    r"^source: bad seek to \d+$",
)
# libvips colour management: a profile it cannot use is ignored (decode falls back
# to the colourspace), which changes colours, never drops pixels.
_HARMLESS_COLOUR = (
    r"profile incompatible with image",
    r"corrupt profile",
    r"^vipsicc:",
)
_HARMLESS = re.compile("|".join(_HARMLESS_JPEG + _HARMLESS_OTHER + _HARMLESS_COLOUR), re.IGNORECASE)
# libvips's JPEG loader shows only the first warning and counts the rest.
_COUNT = re.compile(r"read gave (\d+) warnings?", re.IGNORECASE)
_PREFIX = re.compile(r"^(VIPS|VipsJpeg|vipspng|tiff2vips|gifload\w*|webp\w*|heif\w*)\s*:\s*")


def clean(message: str) -> str:
    """A decoder message without libvips's prefixes, e.g. ``VIPS: VipsJpeg: ``."""
    text = message.strip()
    while True:
        shorter = _PREFIX.sub("", text, count=1)
        if shorter == text:
            return text
        text = shorter.strip()


def is_harmless(message: str) -> bool:
    """True for a report known to leave every pixel intact (and for empty lines)."""
    text = clean(message)
    if not text:
        return True
    count = _COUNT.search(text)
    if count:
        # One warning is the one shown; any more went unseen, so they cannot be trusted.
        return int(count.group(1)) <= 1
    return _HARMLESS.search(text) is not None


def missing_pixels(reports: Iterable[str]) -> str | None:
    """The first report that means pixels are missing, cleaned; None if all are harmless."""
    lines = [clean(line) for report in reports for line in report.splitlines()]
    lines = [line for line in lines if line]
    for line in lines:
        if not is_harmless(line):
            return line
    counts = [line for line in lines if _COUNT.search(line)]
    if counts and len(counts) == len(lines):
        # The loader counted a warning whose text was lost: it cannot be shown harmless.
        return counts[0]
    return None


class VipsReports:
    """What libvips reported during a :func:`watch_vips` block, as message lines."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def snapshot(self) -> None:
        """Keep libvips's error buffer now: handling any later error clears it."""
        buffer = pyvips.ffi.string(pyvips.vips_lib.vips_error_buffer())
        pyvips.vips_lib.vips_error_clear()
        self.messages.append(buffer.decode("utf-8", "replace"))


class _Collect(logging.Handler):
    def __init__(self, into: VipsReports) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.messages.append(record.getMessage())


@contextmanager
def watch_vips() -> Iterator[VipsReports]:
    """Gather every warning libvips and its loaders report inside the block.

    Loaders report two ways: through GLib's log (pyvips forwards it to the
    ``pyvips`` logger) and through libvips's error buffer, where the JPEG loader
    leaves its first warning even when the load succeeds; call ``snapshot()``
    before anything that may raise and clear it. Drop the decoded pipeline inside
    the block: the JPEG loader logs its warning count when it is freed.
    """
    logger = logging.getLogger("pyvips")
    reports = VipsReports()
    handler = _Collect(reports)
    level = logger.level
    if not logger.isEnabledFor(logging.WARNING):
        logger.setLevel(logging.WARNING)
    logger.addHandler(handler)
    pyvips.vips_lib.vips_error_clear()
    try:
        yield reports
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        reports.snapshot()


@dataclass(frozen=True)
class Pixels:
    """Rows of 8-bit pixels in memory: ``height`` rows of ``stride`` bytes."""

    data: bytes | memoryview
    stride: int
    width: int
    height: int
    bands: int

    def flat(self, x: int, y: int, w: int, h: int, value: bytes | None = None) -> bool:
        """True if every pixel of the rectangle is ``value`` (default: its first pixel)."""
        view = memoryview(self.data)
        start = y * self.stride + x * self.bands
        value = value if value is not None else bytes(view[start : start + self.bands])
        row = value * w
        return all(
            view[offset : offset + len(row)] == row
            for offset in range(start, start + h * self.stride, self.stride)
        )


HEVC_BLOCK = 64  # largest HEVC coding block; grid tiles are multiples of it


def _is_zero_fill(pixel: bytes) -> bool:
    """RGB of YCbCr (0, 0, 0): what libde265 leaves where it decoded nothing."""
    return pixel[0] == 0 and pixel[2] == 0 and pixel[1] > 0


def missing_blocks(pixels: Pixels, size: int = HEVC_BLOCK) -> int:
    """How many ``size`` blocks of a decoded HEIF hold only the decoder's zero fill.

    libheif and libde265 fill what they could not decode (a lost grid tile, the
    rest of a cut slice) with zero samples and report it only in a warning
    pillow-heif does not pass on, so the pixels are the report: that fill is
    one exact green (red and blue 0) no camera block ever is. Blocks are tried
    anchored at both corners, since the container's rotation may have moved them.
    """
    width, height = pixels.width, pixels.height
    for anchor_x, anchor_y in ((0, 0), (width % size, height % size)):
        found = 0
        for y in range(anchor_y, height - size + 1, size):
            for x in range(anchor_x, width - size + 1, size):
                start = y * pixels.stride + x * pixels.bands
                pixel = bytes(pixels.data[start : start + pixels.bands])
                # The middle row rules out almost every real block at once.
                if (
                    _is_zero_fill(pixel)
                    and pixels.flat(x, y + size // 2, size, 1, pixel)
                    and pixels.flat(x, y, size, size, pixel)
                ):
                    found += 1
        if found:
            return found
    return 0
