"""Image checks for tests: similarity of pixels, JPEG markers, metadata."""

from __future__ import annotations

from pathlib import Path

import pyvips


def load(path: Path | str) -> pyvips.Image:
    return pyvips.Image.new_from_file(str(path))


def difference(a: Path | str, b: Path | str, size: int = 32) -> float:
    """Mean absolute difference (0-255) of two images squashed to ``size`` x ``size`` grey."""

    def squash(path: Path | str) -> pyvips.Image:
        image = load(path).colourspace("b-w")
        return image.resize(size / image.width, vscale=size / image.height)

    return float((squash(a) - squash(b)).abs().avg())


def jpeg_markers(data: bytes) -> set[int]:
    """The JPEG markers present before the image data (e.g. 0xC2 = progressive SOF2)."""
    markers, i = set(), 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        markers.add(marker)
        if marker == 0xDA:
            break
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return markers


def metadata_fields(path: Path | str) -> list[str]:
    image = load(path)
    return [f for f in image.get_fields() if f.startswith(("exif", "gps", "xmp", "iptc", "icc"))]
