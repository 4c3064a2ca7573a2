"""``process --dry-run``: what a run would render, serve from the cache, or skip.

Reads the cache and the files, writes nothing: no database is created, no lock
taken, nothing rendered. Files whose size, mtime and inode are unchanged keep their
recorded hash; others are hashed (reading is not touching), so a moved or copied
photo is still seen as cached.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from derivo.cache import SCHEMA_VERSION, DerivativeCache, FileStat
from derivo.discover import Found
from derivo.errors import CacheError
from derivo.executors.inline import InlineExecutor
from derivo.hashing import hash_file
from derivo.outputs import shown
from derivo.pipeline import Pipeline
from derivo.specs import SpecSet
from derivo.tasks import Limits

Verdict = Literal["render", "cached", "skip"]


@dataclass(frozen=True, kw_only=True)
class Planned:
    """What a run would do with one photo, and why."""

    source: str
    verdict: Verdict
    specs: tuple[str, ...] = ()
    reason: str = ""


def plan_process(
    found: Iterable[Found],
    *,
    db: Path,
    out_dir: Path,
    specs: SpecSet,
    limits: Limits,
    force: bool = False,
) -> Iterator[Planned]:
    """Yield a :class:`Planned` per found file, in order, changing nothing."""
    if not db.is_file():
        for item in found:
            yield _without_cache(item, specs)
        return
    version = _schema_version(db)
    if version < SCHEMA_VERSION:  # opening it would upgrade it in place
        raise CacheError(
            f"cache database has schema version {version}, older than this derivo's "
            f"({SCHEMA_VERSION}): {db}; a dry run changes nothing, so run process once to upgrade"
        )
    with DerivativeCache(db, root=out_dir) as cache:
        # a pipeline never started: used only for its failure keys
        pipeline = Pipeline(
            cache=cache, executor=InlineExecutor(), out_dir=out_dir, specs=specs, limits=limits
        )
        for item in found:
            if item.error is not None or item.format is None:
                yield _without_cache(item, specs)
                continue
            try:
                stat = FileStat.of(item.path)
                record = cache.photo(item.photo_id)
                same = record is not None and record.stat == stat and record.hash
                source_hash = record.hash if same and record else hash_file(item.path)
            except OSError as exc:
                yield Planned(
                    source=item.photo_id, verdict="skip", reason=f"cannot read: {exc.strerror}"
                )
                continue
            assert source_hash is not None
            if (
                not force
                and record is not None
                and record.status == "failed"
                and record.stat == stat
                and record.error_key == pipeline.failure_key(source_hash)
            ):
                yield Planned(
                    source=item.photo_id, verdict="skip", reason=f"failed before: {record.error}"
                )
                continue
            missing = specs.specs if force else cache.missing(source_hash, specs)
            if missing:
                names = tuple(s.name for s in missing)
                yield Planned(source=item.photo_id, verdict="render", specs=names)
            else:
                yield Planned(source=item.photo_id, verdict="cached")


def _schema_version(db: Path) -> int:
    """The schema version of ``db``, read without creating ``-wal``/``-shm`` files beside it.

    Without a ``-wal`` file every commit is in the database file, which is then read
    as immutable; with one, a read-only connection sees the commits it holds.
    """
    wal = db.with_name(db.name + "-wal").exists()
    uri = f"{db.resolve().as_uri()}?{'mode=ro' if wal else 'immutable=1'}"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
            version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as exc:
        raise CacheError(f"{db}: {exc}; run 'derivo check' on it") from None
    return version


def _without_cache(item: Found, specs: SpecSet) -> Planned:
    if item.error is not None:
        return Planned(source=item.photo_id, verdict="skip", reason=item.error)
    if item.format is None:
        return Planned(source=item.photo_id, verdict="skip", reason="not an image")
    return Planned(source=item.photo_id, verdict="render", specs=tuple(s.name for s in specs))


def planned_line(planned: Planned, *, cwd: Path) -> str:
    """One line of ``process --dry-run``."""
    detail = f" ({', '.join(planned.specs)})" if planned.specs else ""
    reason = f": {planned.reason}" if planned.reason else ""
    return f"{planned.verdict:<6}  {shown(planned.source, cwd)}{detail}{reason}"
