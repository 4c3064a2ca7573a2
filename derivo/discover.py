"""Find the photos under the paths a user names, recognised by content, not name."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from derivo.formats import sniff_file


@dataclass(frozen=True)
class Found:
    """A file to submit: an image, a named file that is not one, or an unreadable file.

    ``format`` is None unless the bytes are a known image; ``error`` says why a file
    could not be read (the pipeline then records it as failed with that reason).
    """

    path: Path
    format: str | None
    error: str | None = None

    @property
    def photo_id(self) -> str:
        """The path as printable text (file names need not be valid UTF-8)."""
        return printable(self.path)


def printable(path: Path) -> str:
    """``str(path)`` with undecodable bytes shown as ``\\xNN`` escapes, safe to store."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def find_photos(
    paths: Iterable[Path],
    *,
    exclude: Iterable[Path] = (),
    passed_over: Callable[[Path], None] | None = None,
) -> Iterator[Found]:
    """Yield image files under ``paths`` in a stable order.

    Folders are walked recursively (hidden entries and anything inside ``exclude``
    skipped, folder links not followed, so no loops); files found there that are
    not images are passed over silently, unreadable ones are yielded with their
    error; ``passed_over`` is told of each, so they can be counted. A file named
    directly is always yielded, so the caller can report it if it is not an image.
    """
    skip = [p.resolve() for p in exclude]
    seen: set[Path] = set()
    for path in paths:
        path = path.resolve()
        found = _walk(path, skip, passed_over) if path.is_dir() else iter([_look(path)])
        for item in found:
            if item.path not in seen and not _inside(item.path, skip):
                seen.add(item.path)
                yield item


def _inside(path: Path, folders: list[Path]) -> bool:
    return any(path.is_relative_to(folder) for folder in folders)


def _look(path: Path) -> Found:
    try:
        return Found(path, sniff_file(path))
    except OSError as exc:
        return Found(path, None, f"cannot read source: {exc.strerror}")


def _walk(
    root: Path, skip: list[Path], passed_over: Callable[[Path], None] | None
) -> Iterator[Found]:
    for directory, dirnames, filenames in os.walk(root):
        here = Path(directory)
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and not _inside(here / d, skip)
        )
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            found = _look(here / name)
            if found.format is not None or found.error is not None:
                yield found
            elif passed_over is not None:
                passed_over(found.path)
