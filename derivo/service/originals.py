"""Uploaded originals, content-addressed: ``<root>/<hash[:2]>/<hash>``.

An upload streams into a temp file in ``root`` (same file system, so the final
rename is atomic), is fsynced, then renamed to its hash's path; the same bytes
uploaded twice are stored once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from derivo.atomic import create_temp, fsync_directory, full_device
from derivo.hashing import content_path


class Originals:
    """The folder of uploaded source files, one per distinct content hash."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()

    def path(self, source_hash: str) -> Path:
        return content_path(self.root, source_hash)

    def temp_file(self) -> tuple[BinaryIO, Path]:
        """A new private (0600) temp file to stream an upload into."""
        with full_device(self.root):
            return create_temp(self.root, "upload", private=True)

    def commit(self, temp: Path, source_hash: str) -> Path:
        """Move a complete, fsynced temp file to its hash's path (or drop it if already there).

        The temp file is gone afterwards, whether this succeeds or raises.
        """
        final = self.path(source_hash)
        try:
            if final.is_file():
                return final
            with full_device(self.root):
                if not final.parent.is_dir():
                    final.parent.mkdir(exist_ok=True)
                    fsync_directory(self.root)
                os.replace(temp, final)
                fsync_directory(final.parent)
            return final
        finally:
            temp.unlink(missing_ok=True)

    def remove(self, source_hash: str) -> None:
        self.path(source_hash).unlink(missing_ok=True)
