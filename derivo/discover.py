"""Find the photos under the paths a user names, recognised by content, not name."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from derivo.formats import sniff_file


@dataclass(frozen=True)
class Found:
    """A file to submit; ``format`` is None for a named file that is not an image."""

    path: Path
    format: str | None


def find_photos(paths: Iterable[Path], *, exclude: Iterable[Path] = ()) -> Iterator[Found]:
    """Yield image files under ``paths`` in a stable order.

    Folders are walked recursively (hidden entries and ``exclude`` skipped, folder
    links not followed, so no loops); files found there that are not images are
    passed over silently. A file named directly is always yielded, so the caller
    can report it if it is not an image.
    """
    skip = {p.resolve() for p in exclude}
    seen: set[Path] = set()
    for path in paths:
        path = path.resolve()
        if path.is_dir():
            for found in _walk(path, skip):
                if found.path not in seen:
                    seen.add(found.path)
                    yield found
        elif path not in seen:
            seen.add(path)
            yield Found(path, sniff_file(path))


def _walk(root: Path, skip: set[Path]) -> Iterator[Found]:
    for directory, dirnames, filenames in os.walk(root):
        here = Path(directory)
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and (here / d) not in skip
        )
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = here / name
            fmt = sniff_file(path)
            if fmt is not None:
                yield Found(path, fmt)
