"""Recognise the image formats derivo decodes from their first bytes, never the name.

The table is the policy of what derivo accepts, kept to formats its decoders
(libvips, pillow-heif) handle; anything else is refused before a worker sees it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

#: Bytes needed to recognise every format below.
SNIFF_BYTES = 32

_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}


def sniff(head: bytes) -> str | None:
    """Name the format of a file from its first :data:`SNIFF_BYTES` bytes, or None.

    >>> sniff(b"\\xff\\xd8\\xff\\xe0rest")
    'jpeg'
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return "heif"
        if brand in _AVIF_BRANDS:
            return "avif"
    return None


def sniff_file(path: Path) -> str | None:
    """Like :func:`sniff`, reading the head of ``path``; None for anything but a regular file.

    Raises OSError when the file cannot be read. Opened non-blocking so a named
    pipe cannot hang the caller.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return sniff(os.read(fd, SNIFF_BYTES))
    finally:
        os.close(fd)
