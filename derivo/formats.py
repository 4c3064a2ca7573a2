"""The image formats derivo knows, in one table; recognising them from their first bytes.

:data:`FORMATS` is the policy: what derivo decodes (``input``), what a spec may ask
for (``output``), and for each its file extension, media type and libvips encoder
with its options. Specs, the renderer, the CLI help and the service all read it,
so adding an output format is one entry here (its encoder is a libvips
``*save_buffer`` operation). Inputs are recognised by :func:`sniff`, from the
bytes, never the name; anything else is refused before a worker sees it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EncoderOptions = Callable[[int, bool], dict[str, Any]]


def _no_options(quality: int, progressive: bool) -> dict[str, Any]:
    return {}


@dataclass(frozen=True, kw_only=True)
class Format:
    """One image format; ``encoder`` names the libvips operation that writes it to memory.

    ``options(quality, progressive)`` gives that operation's keyword arguments;
    metadata is always stripped on top of them.
    """

    name: str
    label: str
    extension: str
    media_type: str
    input: bool = True
    encoder: str | None = None
    options: EncoderOptions = field(default=_no_options, repr=False)

    @property
    def output(self) -> bool:
        return self.encoder is not None


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            name="jpeg",
            label="JPEG",
            extension="jpg",
            media_type="image/jpeg",
            encoder="jpegsave_buffer",
            options=lambda q, progressive: {
                "Q": q,
                "interlace": progressive,
                "optimize_coding": True,
            },
        ),
        Format(name="png", label="PNG", extension="png", media_type="image/png"),
        Format(
            name="webp",
            label="WebP",
            extension="webp",
            media_type="image/webp",
            encoder="webpsave_buffer",
            options=lambda q, progressive: {"Q": q},
        ),
        Format(name="gif", label="GIF", extension="gif", media_type="image/gif"),
        Format(name="tiff", label="TIFF", extension="tif", media_type="image/tiff"),
        # HEIF photos are HEVC-coded (a phone's .heic): image/heic, not the container's
        # generic image/heif (ISO/IEC 23008-12 Annex C, as registered with IANA)
        Format(name="heif", label="HEIF/HEIC", extension="heic", media_type="image/heic"),
        Format(
            name="avif",
            label="AVIF",
            extension="avif",
            media_type="image/avif",
            encoder="heifsave_buffer",
            options=lambda q, progressive: {"Q": q, "compression": "av1"},
        ),
    )
}
INPUTS: tuple[Format, ...] = tuple(f for f in FORMATS.values() if f.input)
OUTPUTS: tuple[Format, ...] = tuple(f for f in FORMATS.values() if f.output)


def labels(formats: tuple[Format, ...]) -> str:
    """``JPEG, PNG, ...``: for help texts and documentation."""
    return ", ".join(f.label for f in formats)


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
