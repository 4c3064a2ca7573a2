"""One run per output folder: an exclusive lock that names the run holding it.

Two runs on the same folder would both find the same photos missing and render
them twice; the second run is refused at once with the first one's pid instead.
``flock`` is released by the kernel when the holder exits, however it exits, so a
killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from derivo.atomic import is_full
from derivo.errors import FolderLocked

LOCK_NAME = "derivo.lock"
_NOTE_WAIT = 5.0  # seconds a refused run waits for a brand-new holder to name itself


class FolderLock:
    """An exclusive ``flock`` on ``<folder>/derivo.lock`` holding ``<pid> <purpose>``.

    >>> with FolderLock(Path(tmp), purpose="derivo process"):  # doctest: +SKIP
    ...     ...  # a second FolderLock on tmp raises FolderLocked until here
    """

    def __init__(
        self, folder: Path, *, purpose: str = "derivo", kind: str = "output folder"
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / LOCK_NAME
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder_note(self._fd)
            os.close(self._fd)
            pid, _, who = holder.partition(" ")
            raise FolderLocked(
                f"{folder} is in use by {who or 'another derivo run'} (pid {pid or '?'}); "
                f"wait for it to finish, or use another {kind}"
            ) from None
        note = f"{os.getpid()} {purpose}\n".encode()
        try:
            # written over the last holder's note, then cut: a reader never sees it empty
            os.pwrite(self._fd, note, 0)
            os.ftruncate(self._fd, len(note))
        except OSError as exc:
            # naming the holder is a courtesy; on a full disk the writes that matter say so
            if not is_full(exc):
                raise

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def _holder_note(fd: int) -> str:
    """The holder's ``<pid> <purpose>``; a holder that just took the lock writes it at once."""
    deadline = time.monotonic() + _NOTE_WAIT
    while True:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
        if holder or time.monotonic() > deadline:
            return holder
        time.sleep(0.01)
