"""The data directory of one server: an exclusive lock, and the sweep of crash leftovers.

One server owns a data directory at a time: the cache has a single writer, and the
startup sweep removes temporary files that only a dead process can have left.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from derivo.atomic import remove_leftovers
from derivo.errors import DerivoError


class DataDirLock:
    """An exclusive ``flock`` on ``<data>/lock``, released when the process dies, however."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / "lock"
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(self._fd)
            raise DerivoError(
                f"data directory {data_dir} is in use by another derivo serve (pid {holder})"
            ) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        os.close(self._fd)


def sweep_temp_files(*roots: Path) -> int:
    """Remove the temporary files under ``roots`` that a killed process left; returns how many.

    Only safe while holding the :class:`DataDirLock`: nobody else can be writing them.
    """
    return sum(remove_leftovers(root, recursive=True) for root in roots)
