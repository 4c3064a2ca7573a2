"""When a photo was taken: EXIF ``DateTimeOriginal`` with its ``OffsetTimeOriginal``.

Only the header is read (Pillow opens lazily; HEIF through pillow-heif's opener),
so this costs well under a millisecond of the upload. A photo without a usable
date gets the caller's fallback (the upload time, for the service).

EXIF dates are camera-local; without an offset the zone is unknown, so the time
is kept "floating": it sorts as if it were UTC and is shown without a zone.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Literal

from PIL import Image, UnidentifiedImageError

log = logging.getLogger("derivo")

#: EXIF sub-IFD and the tags read from it.
_EXIF_IFD = 0x8769
_DATE_TIME_ORIGINAL = 0x9003
_DATE_TIME_DIGITIZED = 0x9004
_OFFSET_TIME_ORIGINAL = 0x9011
_OFFSET_TIME_DIGITIZED = 0x9012
_SUBSEC_TIME_ORIGINAL = 0x9291

CapturedFrom = Literal["exif", "upload", "recorded"]


@dataclass(frozen=True, kw_only=True)
class Captured:
    """A capture time: ``at`` in seconds since the epoch, ``offset`` in minutes east of UTC.

    With ``offset`` None the time is floating (camera-local, zone unknown) and
    ``at`` reads its wall-clock value as UTC.
    """

    at: float
    offset: int | None
    source: CapturedFrom

    def isoformat(self) -> str:
        """ISO 8601, with the offset when known: ``2021-04-11T15:47:53-05:00``."""
        if self.offset is None:
            return datetime.fromtimestamp(self.at, UTC).replace(tzinfo=None).isoformat()
        zone = timezone(timedelta(minutes=self.offset))
        return datetime.fromtimestamp(self.at, zone).isoformat()

    @classmethod
    def fallback(cls, at: float, source: CapturedFrom = "upload") -> Captured:
        return cls(at=at, offset=0, source=source)


def parse_exif_time(
    value: str, offset: str | None = None, subsec: str | None = None
) -> Captured | None:
    """An EXIF date (``2021:04:11 15:47:53``), offset (``-05:00``) and sub-seconds, or None.

    >>> parse_exif_time("2021:04:11 15:47:53", "-05:00").isoformat()
    '2021-04-11T15:47:53-05:00'
    """
    value = value.strip().rstrip("\x00")
    try:
        moment = datetime.strptime(value, "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None  # blank ("    :  :     :  :  ") or damaged: no date
    if moment.year < 1826:  # before the first photograph: a camera with an unset clock
        return None
    minutes = _offset_minutes(offset) if offset else None
    fraction = 0.0
    if subsec and subsec.strip().rstrip("\x00").isdigit():
        digits = subsec.strip().rstrip("\x00")
        fraction = int(digits) / 10 ** len(digits)
    at = moment.replace(tzinfo=UTC).timestamp() + fraction
    if minutes is not None:
        at -= minutes * 60
    return Captured(at=at, offset=minutes, source="exif")


def _offset_minutes(text: str) -> int | None:
    text = text.strip().rstrip("\x00")
    if len(text) != 6 or text[0] not in "+-" or text[3] != ":":
        return None
    hours, minutes = text[1:3], text[4:6]
    if not (hours.isdigit() and minutes.isdigit()) or int(hours) > 14 or int(minutes) > 59:
        return None
    sign = -1 if text[0] == "-" else 1
    return sign * (int(hours) * 60 + int(minutes))


#: The filter :func:`_ignore_bomb_warning` keeps, as :data:`warnings.filters` holds it.
_IGNORE_BOMB = ("ignore", None, Image.DecompressionBombWarning, None, 0)


def _ignore_bomb_warning() -> None:
    """Silence Pillow's decompression-bomb warning: only the header is read here, so a
    huge pixel count costs nothing.

    A filter kept in the process's list, not one set and restored around each open
    (``warnings.catch_warnings``): that list is process-wide, and threads reading side
    by side would restore it out of order. It is looked for on each call, as whoever
    restores the list (a caller's ``catch_warnings``, a test runner) drops it.
    """
    if _IGNORE_BOMB not in warnings.filters:
        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def read_capture_time(path: Path, fmt: str | None = None) -> Captured | None:
    """The capture time recorded in ``path``'s EXIF, or None if it has none or is unreadable."""
    if fmt == "heif":
        import pillow_heif

        pillow_heif.register_heif_opener()
    _ignore_bomb_warning()
    try:
        with Image.open(path) as image:
            exif = image.getexif().get_ifd(_EXIF_IFD)
    except Image.DecompressionBombError:
        return None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return None  # no readable EXIF: the caller's fallback date applies
    except Exception as exc:  # a damaged EXIF block trips Pillow's parser in many ways
        log.warning("ignoring unreadable EXIF in %s: %s: %s", path, type(exc).__name__, exc)
        return None
    for date_tag, offset_tag in (
        (_DATE_TIME_ORIGINAL, _OFFSET_TIME_ORIGINAL),
        (_DATE_TIME_DIGITIZED, _OFFSET_TIME_DIGITIZED),
    ):
        value = exif.get(date_tag)
        if not isinstance(value, str):
            continue
        offset = exif.get(offset_tag)
        subsec = exif.get(_SUBSEC_TIME_ORIGINAL) if date_tag == _DATE_TIME_ORIGINAL else None
        with contextlib.suppress(ValueError, OverflowError):
            found = parse_exif_time(
                value,
                offset if isinstance(offset, str) else None,
                subsec if isinstance(subsec, str) else None,
            )
            if found is not None:
                return found
    return None
