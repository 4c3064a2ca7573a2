"""A check of rendered derivatives that does not trust the decoder.

Decoders fill what they could not read with one value (libjpeg mid-grey,
libpng black), so missing data shows up as a band of rows, or of columns
after rotation, with no variation at all. Real photos have sensor noise and
never do, so a band covering an eighth or more of the rows or columns is
taken as a failed render whatever the decoder said.
"""

from __future__ import annotations

from pathlib import Path

import pyvips

FLAT_SHARE = 1 / 8


def _longest_flat_run(image: pyvips.Image) -> int:
    """Longest run of consecutive rows that are each one single pixel value."""
    data = image.write_to_memory()
    stride = image.width * image.bands
    longest = run = 0
    previous = b""
    for y in range(image.height):
        row = data[y * stride : (y + 1) * stride]
        pixel = row[: image.bands]
        if row == pixel * image.width:
            run = run + 1 if pixel == previous else 1
            previous = pixel
        else:
            run, previous = 0, b""
        longest = max(longest, run)
    return longest


def flat_band(image: pyvips.Image) -> str | None:
    """Why ``image`` looks like missing data (a flat band), or None if it does not."""
    image = image.copy_memory()
    for name, oriented, size in (
        ("rows", image, image.height),
        ("columns", image.rot90(), image.width),
    ):
        run = _longest_flat_run(oriented)
        if size >= 8 and run >= size * FLAT_SHARE:
            return f"{run} of {size} {name} flat"
    return None


def check_file(path: Path | str) -> str | None:
    """:func:`flat_band` of an image file, e.g. a derivative just written."""
    return flat_band(pyvips.Image.new_from_file(str(path)))
