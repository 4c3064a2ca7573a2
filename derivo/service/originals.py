"""Uploaded originals, content-addressed: ``<root>/<hash[:2]>/<hash>``.

An upload streams into a temp file in ``root`` (same file system, so the final
rename is atomic), then is renamed to its hash's path; the same bytes uploaded
twice are stored once. Files are made durable by the caller, many at once
(:func:`derivo.atomic.make_durable`), before any of them is recorded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from derivo.atomic import create_temp, fsync_directory, full_device
from derivo.errors import OutputError
from derivo.hashing import content_path


class Originals:
    """The folder of uploaded source files, one per distinct content hash."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()

    def path(self, source_hash: str) -> Path:
        return content_path(self.root, source_hash)

    def temp_file(self) -> tuple[BinaryIO, Path]:
        """A new private (0600) temp file to stream an upload into.

        Raises :class:`~derivo.errors.StorageFull` on a full device, and
        :class:`~derivo.errors.OutputError` when the folder cannot be written
        (gone, no permission): one line, never a traceback.
        """
        try:
            with full_device(self.root):
                return create_temp(self.root, "upload", private=True)
        except OSError as exc:
            raise OutputError(
                f"cannot create an upload's temp file in {self.root}: {exc.strerror or exc}"
            ) from None

    def commit(self, temp: Path, source_hash: str) -> Path:
        """Move a complete temp file to its hash's path (or drop it if already there).

        The temp file is gone afterwards, whether this succeeds or raises. The file
        and its folder's entry are durable once the caller has made them so; a new
        folder's own entry is synced here (a few hundred folders, once each).
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
            return final
        finally:
            temp.unlink(missing_ok=True)

    def remove(self, source_hash: str) -> None:
        self.path(source_hash).unlink(missing_ok=True)
