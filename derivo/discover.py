"""Find the photos under the paths a user names, recognised by content, not name.

Folders are read with ``os.scandir``, so each file costs one ``lstat`` and a string:
a library of a million files is listed without a ``Path`` object or a read per file.
Whether a file is an image is read from its first bytes only when someone asks
(:attr:`Found.format`): the pipeline asks only about files its cache does not
already know unchanged.
"""

from __future__ import annotations

import operator
import os
import stat as stat_module
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from derivo.formats import sniff_file
from derivo.outcomes import printable

_UNREAD = "unread"  # a format not read yet: never a format's name


class Found:
    """A file to submit: an image, a named file that is not one, or an unreadable file.

    ``location`` is the file's absolute path (its folder resolved); ``stat`` its
    ``lstat`` from the walk (None for a link, or when the file was named directly);
    ``error`` says why a file could not be read (the pipeline then records it as
    failed with that reason); ``walked`` files were found in a folder, and are
    passed over unless they are images.
    """

    __slots__ = ("location", "stat", "error", "walked", "_format")

    def __init__(
        self,
        location: str,
        *,
        stat: os.stat_result | None = None,
        error: str | None = None,
        walked: bool = False,
        format: str | None = _UNREAD,
    ) -> None:
        self.location = location
        self.stat = stat
        self.error = error
        self.walked = walked
        self._format = format

    @property
    def path(self) -> Path:
        return Path(self.location)

    @property
    def photo_id(self) -> str:
        """The path as printable text (file names need not be valid UTF-8)."""
        return printable(self.location)

    @property
    def format(self) -> str | None:
        """The image format read from the file's first bytes, None for anything else."""
        if self._format == _UNREAD:
            self._format = None
            if self.error is None:
                try:
                    self._format = sniff_file(Path(self.location))
                except OSError as exc:
                    self.error = f"cannot read source: {exc.strerror}"
        return self._format

    def __repr__(self) -> str:
        return f"Found({self.location!r}, error={self.error!r}, walked={self.walked})"


def find_photos(
    paths: Iterable[Path],
    *,
    exclude: Iterable[Path] = (),
    passed_over: Callable[[Path], None] | None = None,
) -> Iterator[Found]:
    """Yield image files under ``paths`` in a stable order, as they are found.

    Like :func:`scan`, but files found in folders are read at once: those that
    are not images are passed over silently (``passed_over`` is told of each, so
    they can be counted), unreadable ones are yielded with their error.
    """
    for found in scan(paths, exclude=exclude):
        if found.walked and found.format is None and found.error is None:
            if passed_over is not None:
                passed_over(found.path)
            continue
        yield found


def scan(paths: Iterable[Path], *, exclude: Iterable[Path] = ()) -> Iterator[Found]:
    """Yield every file under ``paths`` in a stable order, as it is found, unread.

    Folders are walked recursively (hidden entries and anything inside ``exclude``
    skipped, folder links not followed, so no loops). A file named directly is
    always yielded (``walked`` False), so the caller can report it if it is not an
    image. Nothing is yielded twice, and memory does not grow with the number of
    files (only with the number of paths named and the depth of the tree).
    """
    skip = [str(p.resolve()) for p in exclude]
    walked: list[str] = []
    named: set[str] = set()
    for path in paths:
        resolved = str(path.resolve())
        if resolved in named or _inside(resolved, skip):
            continue
        if os.path.isdir(resolved):
            if not _inside(resolved, walked):
                found_here = _walk(resolved, skip + walked)
                if named:
                    found_here = (f for f in found_here if f.location not in named)
                yield from found_here
                walked.append(resolved)
            continue
        named.add(resolved)
        found = Found(resolved)
        walk_had_it = found.format is not None or found.error is not None
        if not (walk_had_it and _inside(resolved, walked)):
            yield found


def _inside(path: str, folders: list[str]) -> bool:
    return any(
        path == folder or path.startswith(folder.rstrip(os.sep) + os.sep) for folder in folders
    )


def _walk(root: str, skip: list[str]) -> Iterator[Found]:
    """Depth first, names sorted: each folder's files, then its subfolders.

    A stack, not recursion: each file passes through one generator, however deep the tree.
    """
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=_name)
        except OSError:
            continue  # a folder that vanished or cannot be listed has nothing to offer
        folders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not _inside(entry.path, skip):
                        folders.append(entry.path)
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                yield Found(entry.path, error=f"cannot read source: {exc.strerror}", walked=True)
                continue
            if _is_file(st.st_mode):  # the common case first: a walk may see a million
                yield Found(entry.path, stat=st, walked=True)
            elif stat_module.S_ISLNK(st.st_mode):
                if not os.path.isdir(entry.path):  # a folder link is not followed
                    yield Found(entry.path, walked=True)
            else:  # a pipe, socket or device is never opened: not a photo
                yield Found(entry.path, stat=st, walked=True, format=None)
        stack.extend(reversed(folders))


_name = operator.attrgetter("name")
_is_file = stat_module.S_ISREG
