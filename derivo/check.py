"""``derivo check``: is the cache database whole, and does the disk hold what it records?

Checks, in order: SQLite's own ``integrity_check``; every recorded derivative
present with its recorded size (and, with ``verify``, its BLAKE3); photos stuck
``processing``; every photo's source present (and, with ``verify``, still
hashing to the recorded hash). With ``repair`` it fixes what can be fixed here
(a damaged derivative is forgotten and its photos queued to render again; a
photo left ``processing`` goes back to ``pending``) and says plainly what
cannot be. Run it while nothing else uses the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from derivo.cache import DerivativeCache, PhotoStatus, damage
from derivo.errors import CacheError
from derivo.hashing import hash_file
from derivo.tasks import Derivative

PAGE = 500


@dataclass(frozen=True)
class Problem:
    """One thing found wrong: about what, what is wrong, and what was (or can be) done."""

    subject: str
    problem: str
    remedy: str
    repaired: bool = False

    def line(self) -> str:
        done = "repaired" if self.repaired else "not repaired"
        return f"{self.subject}: {self.problem} ({done}: {self.remedy})"


@dataclass(frozen=True)
class Report:
    problems: tuple[Problem, ...]
    derivatives: int
    photos: int

    @property
    def left(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if not p.repaired)


def check(cache: DerivativeCache, *, verify: bool = False, repair: bool = False) -> Report:
    """Check ``cache`` and what it records on disk; with ``repair``, fix what can be fixed."""
    problems: list[Problem] = []
    try:
        damaged = cache.integrity_problems()
    except CacheError as exc:
        damaged = [str(exc)]
    if damaged:
        remedy = (
            "restore it from a backup, or move it away and run 'derivo process' again "
            "(everything is then rendered again)"
        )
        problems += [Problem(cache.name, f"SQLite integrity: {line}", remedy) for line in damaged]
        # the rest reads through damaged pages: report what can be read, repair nothing
        repair = False
    derivatives = photos = 0
    try:
        recorded = list(cache.all_derivatives(PAGE))
        derivatives = len(recorded)
        problems += _derivatives(cache, recorded, verify=verify, repair=repair)
        for problem in _photos(cache, verify=verify, repair=repair):
            photos += 1
            if problem is not None:
                problems.append(problem)
    except CacheError as exc:
        if not damaged:
            raise
        problems.append(Problem(cache.name, f"could not read on: {exc}", "as above"))
    return Report(problems=tuple(problems), derivatives=derivatives, photos=photos)


def _derivatives(
    cache: DerivativeCache,
    recorded: list[tuple[str, str, Derivative]],
    *,
    verify: bool,
    repair: bool,
) -> Iterator[Problem]:
    for source_hash, fingerprint, derivative in recorded:
        wrong = damage(derivative, verify=verify)
        if wrong is None:
            continue
        if not repair:
            yield Problem(derivative.path, wrong, "'derivo check --repair' queues it again")
            continue
        if wrong != "missing":
            Path(derivative.path).unlink(missing_ok=True)
        queued = cache.forget_derivative(source_hash, fingerprint)
        whom = f"photo(s) {', '.join(queued)} queued again" if queued else "record forgotten"
        yield Problem(
            derivative.path,
            wrong,
            f"{whom}; 'derivo process' or the service renders it again",
            repaired=True,
        )


def _photos(cache: DerivativeCache, *, verify: bool, repair: bool) -> Iterator[Problem | None]:
    """Yields, for each photo, what is wrong with it or None."""
    after: str | None = None
    while batch := cache.photos(after=after, limit=PAGE):
        after = batch[-1].id
        for record in batch:
            subject = f"photo {record.id}"
            if record.status is PhotoStatus.PROCESSING:
                if repair:
                    cache.mark_pending(record.id, expected=PhotoStatus.PROCESSING)
                yield Problem(
                    subject,
                    "left processing by a run that stopped",
                    "set to pending; the next run renders it"
                    if repair
                    else "'derivo check --repair' sets it to pending",
                    repaired=repair,
                )
                continue
            yield _source_problem(record.id, record.source, record.hash, verify)


def _source_problem(
    photo_id: str, source: str, recorded: str | None, verify: bool
) -> Problem | None:
    path = Path(source)
    if recorded is None:
        return None
    if not path.is_file():
        return Problem(
            f"photo {photo_id}",
            f"source {source} is gone",
            "cannot be repaired here: put the file back, or upload it again",
        )
    if verify:
        try:
            actual = hash_file(path)
        except OSError as exc:
            return Problem(
                f"photo {photo_id}", f"source {source} unreadable: {exc.strerror}", "check it"
            )
        if actual != recorded:
            return Problem(
                f"photo {photo_id}",
                f"source {source} no longer has its recorded hash",
                "cannot be repaired here: 'derivo process' renders a changed file again; "
                "an upload's original is damaged and must be uploaded again",
            )
    return None
