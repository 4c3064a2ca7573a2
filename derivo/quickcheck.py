"""The quick check: which photos are provably unchanged since they were recorded.

Like git's index: size, mtime and inode unchanged, same path, and the mtime clearly
older than the record, since an edit within one timestamp tick of the last hash
(2 s on FAT) would otherwise go unseen. A re-run of an unchanged library is answered
a window at a time (:func:`answer_unchanged`, or :func:`count_unchanged` for a caller
that needs no result for them): one query for the photos' recorded state and
derivatives (a plain row per photo), a stat per derivative file, and no write at all.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from derivo.cache import DerivativeCache, PhotoStatus, Recorded
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
from derivo.specs import Spec, SpecSet

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
    unchanged, others = _unchanged(cache, wanted, entries, brief=False)
    derivatives = cache.recorded_derivatives
    results = []
    for photo_id, source, row in unchanged:
        made = derivatives(row, wanted)
        assert made is not None  # its files were found recorded and in place
        results.append(
            PhotoResult.unchanged(photo_id, source, row[HASH], made, (row[WIDTH], row[HEIGHT]))
        )
    return results, others


def count_unchanged(
    cache: DerivativeCache, specs: SpecSet, entries: Sequence[Entry]
) -> tuple[int, list[int]]:
    """Like :func:`answer_unchanged`, for a caller that only counts the photos that need
    nothing: how many there are, and the indexes of the others.

    The same checks, from brief rows, and no result made for a photo that needs none:
    what a re-run of a large unchanged library can least do.
    """
    unchanged, others = _unchanged(cache, specs.specs, entries, brief=True)
    return len(unchanged), others


def _unchanged(
    cache: DerivativeCache, wanted: Sequence[Spec], entries: Sequence[Entry], *, brief: bool
) -> tuple[list[tuple[str, str, Recorded]], list[int]]:
    """``(id, source, row)`` of the photos among ``entries`` that need nothing, and the
    indexes of the others."""
    recorded = cache.recorded_state([entry[0] for entry in entries], wanted, brief=brief)
    in_place = cache.files_in_place
    done = PhotoStatus.DONE.value
    unchanged: list[tuple[str, str, Recorded]] = []
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
            or not in_place(row, wanted)
        ):
            others.append(index)
        else:
            unchanged.append((photo_id, source, row))
    return unchanged, others
