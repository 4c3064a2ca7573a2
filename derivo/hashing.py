"""BLAKE3 content hashes of sources: the identity that keys every derivative.

BLAKE3 is several times faster than MD5 here and collision-resistant, so a
crafted upload cannot take over another photo's derivatives.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import blake3

CHUNK = 4 * 1024 * 1024


def hash_file(path: str | os.PathLike[str]) -> str:
    """Hex BLAKE3 digest of a file's bytes (64 characters).

    Read in chunks rather than memory-mapped: a file truncated while it is read
    (an editor saving over it) must give an error, not a SIGBUS in the coordinator.
    """
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a named pipe must not block us
    with open(fd, "rb", buffering=0) as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        # a small file needs a small buffer: making a 4 MB one costs more than hashing it
        buffer = bytearray(min(CHUNK, st.st_size + 1))
        view = memoryview(buffer)
        while n := f.readinto(buffer):
            hasher.update(view[:n])
    return hasher.hexdigest()


def new_hasher() -> blake3.blake3:
    """A streaming hasher, for bytes that arrive in pieces (uploads)."""
    return blake3.blake3()


def content_path(root: Path, source_hash: str) -> Path:
    """Where content with this hash lives under ``root``: ``<root>/<hh>/<hash>``.

    The two-hex-digit level keeps any one folder to a few thousand entries at most.
    """
    return root / source_hash[:2] / source_hash
