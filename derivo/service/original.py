"""``GET /photos/{id}/original``: the uploaded bytes, as they came (token required)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from derivo.cache import DerivativeCache
from derivo.formats import sniff_file

#: Media types of the formats uploads are accepted in.
MEDIA_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "tiff": "image/tiff",
    "heif": "image/heic",
    "avif": "image/avif",
}


@dataclass(frozen=True)
class Original:
    path: Path
    stat: os.stat_result
    media_type: str
    etag: str
    name: str | None


def find_original(cache: DerivativeCache, photo_id: str) -> Original | None:
    """The photo's stored original, or None when the photo or its file is unknown."""
    record = cache.photo(photo_id)
    if record is None or record.hash is None:
        return None
    path = Path(record.source)
    try:
        stat = os.stat(path)
        fmt = sniff_file(path)
    except OSError:
        return None
    return Original(
        path=path,
        stat=stat,
        media_type=MEDIA_TYPES.get(fmt or "", "application/octet-stream"),
        etag=f'"{record.hash}"',
        name=record.name,
    )
