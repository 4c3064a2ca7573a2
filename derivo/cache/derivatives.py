"""The ``derivatives`` table: which (source hash, spec fingerprint) files exist, and
whether a recorded file is still what was recorded."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from derivo.cache.records import PhotoStatus
from derivo.cache.store import Store
from derivo.hashing import hash_file
from derivo.specs import Spec
from derivo.tasks import Derivative

_IN_CHUNK = 500  # hashes per ``IN (...)`` list, well under SQLite's limit on parameters


class Derivatives(Store):
    """Derivatives keyed by (source hash, spec fingerprint), shared by identical sources."""

    def derivatives(self, source_hash: str, specs: Iterable[Spec]) -> dict[str, Derivative]:
        """Recorded derivatives of ``source_hash`` for ``specs``, by spec name."""
        wanted = {self._fingerprint(spec): spec for spec in specs}
        rows = self._query(
            f"SELECT * FROM derivatives WHERE hash = ? AND fingerprint IN "
            f"({', '.join('?' * len(wanted))})",
            [source_hash, *wanted],
        )
        return {
            wanted[r["fingerprint"]].name: self._derivative(r, spec=wanted[r["fingerprint"]].name)
            for r in rows
        }

    def missing(
        self, source_hash: str, specs: Iterable[Spec], *, verify: bool = False
    ) -> tuple[Spec, ...]:
        """Specs with no recorded derivative for ``source_hash``, or whose file is gone or
        damaged: not its recorded size (one stat), or with ``verify`` not its recorded hash."""
        specs = tuple(specs)
        have = self.derivatives(source_hash, specs)
        return tuple(s for s in specs if s.name not in have or damage(have[s.name], verify=verify))

    def derivatives_of(
        self, hashes: Iterable[str], specs: Iterable[Spec]
    ) -> dict[str, dict[str, Derivative]]:
        """Recorded derivatives of each of ``hashes`` for ``specs``: hash -> spec name -> file."""
        wanted = {self._fingerprint(spec): spec.name for spec in specs}
        unique = list(dict.fromkeys(hashes))
        found: dict[str, dict[str, Derivative]] = {}
        marks = ", ".join("?" * len(wanted))
        prefix = self._root_prefix
        for start in range(0, len(unique), _IN_CHUNK):
            chunk = unique[start : start + _IN_CHUNK]
            rows = self._tuples(
                f"SELECT hash, fingerprint, path, width, height, bytes, format, thumbhash, blake3 "
                f"FROM derivatives "
                f"WHERE hash IN ({', '.join('?' * len(chunk))}) AND fingerprint IN ({marks})",
                [*chunk, *wanted],
            )
            for source_hash, fp, path, width, height, size, fmt, thumbhash, digest in rows:
                name = wanted[fp]
                found.setdefault(source_hash, {})[name] = Derivative(
                    spec=name,
                    path=prefix + path,
                    width=width,
                    height=height,
                    bytes=size,
                    format=fmt,
                    thumbhash=thumbhash,
                    blake3=digest,
                )
        return found

    def record(self, source_hash: str, specs: Iterable[Spec], made: Iterable[Derivative]) -> None:
        """Record derivatives written for ``source_hash`` (call only after they are on disk)."""
        by_name = {spec.name: self._fingerprint(spec) for spec in specs}
        now = time.time()
        with self._transaction() as db:
            db.executemany(
                """INSERT OR REPLACE INTO derivatives
                   (hash, fingerprint, spec, path, width, height, bytes, format, created_at,
                    thumbhash, blake3)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    (
                        source_hash,
                        by_name[d.spec],
                        d.spec,
                        self._relative(d.path),
                        d.width,
                        d.height,
                        d.bytes,
                        d.format,
                        now,
                        d.thumbhash,
                        d.blake3,
                    )
                    for d in made
                ],
            )

    # Queries for listing, cleaning and checking

    def recorded(self, source_hash: str | None = None) -> list[tuple[str, str, Derivative]]:
        """Every recorded derivative as (hash, fingerprint, derivative), whatever spec made it;
        of one source when ``source_hash`` is given. Ordered by hash, spec, newest first."""
        sql = "SELECT * FROM derivatives"
        params: list[str] = []
        if source_hash is not None:
            sql += " WHERE hash = ?"
            params.append(source_hash)
        rows = self._query(sql + " ORDER BY hash, spec, created_at DESC", params)
        return [(r["hash"], r["fingerprint"], self._derivative(r)) for r in rows]

    def all_derivatives(self, page: int = 500) -> Iterator[tuple[str, str, Derivative]]:
        """Every recorded derivative as (source hash, fingerprint, derivative), in pages."""
        last = 0
        while rows := self._query(
            "SELECT rowid, * FROM derivatives WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (last, page),
        ):
            for r in rows:
                yield r["hash"], r["fingerprint"], self._derivative(r)
            last = rows[-1]["rowid"]

    def forget_derivatives(self, keys: Iterable[tuple[str, str]]) -> None:
        """Forget the derivatives recorded under these (hash, fingerprint) keys."""
        with self._transaction() as db:
            db.executemany("DELETE FROM derivatives WHERE hash = ? AND fingerprint = ?", keys)

    def forget_derivative(self, source_hash: str, fingerprint: str) -> list[str]:
        """Forget one derivative record, and queue the done photos that had it again."""
        with self._transaction() as db:
            db.execute(
                "DELETE FROM derivatives WHERE hash = ? AND fingerprint = ?",
                (source_hash, fingerprint),
            )
            rows = db.execute(
                """UPDATE photos SET status = ?, error = NULL, error_kind = NULL,
                       error_key = NULL, updated_at = ?
                   WHERE hash = ? AND status = ? RETURNING id""",
                (PhotoStatus.PENDING, time.time(), source_hash, PhotoStatus.DONE),
            ).fetchall()
        return sorted(r["id"] for r in rows)


def damage(derivative: Derivative, *, verify: bool = False) -> str | None:
    """What is wrong with a recorded derivative's file (gone, wrong size or hash), or None.

    The size costs one stat; the hash (``verify``) reads the file, and is checked only
    when one was recorded.
    """
    try:
        size = os.stat(derivative.path).st_size
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    if size != derivative.bytes:
        return f"{size} bytes, recorded {derivative.bytes}"
    if verify and derivative.blake3 is not None:
        try:
            if hash_file(Path(derivative.path)) != derivative.blake3:
                return "content differs from the recorded hash"
        except OSError as exc:
            return f"unreadable ({exc.strerror})"
    return None
