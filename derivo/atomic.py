"""Crash-safe file writes: a reader sees the old file, the new file, or none; never half.

Every temporary file derivo writes is made here, named ``.<name>.<random>.tmp``
next to its final path, so one pattern finds what a killed writer left. Files
follow the umask (usually 0644, so a web server running as another user can
serve derivatives), or are ``private`` (0600: uploaded originals, the token).
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from derivo.errors import StorageFull

#: Temporary files are named ``.<name>.<random>.tmp``, next to their final path.
TEMP_PATTERN = ".*.tmp"
PUBLIC_MODE = 0o666  # before the umask, as open() and the shell create files
PRIVATE_MODE = 0o600


def create_temp(directory: Path, name: str, *, private: bool = False) -> tuple[BinaryIO, Path]:
    """A new, empty temp file for ``name`` in ``directory``, open for writing."""
    fd, path = open_temp(os.fspath(directory), name, PRIVATE_MODE if private else PUBLIC_MODE)
    return os.fdopen(fd, "wb"), Path(path)


def open_temp(folder: str, name: str, mode: int) -> tuple[int, str]:
    """A new, empty temp file for ``name`` in ``folder``: its descriptor and path.

    Every temp file derivo writes is born here. A descriptor, not a file object:
    making one costs three more system calls, per file, on a path taken per photo.
    """
    while True:
        path = f"{folder}/.{name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode), path
        except FileExistsError:
            continue


def write_atomically(
    directory: Path, files: Mapping[str, bytes], *, private: bool = False, sync: bool = True
) -> None:
    """Write each ``name -> data`` into ``directory`` via temp file, fsync and rename.

    The directory itself is fsynced once at the end so the renames survive a power
    loss; callers record a file only after this returns. Folders made on the way
    follow the umask. With ``sync=False`` the caller takes the fsyncs on, for many
    files at once (:func:`make_durable`). A full device raises
    :class:`~derivo.errors.StorageFull` naming the folder, and leaves no temp file.
    """
    mode = PRIVATE_MODE if private else PUBLIC_MODE
    folder = os.fspath(directory)
    with full_device(directory):
        _make_folder(folder)
        for name, data in files.items():
            fd, tmp = open_temp(folder, name, mode)
            try:
                try:
                    _write_all(fd, data)
                    if sync:
                        os.fsync(fd)
                finally:
                    os.close(fd)
                os.replace(tmp, f"{folder}/{name}")
            except BaseException:
                with suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        if sync:
            fsync_directory(directory)


def _make_folder(folder: str) -> None:
    """``mkdir -p`` (following the umask), in one system call when only the last level is
    missing, as for a new source's folder."""
    try:
        os.mkdir(folder)
    except FileNotFoundError:
        os.makedirs(folder, exist_ok=True)
    except FileExistsError:
        if not os.path.isdir(folder):
            raise


def _write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` at the descriptor's position (``write`` may take only part)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def make_durable(files: Iterable[str | Path]) -> None:
    """Make files written with ``sync=False``, and their folders, survive a power loss.

    On Linux 5.8 and later one ``syncfs`` per file system flushes a whole batch (as
    PostgreSQL's ``recovery_init_sync_method=syncfs`` does): a few milliseconds
    instead of one fsync per file and per folder. Older kernels' ``syncfs`` returns
    success even when the write-back failed, so there, and off Linux, each file and
    folder is fsynced. A full device (the
    delayed write-back failing for want of space) raises
    :class:`~derivo.errors.StorageFull`.
    """
    files = list(files)  # read twice where syncfs is missing
    folders = {os.path.dirname(path) for path in files}
    syncfs = _syncfs()
    if syncfs is not None:
        devices = {os.stat(folder).st_dev: Path(folder) for folder in folders}
        for folder in devices.values():
            with full_device(folder):
                fd = os.open(folder, os.O_RDONLY)
                try:
                    if syncfs(fd) != 0:
                        code = ctypes.get_errno()
                        raise OSError(code, os.strerror(code), str(folder))
                finally:
                    os.close(fd)
        return
    for path in files:
        with full_device(Path(path).parent), open(path, "rb") as f:
            os.fsync(f.fileno())
    for name in folders:
        with full_device(Path(name)):
            fsync_directory(Path(name))


#: The first Linux release whose ``syncfs`` reports write-back errors to its caller.
SYNCFS_REPORTS_ERRORS = (5, 8)


def syncfs_reports_errors(sysname: str, release: str) -> bool:
    """True if ``syncfs`` on this kernel (``os.uname()``'s fields) fails when a write did.

    A release that does not start with ``major.minor`` counts as too old.
    """
    match = re.match(r"\s*(\d+)\.(\d+)", release)
    if sysname != "Linux" or match is None:
        return False
    return (int(match[1]), int(match[2])) >= SYNCFS_REPORTS_ERRORS


@functools.cache
def _syncfs() -> Callable[[int], int] | None:
    """libc's ``syncfs`` where it can be trusted with durability, else None."""
    uname = os.uname()
    if not syncfs_reports_errors(uname.sysname, uname.release):
        return None
    try:
        function: Callable[[int], int] = ctypes.CDLL(None, use_errno=True).syncfs
    except (AttributeError, OSError):
        return None
    return function


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
