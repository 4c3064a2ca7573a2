"""Pages of ``GET /photos``: by id, or newest first by capture or upload time.

Time orders page with an opaque keyset cursor, the last photo's (time, id):
photos uploaded or deleted between two pages never shift the next one, so a
client walking the list sees no photo twice and skips none that stayed.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Literal

from derivo.cache import DerivativeCache, PhotoRecord, PhotoStatus
from derivo.errors import InputError
from derivo.service.views import PhotoPage, PhotoView

Order = Literal["id", "captured", "uploaded"]
ORDER_HELP = (
    "id (default), or newest first: captured (EXIF capture time, else upload time) or uploaded."
)


def photo_page(
    cache: DerivativeCache,
    view: Callable[[PhotoRecord], PhotoView],
    *,
    order: Order,
    status: PhotoStatus | None,
    after: str | None,
    limit: int,
) -> PhotoPage:
    """One page of photos in ``order``, and the cursor of the next (None on the last)."""
    if order == "id":
        records = cache.photos(status=status, after=after, limit=limit)
        following = records[-1].id if len(records) == limit else None
    else:
        key = decode_cursor(order, after) if after else None
        records = cache.photos_in_order(order, status=status, after=key, limit=limit)
        following = encode_cursor(order, records[-1]) if len(records) == limit else None
    return PhotoPage(
        photos=[view(r) for r in records], next=following, order=order, counts=cache.counts()
    )


def sort_key(order: Order, record: PhotoRecord) -> float:
    if order == "captured" and record.captured is not None:
        return record.captured.at
    return record.created_at


def encode_cursor(order: Order, record: PhotoRecord) -> str:
    """``order`` and the record's (time, id), exact (``float.hex``), base64url."""
    text = f"{order}|{sort_key(order, record).hex()}|{record.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(order: Order, cursor: str) -> tuple[float, str]:
    """The (time, id) of a cursor made by :func:`encode_cursor` for the same order."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        made_for, key, photo_id = text.split("|", 2)
        value = float.fromhex(key)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InputError(
            "after: not a cursor of this listing (use the previous page's next)"
        ) from None
    if made_for != order:
        raise InputError(f"after: a cursor of order={made_for}, not order={order}")
    return value, photo_id
