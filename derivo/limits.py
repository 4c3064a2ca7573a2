"""What derivo refuses before decoding a photo, and the units the limits are given in.

People give sizes in megabytes and megapixels; derivo counts bytes and pixels.
The conversions live here, once.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Bytes in a megabyte, as the ``--max-mb`` options and their messages count them.
MB = 1024 * 1024
#: Pixels in a megapixel.
MP = 1_000_000


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Checked from the file and its header before any pixel is decoded.

    ``lenient`` accepts files with missing pixels (decoders fill them with one flat
    value, see :mod:`derivo.damage`); the default refuses them, since a half-grey
    thumbnail served forever is worse than a clear error.
    """

    max_pixels: int = 200 * MP
    max_bytes: int = 200 * MB
    lenient: bool = False
