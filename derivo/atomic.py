"""Crash-safe file writes: a reader sees the old file, the new file, or none; never half."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from derivo.errors import StorageFull

#: Temporary files are named ``.<name>.<random>.tmp``, next to their final path.
TEMP_PATTERN = ".*.tmp"


def write_atomically(directory: Path, files: Mapping[str, bytes]) -> None:
    """Write each ``name -> data`` into ``directory`` via temp file, fsync and rename.

    The directory itself is fsynced once at the end so the renames survive a power
    loss; callers record a file only after this returns. A full device raises
    :class:`~derivo.errors.StorageFull` naming the folder, and leaves no temp file.
    """
    with full_device(directory):
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, directory / name)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        fsync_directory(directory)


def is_full(exc: BaseException) -> bool:
    """True for the errors a full device (or an exhausted quota) gives."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


@contextmanager
def full_device(path: Path) -> Iterator[None]:
    """Turn "no space left" while writing under ``path`` into :class:`StorageFull`."""
    try:
        yield
    except OSError as exc:
        if is_full(exc):
            raise StorageFull(
                f"no space left on the device of {path.absolute()}: free space there, "
                "then try again"
            ) from None
        raise


def fsync_directory(directory: Path) -> None:
    """Make renames and creations inside ``directory`` durable."""
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def remove_leftovers(root: Path, *, recursive: bool = False) -> int:
    """Remove temp files a killed writer left in ``root``; returns how many.

    Call only when nobody else can be writing there (the coordinator, once the
    render of that folder has ended; the service, holding its data directory lock).
    """
    if not root.is_dir():
        return 0
    removed = 0
    for path in root.rglob(TEMP_PATTERN) if recursive else root.glob(TEMP_PATTERN):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    return removed
