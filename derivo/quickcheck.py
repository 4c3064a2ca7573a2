"""The quick check: which photos are provably unchanged since they were recorded.

Like git's index: size, mtime and inode unchanged, same path, and the mtime clearly
older than the record, since an edit within one timestamp tick of the last hash
(2 s on FAT) would otherwise go unseen. A re-run of an unchanged library is answered
a window at a time (:func:`answer_unchanged`): one query for the photos' recorded
state and derivatives (a plain row per photo), a stat per derivative file, and no
write at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from derivo.cache import DerivativeCache, PhotoStatus
from derivo.cache.state import (
    HASH,
    HEIGHT,
    INODE,
    MTIME_NS,
    SIZE,
    SOURCE,
    STATUS,
    UPDATED_AT,
    WIDTH,
)
from derivo.discover import Found
from derivo.outcomes import PhotoResult
from derivo.specs import SpecSet
from derivo.tasks import Derivative

RACY_SECONDS = 2.0

#: A photo to check: its id, its source as stored and shown, its stat (None or an error
#: when it could not be stat'ed: never unchanged, then), and the file found, if it was.
Entry = tuple[str, str, os.stat_result | OSError | None, Found | None]


def vouches(
    recorded_source: str,
    recorded: tuple[int | None, int | None, int | None],
    updated_at: float,
    source: str,
    stat: tuple[int, int, int],
) -> bool:
    """Whether the recorded hash still holds: same path and (size, mtime_ns, inode), and
    the mtime clearly older than the record."""
    return (
        recorded_source == source
        and recorded == stat
        and stat[1] / 1e9 <= updated_at - RACY_SECONDS
    )


def answer_unchanged(
    cache: DerivativeCache, specs: SpecSet, entries: Sequence[Entry]
) -> tuple[list[PhotoResult], list[int]]:
    """Results for the photos among ``entries`` that need nothing (recorded done, unchanged,
    every derivative recorded and on disk at its recorded size), and the indexes of the
    others, for the full path (hash, decide, render).

    Derivative files are stat'ed: a derivative deleted or cut short by hand is made
    again by the next run, as the cache promises, for one ``stat`` per file.
    """
    wanted = specs.specs
    recorded = cache.recorded_state([entry[0] for entry in entries], wanted)
    done = PhotoStatus.DONE.value
    results: list[PhotoResult] = []
    others: list[int] = []
    for index, (photo_id, source, st, _) in enumerate(entries):
        row = recorded.get(photo_id)
        if (
            row is None
            or st is None
            or isinstance(st, OSError)
            or row[STATUS] != done
            or not row[HASH]
            or not vouches(
                row[SOURCE],
                (row[SIZE], row[MTIME_NS], row[INODE]),
                row[UPDATED_AT],
                source,
                (st.st_size, st.st_mtime_ns, st.st_ino),
            )
        ):
            others.append(index)
            continue
        made = cache.recorded_derivatives(row, wanted)
        if made is None or not _on_disk(made.values()):
            others.append(index)
            continue
        results.append(
            PhotoResult.unchanged(photo_id, source, row[HASH], made, (row[WIDTH], row[HEIGHT]))
        )
    return results, others


def _on_disk(derivatives: Iterable[Derivative]) -> bool:
    """Every file present at its recorded size (one stat each)."""
    try:
        for derivative in derivatives:
            if os.stat(derivative.path).st_size != derivative.bytes:
                return False
    except OSError:
        return False
    return True
