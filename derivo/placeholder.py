"""ThumbHash placeholders: ~25 bytes that a page paints while the thumbnail loads.

Computed in the worker from the smallest derivative just encoded (its bytes are
decoded again, shrunk on load to ThumbHash's 100 px limit), so the placeholder
matches what the page will show and the renderer needs no change of shape.
The encoder is the `thumbhash` crate's, through the ``thumbhash-rs`` bindings.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping, Sequence

import pyvips
import thumbhash

from derivo.tasks import Derivative

#: ThumbHash takes at most 100x100 pixels; it keeps only low frequencies, so 64 px
#: gives the same placeholder (within ~2/255 per pixel) at half the cost.
MAX_SIDE = 64


def thumbhash_of(encoded: bytes) -> str:
    """The ThumbHash (base64) of an encoded image, e.g. a JPEG thumbnail."""
    image = pyvips.Image.thumbnail_buffer(encoded, MAX_SIDE, height=MAX_SIDE, size="down")
    if image.bands < 3:
        image = image.colourspace("srgb")
    if not image.hasalpha():
        image = image.bandjoin(255)
    if image.format != "uchar":
        image = image.cast("uchar")
    rgba = bytes(image.write_to_memory())
    return base64.b64encode(thumbhash.rgba_to_thumb_hash(image.width, image.height, rgba)).decode()


def with_thumbhash(
    derivatives: Sequence[Derivative], encoded: Mapping[str, bytes]
) -> tuple[Derivative, ...]:
    """``derivatives`` with the smallest one carrying the ThumbHash of its pixels.

    ``encoded`` maps each derivative's file name to its bytes.
    """
    if not derivatives:
        return tuple(derivatives)
    smallest = min(derivatives, key=lambda d: d.width * d.height)
    data = encoded[smallest.path.rsplit("/", 1)[-1]]
    placeholder = thumbhash_of(data)
    return tuple(
        dataclasses.replace(d, thumbhash=placeholder) if d is smallest else d for d in derivatives
    )
