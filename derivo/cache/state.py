"""A window of photos as the cache records them, in one query (per 60 specs): what the
quick check needs of each photo, with the derivatives recorded for its bytes, as one row
per photo."""

from __future__ import annotations

import operator
import os
from collections.abc import Sequence
from typing import Any

from derivo.cache.store import Store
from derivo.specs import Spec
from derivo.tasks import Derivative

_IN_CHUNK = 500  # ids per ``IN (...)`` list, well under SQLite's limit on parameters
_JOINS = 60  # derivative tables per query, with the photos' under SQLite's limit of 64

#: A recorded photo as one plain row (see :meth:`State.recorded_state`): a tuple costs
#: less than any object when a million of them are read.
Recorded = tuple[Any, ...]

# Where each column of a :data:`Recorded` row is: the photo's, then each spec's derivative.
ID, SOURCE, SIZE, MTIME_NS, INODE, HASH, STATUS, UPDATED_AT, WIDTH, HEIGHT = range(10)
_PHOTO_COLUMNS = "p.id, p.source, p.size, p.mtime_ns, p.inode, p.hash, p.status, p.updated_at, "
_PHOTO_COLUMNS += "p.width, p.height"
_DERIVATIVE_COLUMNS = ("path", "bytes", "width", "height", "format", "thumbhash", "blake3")
#: A brief row's derivative columns: what checking the files needs, no more (a photo that
#: is only counted has no :class:`Derivative` made, so a million rows stay cheap to read).
_FILE_COLUMNS = _DERIVATIVE_COLUMNS[:2]
_FIRST = 10  # the first derivative column
_STRIDE = len(_DERIVATIVE_COLUMNS)
_STRIDES = (_STRIDE, len(_FILE_COLUMNS))  # a full row's, a brief row's
_new = object.__new__
_first = operator.itemgetter(ID)
_stat = os.stat


class State(Store):
    """Bulk reads for re-runs of large libraries: plain rows, one per photo, one query."""

    def recorded_state(
        self, ids: Sequence[str], specs: Sequence[Spec], *, brief: bool = False
    ) -> dict[str, Recorded]:
        """Each recorded photo among ``ids``, by id, as one row: its ``id, source, size,
        mtime_ns, inode, hash, status, updated_at, width, height`` (indexes :data:`ID` to
        :data:`HEIGHT`), then for each of ``specs`` in order the derivative of its bytes
        recorded for that spec (NULLs when there is none); read them with
        :meth:`recorded_derivatives`. A ``brief`` row holds only each derivative's path and
        size, enough for :meth:`files_in_place`.

        One left join per spec on the derivatives' primary key gives one row per photo
        with only the wanted derivatives: no grouping of rows in Python.
        """
        wanted = _FILE_COLUMNS if brief else _DERIVATIVE_COLUMNS
        fingerprints = [self._fingerprint(spec) for spec in specs]
        # SQLite joins at most 64 tables: past that, a query per group of specs, each
        # row's derivatives appended to the photo's columns
        groups = [fingerprints[at : at + _JOINS] for at in range(0, len(fingerprints), _JOINS)]
        found: dict[str, Recorded] = {}
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            rows = self._joined(_PHOTO_COLUMNS, groups[0] if groups else [], chunk, wanted)
            if len(groups) < 2:
                found.update(zip(map(_first, rows), rows, strict=True))
                continue
            part = {row[ID]: row for row in rows}
            for group in groups[1:]:
                for row in self._joined("p.id", group, chunk, wanted):
                    if row[0] in part:
                        part[row[0]] += row[1:]
            width = _FIRST + len(wanted) * len(fingerprints)
            # a photo removed between the queries has no whole row: left out, as unrecorded
            found.update((key, row) for key, row in part.items() if len(row) == width)
        return found

    def _joined(
        self,
        photo_columns: str,
        fingerprints: Sequence[str],
        ids: Sequence[str],
        wanted: Sequence[str],
    ) -> list[Recorded]:
        """``photo_columns`` of the photos among ``ids``, then the columns of the derivative
        of each of ``fingerprints``: one left join each on the derivatives' primary key."""
        joins = "".join(
            f" LEFT JOIN derivatives AS d{i} ON d{i}.hash = p.hash AND d{i}.fingerprint = ?"
            for i in range(len(fingerprints))
        )
        columns = "".join(f", d{i}.{column}" for i in range(len(fingerprints)) for column in wanted)
        return self._tuples(
            f"SELECT {photo_columns}{columns} FROM photos AS p{joins} "
            f"WHERE p.id IN ({', '.join('?' * len(ids))})",
            [*fingerprints, *ids],
        )

    def files_in_place(self, row: Recorded, specs: Sequence[Spec]) -> bool:
        """Whether each of ``specs``' derivatives in a row :meth:`recorded_state` read for
        them (full or brief: the row's length tells) is recorded, and on disk at its
        recorded size (one ``stat`` each): a file deleted or cut short by hand is then made
        again, as the cache promises."""
        prefix = self._root_prefix
        stride = _stride(row, len(specs))
        try:
            for at in range(_FIRST, len(row), stride):
                path = row[at]
                if path is None or _stat(prefix + path).st_size != row[at + 1]:
                    return False
        except OSError:
            return False
        return True

    def recorded_derivatives(
        self, row: Recorded, specs: Sequence[Spec]
    ) -> dict[str, Derivative] | None:
        """The derivatives in a row :meth:`recorded_state` read for ``specs`` (the same
        specs, in the same order), by spec name; None unless every one is recorded."""
        if len(row) != _FIRST + _STRIDE * len(specs):
            raise ValueError(f"a row of {len(row)} columns is no full row for {len(specs)} specs")
        made = {}
        prefix = self._root_prefix
        at = _FIRST
        for spec in specs:
            path = row[at]
            if path is None:
                return None
            # the fields set directly, as the dataclass's own __init__ would: a frozen
            # dataclass sets each through object.__setattr__, three times the cost (a test
            # compares the result with the constructor's, should the fields or slots change)
            derivative = _new(Derivative)
            derivative.__dict__.update(
                spec=spec.name,
                path=prefix + path,
                width=row[at + 2],
                height=row[at + 3],
                bytes=row[at + 1],
                format=row[at + 4],
                thumbhash=row[at + 5],
                blake3=row[at + 6],
            )
            made[spec.name] = derivative
            at += _STRIDE
        return made


def _stride(row: Recorded, specs: int) -> int:
    """Columns per derivative in a row read for ``specs`` specs, full or brief, from its
    length: a row read for other specs raises rather than having its columns misread."""
    columns = len(row) - _FIRST
    stride, extra = divmod(columns, specs) if specs else (_STRIDE, columns)
    if extra or stride not in _STRIDES:
        raise ValueError(f"a row of {len(row)} columns was not read for {specs} specs")
    return stride
