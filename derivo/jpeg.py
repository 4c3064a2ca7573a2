"""Scaled JPEG decode: libjpeg-turbo shrinks by any M/8 inside its IDCT.

libvips' JPEG loader only shrinks by 1/2, 1/4 and 1/8, and ``thumbnail`` keeps a
factor of two above the box, so a 4000 px photo bound for a 1200 px preview is
decoded at full size. libjpeg-turbo can decode it at 3/8 (1500x1125) instead:
the entropy decoding is the same, but the IDCT, upsampling, colour conversion and
the resize that follows all shrink (measured about 40 ms against 75 ms per
12 MP photo, one thread).

The binding is simplejpeg: of the maintained ones on PyPI it is the only one that
both ships libjpeg-turbo (3.1) inside its wheel and exposes the scaled decode.
PyTurboJPEG loads the system's libturbojpeg, which a bare machine lacks, and
imagecodecs ships libjpeg-turbo but only decodes at full size (in a 26 MB wheel).
"""

from __future__ import annotations

import functools
import io
import math
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyvips
import simplejpeg
from PIL import (
    Image,
    JpegImagePlugin,
    TiffImagePlugin,  # noqa: F401  getexif() reads EXIF with it: loaded once, in the fork server
)

Pixels = npt.NDArray[np.uint8]

_ORIENTATION = 0x0112  # the EXIF tag


@dataclass(frozen=True)
class Header:
    """What the scaled path needs before decoding: size, bands, orientation, profile."""

    width: int
    height: int
    gray: bool
    orientation: int
    icc: bytes | None


def read_header(data: bytes) -> Header | None:
    """The header of a JPEG whose pixels the binding can give as RGB or grey, else None.

    Pillow parses the markers in a fraction of what a libvips loader costs to set up
    (about 0.1 ms against 0.5-0.8 ms a photo). CMYK and YCCK, and anything Pillow
    cannot read, give None: libvips then decodes the file and gives the verdict.
    The orientation is clipped to 1-8, as libvips does. Pillow's warnings are
    silenced once per worker (:func:`ignore_header_warnings`); where they are not,
    and a filter makes one an error, the file is left to libvips too.
    """
    try:
        # the JPEG reader itself, not Image.open: that would import Pillow's other
        # readers in every worker (about 40 ms each) where this module loaded once
        with JpegImagePlugin.JpegImageFile(io.BytesIO(data)) as image:
            mode, (width, height) = image.mode, image.size
            icc = image.info.get("icc_profile") or None
            orientation = image.getexif().get(_ORIENTATION, 1)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError, Warning):
        return None
    if mode not in ("RGB", "L") or not isinstance(icc, bytes | None):
        return None
    if not isinstance(orientation, int):
        orientation = 1
    return Header(width, height, mode == "L", min(max(orientation, 1), 8), icc)


@functools.cache
def ignore_header_warnings() -> None:
    """Silence, for this process, the warnings Pillow gives while :func:`read_header` reads.

    Size limits are derivo's own (checked by the caller), and a bad EXIF block means
    no orientation, as for libvips. Set once, when a worker starts: a filter set and
    restored around each read (``warnings.catch_warnings``) is process-wide state
    that render threads side by side would restore out of order.
    """
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    for module in ("Image", "JpegImagePlugin", "TiffImagePlugin"):
        warnings.filterwarnings("ignore", category=UserWarning, module=rf"PIL\.{module}\Z")


#: How much larger than the box the scaled decode stays. The scaled IDCT filters
#: differently from Lanczos3; leaving Lanczos3 at least this reduction keeps the
#: result within 44-52 dB PSNR of the libvips path on the samples and the bench
#: corpus (at a margin of 1.0, a photo just over twice the box measured 34 dB). For
#: 4:3 and 3:2 cameras of 3, 12 and 24 MP and a 1200 px box it picks the smallest
#: M/8 above the box (5/8 of a 2048 px photo: 1280 px).
MARGIN = 1.05


def decode_scaled(
    data: bytes, min_width: int, min_height: int, *, gray: bool, lenient: bool
) -> Pixels | None:
    """Decode at the smallest M/8 scale (M = 1..8) at least :data:`MARGIN` times the size asked.

    Returns None when the binding declines the file: a variant it cannot decode
    (12-bit, lossless, CMYK output, ...) or, unless ``lenient``, any warning from
    libjpeg, which is how it reports truncated or corrupt data (strict mode stops
    at the first one). The caller then decodes with libvips, whose verdict and
    reason stand, so a damaged photo is refused exactly as on the libvips path and
    an odd but valid one still renders.
    """
    try:
        pixels: Pixels = simplejpeg.decode_jpeg(
            data,
            colorspace="GRAY" if gray else "RGB",
            min_width=math.ceil(min_width * MARGIN),
            min_height=math.ceil(min_height * MARGIN),
            strict=not lenient,
        )
    except ValueError:
        return None
    return pixels


def to_vips(pixels: Pixels) -> pyvips.Image:
    """Wrap decoded pixels as a libvips image (no copy; the image keeps the array alive)."""
    height, width = pixels.shape[:2]
    bands = 1 if pixels.ndim == 2 else pixels.shape[2]
    image = pyvips.Image.new_from_memory(pixels.data, width, height, bands, "uchar")
    return image.copy(interpretation="b-w" if bands == 1 else "srgb")
