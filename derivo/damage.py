"""Is a decoder's report a sign of missing pixels, or a harmless quirk?

Decoders report damage two ways: errors that stop them, and warnings after which
they carry on and fill what they could not read (libjpeg with flat grey, libpng
with black rows). A warning is therefore treated as missing pixels unless it is
on the short list below of reports known to leave every pixel intact, such as
the padding some cameras write between JPEG segments. Unknown reports fail closed:
a refused photo can still be rendered with ``lenient``, a grey one cannot be
taken back once served.

Every decode path asks :func:`missing_pixels`; :func:`watch_vips` gathers what
libvips reports while it decodes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

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
    for report in reports:
        for line in report.splitlines():
            if not is_harmless(line):
                return clean(line)
    return None


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def watch_vips() -> Iterator[list[str]]:
    """Gather every warning libvips and its loaders report inside the block.

    Loaders report two ways: through GLib's log (pyvips forwards it to the
    ``pyvips`` logger) and through libvips's error buffer, where the JPEG loader
    leaves its first warning even when the load succeeds. Drop the decoded
    pipeline inside the block: the JPEG loader logs its count when it is freed.
    """
    logger = logging.getLogger("pyvips")
    handler = _Collect()
    level = logger.level
    if not logger.isEnabledFor(logging.WARNING):
        logger.setLevel(logging.WARNING)
    logger.addHandler(handler)
    pyvips.vips_lib.vips_error_clear()
    messages: list[str] = []
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        buffer = pyvips.ffi.string(pyvips.vips_lib.vips_error_buffer())
        pyvips.vips_lib.vips_error_clear()
        messages.extend(handler.messages)
        messages.append(buffer.decode("utf-8", "replace"))
