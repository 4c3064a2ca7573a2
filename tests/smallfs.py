"""Small real file systems for full-disk tests: a size-limited tmpfs mounted on a folder.

Filling one to the last page makes every write under it fail with ENOSPC, exactly
as a full disk does; removing the filler gives the space back. Mounting needs
the right to mount (root, as in CI); the tests that use it say so plainly.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

FILLER = "filler"


class SmallFs:
    """Mounts tmpfs file systems for one test and unmounts them all at the end."""

    def __init__(self) -> None:
        self.mounted: list[Path] = []

    def mount(self, folder: Path, size: str = "8m") -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"full-disk tests mount a small tmpfs and need the right to (root): "
                f"{done.stderr.strip()}"
            )
        self.mounted.append(folder)
        return folder

    def unmount_all(self) -> None:
        for folder in reversed(self.mounted):
            subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)
        self.mounted.clear()


def fill(root: Path) -> Path:
    """Take every free byte of ``root``'s file system; returns the filler file."""
    filler = root / FILLER
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for size in (1 << 20, 1 << 12, 1):
            block = b"\xa5" * size
            try:
                while True:
                    os.write(fd, block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    finally:
        os.close(fd)
    return filler


def free(root: Path) -> None:
    """Give the space :func:`fill` took back."""
    (root / FILLER).unlink()
