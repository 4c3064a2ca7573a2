"""``GET /photos/{id}/original``: which stored file to serve, and as what (token required).

The store of uploaded files itself is :mod:`derivo.service.originals`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from derivo.cache import DerivativeCache
from derivo.formats import FORMATS, sniff_file


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
        media_type=FORMATS[fmt].media_type if fmt else "application/octet-stream",
        etag=f'"{record.hash}"',
        name=record.name,
    )
