"""The pipeline: hash → cache check → single-flight → executor → record.

One object for the CLI, the service and library users::

    from pathlib import Path
    from derivo import DerivativeCache, Pipeline, WorkerPool

    with DerivativeCache("out/derivo.db") as cache, WorkerPool(cpu=0.5) as pool:
        with Pipeline(cache=cache, executor=pool, out_dir=Path("out")) as pipeline:
            result = pipeline.submit("IMG_0001", Path("IMG_0001.jpg")).result()
            print(result.outcome, result.derivatives["thumbnail"].path)

Only the pipeline writes the cache; workers just return results.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import blake3

from derivo.atomic import remove_leftovers
from derivo.cache import DerivativeCache, FileStat, PhotoRecord, PhotoStatus
from derivo.discover import printable
from derivo.errors import DerivoError, InputError, RenderFailed, SourceMissing, StorageFull
from derivo.executors.base import Executor, RenderFuture
from derivo.hashing import hash_file
from derivo.specs import SpecSet
from derivo.tasks import Derivative, Limits, RenderResult, RenderTask, source_folder

_RACY_SECONDS = 2.0


@dataclass(frozen=True)
class _Submitted:
    """End of submission in :meth:`Pipeline.run`, with how many photos went in."""

    count: int


Outcome = Literal["rendered", "cached", "failed", "pending"]


@dataclass(frozen=True, kw_only=True)
class PhotoResult:
    """What became of one submitted photo."""

    photo_id: str
    source: str
    source_hash: str | None
    outcome: Outcome
    derivatives: dict[str, Derivative] = field(default_factory=dict)
    width: int | None = None
    height: int | None = None
    error: str | None = None
    error_kind: str | None = None
    attempts: int = 0
    render_seconds: float = 0.0
    peak_rss_kb: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome in ("rendered", "cached")


@dataclass
class _Flight:
    """One render in progress, shared by every photo whose source has its hash."""

    future: RenderFuture | None
    waiters: list[tuple[str, str, Future[PhotoResult]]]


class Pipeline:
    """Turn sources into derivatives, rendering only what the cache lacks."""

    def __init__(
        self,
        *,
        cache: DerivativeCache,
        executor: Executor,
        out_dir: Path,
        specs: SpecSet | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.cache = cache
        self.executor = executor
        self.out_dir = out_dir.resolve()
        self.specs = specs or SpecSet()
        self.limits = limits or Limits()
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self._flights: dict[str, _Flight] = {}
        self._settling = 0
        self._failure_salt = repr((sorted(s.fingerprint for s in self.specs), self.limits))

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()

    def close(self) -> None:
        """Wait until every render this pipeline started is recorded (the executor's owner
        closes the executor; a cancelled render is recorded as pending)."""
        with self._settled:
            self._settled.wait_for(lambda: not self._flights and not self._settling)

    def submit(
        self,
        photo_id: str,
        source: Path,
        *,
        verify: bool = False,
        force: bool = False,
        block: bool = True,
        source_hash: str | None = None,
    ) -> Future[PhotoResult]:
        """Bring ``photo_id``'s derivatives up to date; the future never raises.

        ``verify`` hashes the file even when size, mtime and inode are unchanged;
        ``force`` renders even when the cache has everything; ``block=False`` raises
        :class:`~derivo.errors.QueueFull` instead of waiting for room in the queue;
        ``source_hash`` is trusted as the hash of ``source`` (an upload hashed while
        it streamed in).
        """
        done: Future[PhotoResult] = Future()
        source = source.resolve()
        record = self.cache.photo(photo_id)
        try:
            stat = FileStat.of(source)
            trusted = None if verify else self._trusted_hash(record, source, stat)
            source_hash = source_hash or trusted or hash_file(source)
        except FileNotFoundError:
            return self._unreadable(done, photo_id, source, "source file not found", SourceMissing)
        except OSError as exc:
            return self._unreadable(done, photo_id, source, f"cannot read source: {exc.strerror}")

        if not force and record is not None and self._known_failure(record, stat, source_hash):
            done.set_result(self._recorded_failure(record))
            return done
        missing = (
            self.specs.specs
            if force
            else self.cache.missing(source_hash, self.specs, verify=verify)
        )
        if missing or not (trusted and record and record.status is PhotoStatus.DONE):
            self.cache.put_photo(
                photo_id,
                source=printable(source),
                stat=stat,
                source_hash=source_hash,
                status=PhotoStatus.PROCESSING if missing else PhotoStatus.DONE,
            )
        if not missing:
            done.set_result(self._cached(photo_id, source, source_hash, record))
            return done
        waiter = (photo_id, printable(source), done)
        with self._lock:
            flight = self._flights.get(source_hash)
            if flight is not None:
                flight.waiters.append(waiter)
                return done
            flight = self._flights[source_hash] = _Flight(None, [waiter])
        task = RenderTask(
            source=str(source),
            source_hash=source_hash,
            specs=tuple(missing),
            out_dir=str(self.out_dir),
            limits=self.limits,
        )
        try:
            future = self.executor.submit(task, block=block)
        except DerivoError:
            with self._lock:
                del self._flights[source_hash]
            for waiting_id, _source, waiting in flight.waiters:
                self.cache.set_status(waiting_id, PhotoStatus.PENDING)
                if waiting is not done:
                    waiting.set_result(self._pending(waiting_id, printable(source), source_hash))
            raise
        flight.future = future
        future.add_done_callback(lambda f: self._landed(source_hash, f))
        return done

    def run(
        self, photos: Iterable[tuple[str, Path]], *, verify: bool = False, force: bool = False
    ) -> Iterator[PhotoResult]:
        """Submit ``(photo_id, path)`` pairs and yield results as they complete.

        Submission runs in a helper thread (it hashes, and waits for room in the
        queue), so results stream out while later photos are still being queued.
        """
        results: queue.SimpleQueue[PhotoResult | BaseException | _Submitted] = queue.SimpleQueue()
        stop = threading.Event()

        def submit_all() -> None:
            count = 0
            try:
                for photo_id, path in photos:
                    if stop.is_set():
                        break
                    future = self.submit(photo_id, path, verify=verify, force=force)
                    count += 1
                    future.add_done_callback(lambda f: results.put(f.result()))
            except BaseException as exc:  # handed to the consuming thread, re-raised there
                results.put(exc)
            finally:
                results.put(_Submitted(count))

        thread = threading.Thread(target=submit_all, name="derivo-submit", daemon=True)
        thread.start()
        received, expected = 0, None
        try:
            while received != expected:
                item = results.get()
                if isinstance(item, _Submitted):
                    expected = item.count
                elif isinstance(item, BaseException):
                    raise item
                else:
                    received += 1
                    yield item
        finally:
            stop.set()

    # Internals

    def failure_key(self, source_hash: str) -> str:
        """Identifies an input failure: same bytes, specs and limits fail the same way."""
        return blake3.blake3(f"{source_hash}|{self._failure_salt}".encode()).hexdigest()[:24]

    def _trusted_hash(self, record: PhotoRecord | None, source: Path, stat: FileStat) -> str | None:
        """The recorded hash, if the file provably did not change since it was recorded.

        Like git's index: size, mtime and inode unchanged, same path, and the mtime
        clearly older than the record, since an edit within one timestamp tick of
        the last hash (2 s on FAT) would otherwise go unseen.
        """
        if record is None or not record.hash or record.stat != stat:
            return None
        if record.source != printable(source):
            return None
        if stat.mtime_ns / 1e9 > record.updated_at - _RACY_SECONDS:
            return None
        return record.hash

    def _known_failure(self, record: PhotoRecord, stat: FileStat, source_hash: str) -> bool:
        return (
            record.status is PhotoStatus.FAILED
            and record.stat == stat
            and record.error_key == self.failure_key(source_hash)
        )

    def _landed(self, source_hash: str, future: Future[RenderResult]) -> None:
        """Record a finished render and settle every photo waiting for it; never raises."""
        with self._lock:
            flight = self._flights.pop(source_hash)
            self._settling += 1
        try:
            result: RenderResult | None = None
            error: BaseException | None
            if future.cancelled():
                error = CancelledError()
            else:
                error = future.exception()
                result = None if error else future.result()
            attempts = getattr(future, "attempts", 1)
            if attempts > 1 or (error is not None and not isinstance(error, InputError)):
                # a worker was killed mid-write: its temp files are no one's now
                remove_leftovers(source_folder(self.out_dir, source_hash))
            try:
                if result is not None:
                    self.cache.record(source_hash, self.specs, result.derivatives)
                for photo_id, source, done in flight.waiters:
                    done.set_result(
                        self._settle(photo_id, source, source_hash, result, error, attempts)
                    )
            except Exception as exc:  # e.g. the database is gone: settle as failed, not lost
                self._unrecorded(flight, source_hash, exc)
        finally:
            with self._lock:
                self._settling -= 1
                self._settled.notify_all()

    def _unrecorded(self, flight: _Flight, source_hash: str, exc: Exception) -> None:
        reason = f"could not record the result: {type(exc).__name__}: {exc}"
        full = isinstance(exc, StorageFull)
        for photo_id, source, done in flight.waiters:
            if done.done():
                continue
            with contextlib.suppress(Exception):
                self.cache.set_status(photo_id, PhotoStatus.PENDING)
            done.set_result(
                PhotoResult(
                    photo_id=photo_id,
                    source=source,
                    source_hash=source_hash,
                    outcome="pending" if full else "failed",
                    error=str(exc) if full else reason,
                    error_kind=StorageFull.kind if full else "cache",
                )
            )

    def _settle(
        self,
        photo_id: str,
        source: str,
        source_hash: str,
        result: RenderResult | None,
        error: BaseException | None,
        attempts: int,
    ) -> PhotoResult:
        if result is not None:
            self.cache.set_status(
                photo_id, PhotoStatus.DONE, attempts=attempts, size=(result.width, result.height)
            )
            return PhotoResult(
                photo_id=photo_id,
                source=source,
                source_hash=source_hash,
                outcome="rendered",
                derivatives=self.cache.derivatives(source_hash, self.specs),
                width=result.width,
                height=result.height,
                attempts=attempts,
                render_seconds=result.seconds,
                peak_rss_kb=result.peak_rss_kb,
            )
        if isinstance(error, CancelledError | StorageFull):
            # a full disk is not the photo's fault: it waits, pending, for space to return
            self.cache.set_status(photo_id, PhotoStatus.PENDING)
            return self._pending(photo_id, source, source_hash, error)
        if not isinstance(error, DerivoError):
            error = DerivoError(f"{type(error).__name__}: {error}")
        key = self.failure_key(source_hash) if isinstance(error, InputError) else None
        self.cache.set_status(
            photo_id,
            PhotoStatus.FAILED,
            error=str(error),
            error_kind=error.kind,
            error_key=key,
            attempts=attempts,
        )
        return PhotoResult(
            photo_id=photo_id,
            source=source,
            source_hash=source_hash,
            outcome="failed",
            error=str(error),
            error_kind=error.kind,
            attempts=attempts,
        )

    def _cached(
        self, photo_id: str, source: Path, source_hash: str, record: PhotoRecord | None
    ) -> PhotoResult:
        return PhotoResult(
            photo_id=photo_id,
            source=printable(source),
            source_hash=source_hash,
            outcome="cached",
            derivatives=self.cache.derivatives(source_hash, self.specs),
            width=record.width if record else None,
            height=record.height if record else None,
        )

    def _pending(
        self, photo_id: str, source: str, source_hash: str, why: BaseException | None = None
    ) -> PhotoResult:
        full = isinstance(why, StorageFull)
        return PhotoResult(
            photo_id=photo_id,
            source=source,
            source_hash=source_hash,
            outcome="pending",
            error=str(why) if full else "not rendered: stopped before its turn",
            error_kind=StorageFull.kind if full else None,
        )

    def _recorded_failure(self, record: PhotoRecord) -> PhotoResult:
        return PhotoResult(
            photo_id=record.id,
            source=record.source,
            source_hash=record.hash,
            outcome="failed",
            error=record.error,
            error_kind=record.error_kind,
            attempts=record.attempts,
        )

    def _unreadable(
        self,
        done: Future[PhotoResult],
        photo_id: str,
        source: Path,
        reason: str,
        error: type[RenderFailed] = RenderFailed,
    ) -> Future[PhotoResult]:
        """Record a source that cannot be read now; no failure key, so a later run retries."""
        kind = error.kind
        self.cache.put_photo(
            photo_id,
            source=printable(source),
            stat=None,
            source_hash=None,
            status=PhotoStatus.FAILED,
        )
        self.cache.set_status(photo_id, PhotoStatus.FAILED, error=reason, error_kind=kind)
        done.set_result(
            PhotoResult(
                photo_id=photo_id,
                source=printable(source),
                source_hash=None,
                outcome="failed",
                error=reason,
                error_kind=kind,
            )
        )
        return done
