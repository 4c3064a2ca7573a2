"""Crash-safe file writes: a reader sees the old file, the new file, or none; never half."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path


def write_atomically(directory: Path, files: Mapping[str, bytes]) -> None:
    """Write each ``name -> data`` into ``directory`` via temp file, fsync and rename.

    The directory itself is fsynced once at the end so the renames survive a power
    loss; callers record a file only after this returns.
    """
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


def fsync_directory(directory: Path) -> None:
    """Make renames and creations inside ``directory`` durable."""
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
