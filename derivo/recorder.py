"""Record finished renders in batches: one sync and one transaction for many photos.

Renders land in the executor's thread, which should go straight back to feeding
workers; a recorder thread takes every render that has landed since its last round,
makes their files durable together (a recorded derivative is always on disk), records
them in one transaction, and only then tells the photos waiting for them.

While other renders are still in the air, a round waits a little (:data:`GATHER`)
for more to land: small photos land every few milliseconds, and each round costs a
sync of the file system and a transaction that writes every index page it touches
(content hashes are random, so each photo touches its own), whether it records one
render or fifty.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass
from pathlib import Path

from derivo.atomic import make_durable, remove_leftovers
from derivo.cache import DerivativeCache, PhotoStatus
from derivo.errors import DerivoError, InputError, StorageFull
from derivo.executors.base import RenderFuture
from derivo.outcomes import PhotoResult
from derivo.specs import SpecSet
from derivo.tasks import Derivative, RenderResult, source_folder

_IDLE_SECONDS = 1.0  # a recorder with nothing to do for this long ends; the next landing starts one
_RECENT = 4096  # hashes whose recording :meth:`Recorder.recorded_since` remembers
#: Longest a round waits for more renders to land while others are in the air (seconds).
GATHER = 0.05
#: Renders landed that are enough for a round to stop waiting; it records all that landed.
BATCH = 128


Deliver = Callable[[PhotoResult], None]


@dataclass(frozen=True, slots=True)
class Waiter:
    """A photo waiting for a render: whom to tell, and what to call it."""

    photo_id: str
    source: str
    deliver: Deliver


@dataclass(slots=True)
class Flight:
    """One render in progress, shared by every photo whose source has its hash."""

    waiters: list[Waiter]
    future: RenderFuture | None = None


@dataclass(frozen=True, slots=True)
class Landing:
    """A render that ended (done, failed or cancelled), for the source with this hash."""

    source_hash: str
    future: Future[RenderResult]

    def outcome(self) -> tuple[RenderResult | None, BaseException | None, int]:
        """The result or the error, and how many attempts it took."""
        attempts: int = getattr(self.future, "attempts", 1)
        if self.future.cancelled():
            return None, CancelledError(), attempts
        error = self.future.exception()
        return (None if error else self.future.result()), error, attempts


class Recorder:
    """The pipeline's recorder thread, started on the first landing and ended when idle."""

    def __init__(
        self,
        *,
        cache: DerivativeCache,
        specs: SpecSet,
        out_dir: Path,
        flights: dict[str, Flight],
        lock: threading.Lock,
        failure_key: Callable[[str], str],
        sync: bool,
    ) -> None:
        self.cache = cache
        self.specs = specs
        self.out_dir = out_dir
        self.sync = sync
        self._flights = flights
        self._failure_key = failure_key
        self._lock = lock
        self._arrived = threading.Condition(lock)
        self._settled = threading.Condition(lock)
        self._landings: list[Landing] = []
        self._settling = 0
        self._running = False
        #: batches recorded so far; the latest batch that recorded each recent hash
        self.generation = 0
        self._recent: dict[str, int] = {}
        self._forgotten = 0  # the latest generation dropped from ``_recent``

    def landed(self, landing: Landing) -> None:
        """Called from the executor's thread when a render ends; never blocks on I/O."""
        with self._lock:
            self._landings.append(landing)
            if len(self._landings) == 1 or self._gathered():  # wake a round, or end its wait
                self._arrived.notify()
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="derivo-record", daemon=True).start()

    def recorded_since(self, source_hash: str, generation: int) -> bool:
        """Whether a render of ``source_hash`` may have been recorded after ``generation``
        (its flight then gone); call holding the lock."""
        return self._recent.get(source_hash, 0) > generation or self._forgotten > generation

    def wait_idle(self) -> None:
        """Wait until every render in flight has been recorded and its photos told."""
        with self._lock:
            self._settled.wait_for(lambda: not self._flights and not self._settling)

    def _gathered(self) -> bool:
        """Whether a round should record what landed now: a full batch, or nothing else
        in the air (call holding the lock)."""
        landed = len(self._landings)
        return landed >= BATCH or landed >= len(self._flights)

    def _run(self) -> None:
        try:
            while self._round():
                pass
        except BaseException:  # the next landing starts a recorder again
            with self._lock:
                self._running = False
            raise

    def _round(self) -> bool:
        """Record one batch of landings; False once idle."""
        with self._lock:
            if not self._arrived.wait_for(lambda: self._landings, _IDLE_SECONDS):
                self._running = False
                return False
            self._arrived.wait_for(self._gathered, GATHER)
            batch, self._landings = self._landings, []
            # a flight stays open (photos with the same bytes may still join it)
            # until it is recorded: joining then costs no second render
            flights = [self._flights.get(landing.source_hash, Flight([])) for landing in batch]
            waiting = [list(flight.waiters) for flight in flights]
            self._settling += 1
        try:
            error = self._record(list(zip(batch, waiting, strict=True)), files=True)
            with self._lock:
                for landing in batch:
                    self._flights.pop(landing.source_hash, None)
                if error is None:
                    self.generation += 1
                    for landing in batch:
                        self._recent.pop(landing.source_hash, None)
                        self._recent[landing.source_hash] = self.generation
                    while len(self._recent) > _RECENT:
                        oldest = next(iter(self._recent))
                        self._forgotten = self._recent.pop(oldest)
            late = [
                (landing, flight.waiters[len(seen) :])
                for landing, flight, seen in zip(batch, flights, waiting, strict=True)
            ]
            if error is not None:  # nothing was recorded for photos that joined late to share
                self._unrecorded([(landing.source_hash, w) for landing, w in late], error)
            elif any(waiters for _, waiters in late):
                self._record(late, files=False)
        except Exception as exc:  # a bug must not leave photos processing and close() waiting
            with self._lock:
                stranded = [
                    (landing.source_hash, flight.waiters)
                    for landing in batch
                    if (flight := self._flights.pop(landing.source_hash, None)) is not None
                ]
            self._unrecorded(stranded, exc)
        finally:
            with self._lock:
                self._settling -= 1
                self._settled.notify_all()
        return True

    def _record(
        self, batch: list[tuple[Landing, list[Waiter]]], *, files: bool
    ) -> Exception | None:
        """Sync, record and settle one batch; returns why it could not be recorded (its
        photos then settled as failed or pending) or None.

        ``files=False`` settles photos that joined a render already recorded.
        """
        outcomes = [landing.outcome() for landing, _ in batch]
        settled: list[tuple[list[Waiter], list[PhotoResult]]] = []
        try:
            for (landing, _), (_, error, attempts) in zip(batch, outcomes, strict=True):
                if not files:
                    break
                if attempts > 1 or (error is not None and not isinstance(error, InputError)):
                    # a worker was killed mid-write: its temp files are no one's now; ones
                    # that cannot be removed cost disk space, not the photos' results
                    with contextlib.suppress(OSError):
                        remove_leftovers(source_folder(self.out_dir, landing.source_hash))
            rendered = [
                (landing.source_hash, result)
                for (landing, _), (result, _, _) in zip(batch, outcomes, strict=True)
                if result is not None
            ]
            if self.sync and files:
                make_durable(d.path for _, r in rendered for d in r.derivatives)
            with self.cache.batch():
                for source_hash, result in rendered if files else []:
                    self.cache.record(source_hash, self.specs, result.derivatives)
                made = self.cache.derivatives_of((h for h, _ in rendered), self.specs)
                for (landing, waiters), outcome in zip(batch, outcomes, strict=True):
                    results = [
                        self._settle(w, landing.source_hash, outcome, made, first=files and i == 0)
                        for i, w in enumerate(waiters)
                    ]
                    settled.append((waiters, results))
        except Exception as exc:  # e.g. the database is gone: settle as failed, not lost
            self._unrecorded([(landing.source_hash, waiters) for landing, waiters in batch], exc)
            return exc
        for waiters, results in settled:
            for waiter, settled_result in zip(waiters, results, strict=True):
                waiter.deliver(settled_result)
        return None

    def _settle(
        self,
        waiter: Waiter,
        source_hash: str,
        outcome: tuple[RenderResult | None, BaseException | None, int],
        made: dict[str, dict[str, Derivative]],
        *,
        first: bool,
    ) -> PhotoResult:
        """Record where one waiting photo ended; only the photo that started the render
        counts as rendered, the others as cached (one render served them all)."""
        photo_id, source = waiter.photo_id, waiter.source
        result, error, attempts = outcome
        if result is not None:
            size = (result.width, result.height)
            self.cache.set_status(photo_id, PhotoStatus.DONE, attempts=attempts, size=size)
            derivatives = made.get(source_hash, {})
            if not first:
                return PhotoResult.shared(photo_id, source, source_hash, result, derivatives)
            return PhotoResult.rendered(
                photo_id, source, source_hash, result, derivatives, attempts
            )
        if isinstance(error, CancelledError | StorageFull):
            # a full disk is not the photo's fault: it waits, pending, for space to return
            self.cache.set_status(photo_id, PhotoStatus.PENDING)
            return PhotoResult.pending(photo_id, source, source_hash, error)
        if not isinstance(error, DerivoError):
            error = DerivoError(f"{type(error).__name__}: {error}")
        key = self._failure_key(source_hash) if isinstance(error, InputError) else None
        self.cache.set_status(
            photo_id,
            PhotoStatus.FAILED,
            error=str(error),
            error_kind=error.kind,
            error_key=key,
            attempts=attempts,
        )
        return PhotoResult.failed(photo_id, source, source_hash, error, attempts=attempts)

    def _unrecorded(self, batch: Iterable[tuple[str, list[Waiter]]], exc: Exception) -> None:
        reason = f"could not record the result: {type(exc).__name__}: {exc}"
        for source_hash, waiters in batch:
            for waiter in waiters:
                with contextlib.suppress(Exception):
                    self.cache.set_status(waiter.photo_id, PhotoStatus.PENDING)
                if isinstance(exc, StorageFull):  # its files or the database: wait for space
                    waiter.deliver(
                        PhotoResult.pending(waiter.photo_id, waiter.source, source_hash, exc)
                    )
                    continue
                waiter.deliver(
                    PhotoResult.failed(
                        waiter.photo_id, waiter.source, source_hash, reason, kind="cache"
                    )
                )
