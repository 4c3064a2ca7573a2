"""A window of photos as the cache records them, in one query: what the quick check
needs of each photo, with the derivatives recorded for its bytes, as one row per photo."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from derivo.cache.store import Store
from derivo.specs import Spec
from derivo.tasks import Derivative

_IN_CHUNK = 500  # ids per ``IN (...)`` list, well under SQLite's limit on parameters

#: A recorded photo as one plain row (see :meth:`State.recorded_state`): a tuple costs
#: less than any object when a million of them are read.
Recorded = tuple[Any, ...]

# Where each column of a :data:`Recorded` row is: the photo's, then each spec's derivative.
ID, SOURCE, SIZE, MTIME_NS, INODE, HASH, STATUS, UPDATED_AT, WIDTH, HEIGHT = range(10)
_PHOTO_COLUMNS = "p.id, p.source, p.size, p.mtime_ns, p.inode, p.hash, p.status, p.updated_at, "
_PHOTO_COLUMNS += "p.width, p.height"
_DERIVATIVE_COLUMNS = ("path", "bytes", "width", "height", "format", "thumbhash", "blake3")
_FIRST = 10  # the first derivative column
_STRIDE = len(_DERIVATIVE_COLUMNS)
_new = object.__new__


class State(Store):
    """Bulk reads for re-runs of large libraries: plain rows, one per photo, one query."""

    def recorded_state(self, ids: Sequence[str], specs: Sequence[Spec]) -> dict[str, Recorded]:
        """Each recorded photo among ``ids``, by id, as one row: its ``id, source, size,
        mtime_ns, inode, hash, status, updated_at, width, height`` (indexes :data:`ID` to
        :data:`HEIGHT`), then for each of ``specs`` in order the derivative of its bytes
        recorded for that spec (NULLs when there is none); read them with
        :meth:`recorded_derivatives`.

        One left join per spec on the derivatives' primary key gives one row per photo
        with only the wanted derivatives: no grouping of rows in Python.
        """
        fingerprints = [self._fingerprint(spec) for spec in specs]
        joins = "".join(
            f" LEFT JOIN derivatives AS d{i} ON d{i}.hash = p.hash AND d{i}.fingerprint = ?"
            for i in range(len(fingerprints))
        )
        columns = "".join(
            f", d{i}.{column}" for i in range(len(fingerprints)) for column in _DERIVATIVE_COLUMNS
        )
        found: dict[str, Recorded] = {}
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            rows = self._tuples(
                f"SELECT {_PHOTO_COLUMNS}{columns} FROM photos AS p{joins} "
                f"WHERE p.id IN ({', '.join('?' * len(chunk))})",
                [*fingerprints, *chunk],
            )
            found.update((row[ID], row) for row in rows)
        return found

    def recorded_derivatives(
        self, row: Recorded, specs: Sequence[Spec]
    ) -> dict[str, Derivative] | None:
        """The derivatives in a row :meth:`recorded_state` read for ``specs`` (the same
        specs, in the same order), by spec name; None unless every one is recorded."""
        made = {}
        prefix = self._root_prefix
        at = _FIRST
        for spec in specs:
            path = row[at]
            if path is None:
                return None
            # the fields set directly, as the dataclass's own __init__ would: a frozen
            # dataclass sets each through object.__setattr__, three times the cost
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
