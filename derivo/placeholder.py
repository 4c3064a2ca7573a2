"""ThumbHash placeholders: ~25 bytes that a page paints while the thumbnail loads.

A worker computes it from the pixels of the smallest derivative it made, shrunk
to 32 px, so the placeholder shows what the page will show. The encoder is the
``thumbhash`` crate's, through the ``thumbhash-rs`` bindings.
"""

from __future__ import annotations

import base64
from typing import Any

import thumbhash
from PIL import Image

#: ThumbHash takes at most 100x100 pixels and keeps only its lowest frequencies (at
#: most 7 across): from 32 px its encoder runs in a quarter of the time of 64 px, and
#: on the bench corpus and the samples the placeholders decode to the same pixels
#: within 3/255 on average (half of them identical).
MAX_SIDE = 32


def thumbhash_of_pixels(image: Any) -> str:
    """The ThumbHash (base64) of a libvips image of 8-bit sRGB pixels (e.g. a thumbnail).

    A worker has the thumbnail's pixels before it encodes them: reading those costs a
    third of decoding the encoded bytes again.
    """
    return thumbhash_of_picture(
        Image.frombuffer("RGB", (image.width, image.height), image.write_to_memory())
    )


def thumbhash_of_picture(picture: Image.Image) -> str:
    """The ThumbHash (base64) of a Pillow image, e.g. the thumbnail a worker just encoded."""
    small = picture.copy()
    small.thumbnail((MAX_SIDE, MAX_SIDE))
    return _thumbhash(small)


def _thumbhash(image: Image.Image) -> str:
    rgba = image.convert("RGBA")
    placeholder = thumbhash.rgba_to_thumb_hash(rgba.width, rgba.height, rgba.tobytes())
    return base64.b64encode(placeholder).decode()
