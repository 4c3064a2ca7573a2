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

import math

import numpy as np
import numpy.typing as npt
import pyvips
import simplejpeg

Pixels = npt.NDArray[np.uint8]

#: How much larger than the box the scaled decode stays. The scaled IDCT averages
#: like a box filter; leaving Lanczos3 at least this reduction keeps the result
#: within 45-52 dB PSNR of a full decode + Lanczos3 (at a margin of 1.0, a photo
#: just over twice the box measured 34 dB). For 4:3 and 3:2 cameras of 12 and
#: 24 MP and a 1200 px box it still picks the smallest M/8 above the box.
MARGIN = 1.2


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
