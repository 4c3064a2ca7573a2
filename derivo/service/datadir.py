"""The data directory of one server: the sweep of crash leftovers.

One server owns a data directory at a time (a :class:`~derivo.lock.FolderLock` on it
and on its derivatives folder): the cache has a single writer, and the startup sweep
removes temporary files that only a dead process can have left.
"""

from __future__ import annotations

from pathlib import Path

from derivo.atomic import remove_leftovers


def sweep_temp_files(*roots: Path) -> int:
    """Remove the temporary files under ``roots`` that a killed process left; returns how many.

    Only safe while holding the server's locks: nobody else can be writing them.
    """
    return sum(remove_leftovers(root, recursive=True) for root in roots)
