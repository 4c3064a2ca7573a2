"""The pipeline: identify → decide → dispatch → record.

One object for the CLI, the service and library users::

    from pathlib import Path
    from derivo import DerivativeCache, Pipeline, WorkerPool

    with DerivativeCache("out/derivo.db") as cache, WorkerPool(cpu=0.5) as pool:
        with Pipeline(cache=cache, executor=pool, out_dir=Path("out")) as pipeline:
            result = pipeline.submit("IMG_0001", Path("IMG_0001.jpg")).result()
            print(result.outcome, result.derivatives["thumbnail"].path)

Photos go through in windows: one query fetches the records of a window with their
derivatives, the quick check (:mod:`derivo.quickcheck`) answers unchanged photos
from stat calls with no read or write, one transaction writes what changed, and
only photos that need a render get a task. Renders are recorded by a
recorder thread in batches: one sync makes a batch's files durable, one
transaction records it. Only the pipeline writes the cache; workers just return
results.
"""

from __future__ import annotations

import os
import queue
import stat as stat_module
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import blake3

from derivo.cache import DerivativeCache, FileStat, PhotoRecord, PhotoStatus, damage
from derivo.discover import Found
from derivo.errors import DerivoError, RenderFailed, SourceMissing
from derivo.executors.base import Executor
from derivo.executors.pool import WorkerPool
from derivo.hashing import hash_file
from derivo.outcomes import Outcome, PhotoResult, printable
from derivo.quickcheck import Entry, answer_unchanged, count_unchanged, vouches
from derivo.recorder import Deliver, Flight, Landing, Recorder, Waiter
from derivo.specs import Spec, SpecSet
from derivo.tasks import Derivative, Limits, RenderTask

__all__ = ["Outcome", "PhotoResult", "Pipeline", "printable"]

WINDOW = 256  # photos identified, decided and written together
#: A run's first window: workers wait for the first window to be hashed, so windows
#: start this small and double up to ``WINDOW`` (a 256-photo window of 12 MP photos
#: is about 0.7 s of hashing before any render could start).
FIRST_WINDOW = 4
#: Renders an executor should be able to queue so its workers never wait while the
#: pipeline stats and hashes its next window.
FEED = 2 * WINDOW
_AHEAD = 16 * WINDOW  # results run() may hold that its reader has not taken yet


#: What :meth:`Pipeline.run` takes: ``(photo_id, path)``, or a file :func:`~derivo.discover.scan`
#: found (its id is its path; one found in a folder is passed over unless it is an image).
Item = tuple[str, Path] | Found
PassedOver = Callable[[Found], None]
_Located = Entry  # a photo located: id, resolved path as shown, stat (or why not), what it came as


@dataclass(slots=True)
class _Photo:
    """One submitted photo, as the caller named it and as the disk and the cache see it."""

    photo_id: str
    source: str  # resolved path
    name: str  # the source as stored and shown
    record: PhotoRecord | None
    deliver: Deliver
    stat: FileStat | None = None
    error: str | None = None  # why the source cannot be read
    error_kind: str = RenderFailed.kind
    source_hash: str | None = None
    trusted: bool = False  # the quick check vouched for the recorded hash


@dataclass(frozen=True, slots=True)
class _Counted:
    """How many photos of a window the quick check answered, counted, not yielded."""

    photos: int


class _Window:
    """How many results :meth:`Pipeline.run` may hold unread: keeps memory flat."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._cond = threading.Condition()
        self._cancelled = False

    def take(self, n: int) -> bool:
        with self._cond:
            self._cond.wait_for(lambda: self._free >= n or self._cancelled)
            self._free -= n
            return not self._cancelled

    def give(self, n: int) -> None:
        with self._cond:
            self._free += n
            self._cond.notify()

    def cancel(self) -> None:
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()


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
        self._flights: dict[str, Flight] = {}
        self._failure_salt = repr((sorted(s.fingerprint for s in self.specs), self.limits))
        # workers on this machine write without fsync; the recorder syncs each batch
        self._sync_in_batches = isinstance(executor, WorkerPool)
        self._recorder = Recorder(
            cache=cache,
            specs=self.specs,
            out_dir=self.out_dir,
            flights=self._flights,
            lock=self._lock,
            failure_key=self.failure_key,
            sync=self._sync_in_batches,
        )
        self._folders: dict[Path, Path] = {}
        self._cancelled = False  # renders dispatched from now on are cancelled at once
        self._submitters: dict[threading.Thread, _Window] = {}

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is not None:
            self._cancel()
        self.close()

    def _cancel(self) -> None:
        """Cancel the renders this pipeline started that have not landed; their photos
        are recorded as pending (by :meth:`close`, which waits for that)."""
        with self._lock:
            self._cancelled = True
            submitters = list(self._submitters.items())
        for thread, window in submitters:  # it ends its window; each render it starts is cancelled
            window.cancel()
            thread.join()
        with self._lock:
            futures = [f.future for f in self._flights.values() if f.future is not None]
        for future in futures:
            future.cancel()

    def close(self) -> None:
        """Wait until every render this pipeline started is recorded (the executor's owner
        closes the executor; a cancelled render is recorded as pending)."""
        self._recorder.wait_idle()

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
        self._submit_window(
            [(photo_id, source)],
            done.set_result,
            verify=verify,
            force=force,
            block=block,
            source_hash=source_hash,
        )
        return done

    def run(
        self,
        photos: Iterable[Item],
        *,
        verify: bool = False,
        force: bool = False,
        passed_over: PassedOver | None = None,
        unchanged: Callable[[int], None] | None = None,
    ) -> Iterator[PhotoResult]:
        """Submit ``(photo_id, path)`` pairs (or files :func:`~derivo.discover.scan` found)
        and yield results as they complete.

        Submission runs in a helper thread (it stats, hashes, and waits for room in
        the queue), a window at a time, so results stream out while later photos are
        still being found and queued, and memory stays flat however many there are.
        Photos the quick check finds unchanged, with every derivative in place, are
        answered a window at a time without a write. A file found in a folder that
        is not an image yields no result: ``passed_over`` is told of it. With
        ``unchanged``, those unchanged photos yield no result either: it is told how many
        there were, a window at a time, so a caller that only counts them (as a re-run
        without ``--json`` does) has no object made for them.
        """
        results: queue.SimpleQueue[
            PhotoResult | list[PhotoResult] | _Counted | BaseException | int
        ] = queue.SimpleQueue()
        counted = None if unchanged is None else (lambda n: results.put(_Counted(n)))
        window = _Window(_AHEAD)

        def not_photo(found: Found) -> None:
            window.give(1)
            if passed_over is not None:
                passed_over(found)

        def submit_all() -> None:
            count = 0
            try:
                for batch in _windows(photos):
                    if not window.take(len(batch)):
                        break
                    count += self._submit_window(
                        batch,
                        results.put,
                        verify=verify,
                        force=force,
                        settled=results.put,
                        passed_over=not_photo,
                        counted=counted,
                    )
            except BaseException as exc:  # handed to the consuming thread, re-raised there
                results.put(exc)
            finally:
                results.put(count)
                with self._lock:
                    self._submitters.pop(threading.current_thread(), None)

        thread = threading.Thread(target=submit_all, name="derivo-submit", daemon=True)
        with self._lock:
            self._submitters[thread] = window
        thread.start()
        received, expected = 0, None
        try:
            while received != expected:
                item = results.get()
                if isinstance(item, int):
                    expected = item
                elif isinstance(item, BaseException):
                    raise item
                elif isinstance(item, _Counted):
                    received += item.photos
                    window.give(item.photos)
                    assert unchanged is not None  # only then are photos counted
                    unchanged(item.photos)
                elif isinstance(item, list):
                    received += len(item)
                    window.give(len(item))
                    yield from item
                else:
                    received += 1
                    window.give(1)
                    yield item
        finally:
            window.cancel()

    @property
    def render_key(self) -> str:
        """Identifies what these specs and limits make: it changes when either does."""
        return blake3.blake3(self._failure_salt.encode()).hexdigest()[:24]

    def failure_key(self, source_hash: str) -> str:
        """Identifies an input failure: same bytes, specs and limits fail the same way."""
        return blake3.blake3(f"{source_hash}|{self._failure_salt}".encode()).hexdigest()[:24]

    # The steps, a window of photos at a time

    def _submit_window(
        self,
        items: Sequence[Item],
        deliver: Deliver,
        *,
        verify: bool,
        force: bool,
        block: bool = True,
        source_hash: str | None = None,
        settled: Callable[[list[PhotoResult]], None] | None = None,
        passed_over: PassedOver | None = None,
        counted: Callable[[int], None] | None = None,
    ) -> int:
        """Take a window of photos to their results; returns how many photos it had (files
        passed over are not photos). With ``counted``, photos the quick check answers are
        counted to it instead of having a result."""
        seen = self._recorder.generation  # before the query: what it may not show
        entries = [self._locate(item) for item in items]
        quick = not (verify or force or source_hash)
        if quick and counted is not None:
            answered_count, others = count_unchanged(self.cache, self.specs, entries)
            if answered_count:
                counted(answered_count)
                entries = [entries[index] for index in others]
        elif quick:
            answered, others = answer_unchanged(self.cache, self.specs, entries)
            if answered:
                if settled is not None:
                    settled(answered)
                else:
                    for result in answered:
                        deliver(result)
                entries = [entries[index] for index in others]
        photos = len(items)
        if passed_over is not None:
            kept = []
            for entry in entries:
                found = entry[3]
                if found is not None and found.walked and found.format is None and not found.error:
                    passed_over(found)
                    photos -= 1
                else:
                    kept.append(entry)
            entries = kept
        if entries:
            self._submit_rest(
                entries,
                deliver,
                verify=verify,
                force=force,
                block=block,
                source_hash=source_hash,
                seen=seen,
            )
        return photos

    def _submit_rest(
        self,
        entries: Sequence[_Located],
        deliver: Deliver,
        *,
        verify: bool,
        force: bool,
        block: bool,
        source_hash: str | None,
        seen: int,
    ) -> None:
        """Photos the quick check did not settle: identify, hash, decide, dispatch."""
        photos = self._identify(entries, deliver, verify=verify, source_hash=source_hash)
        unknown = [p for p in photos if p.error is None and p.source_hash is None]
        if unknown:
            self.executor.start()  # new or changed photos: workers start while they are hashed
        for photo in unknown:
            self._hash(photo)
        have = self.cache.derivatives_of(
            (p.source_hash for p in photos if p.source_hash), self.specs
        )
        settled: list[tuple[_Photo, PhotoResult]] = []
        renders: list[tuple[_Photo, tuple[Spec, ...]]] = []
        writes: list[tuple[str, str, FileStat | None, str | None, PhotoStatus]] = []
        for photo in photos:
            result, missing, status = self._decide(photo, have, force=force, verify=verify)
            if status is not None:
                writes.append((photo.photo_id, photo.name, photo.stat, photo.source_hash, status))
            if result is not None:
                settled.append((photo, result))
            else:
                renders.append((photo, missing))
        unreadable = [(photo, result) for photo, result in settled if photo.error is not None]
        if writes or unreadable:
            with self.cache.batch():
                self.cache.put_photos(writes)
                for photo, result in unreadable:
                    self._record_unreadable(photo, result)
        for photo, result in settled:
            photo.deliver(result)
        # the largest first, so that no worker idles at the end while one big photo renders
        renders.sort(key=lambda render: render[0].stat.size if render[0].stat else 0, reverse=True)
        started: set[str] = set()
        for index, (photo, missing) in enumerate(renders):
            try:
                self._dispatch(photo, missing, block=block, started=started, seen=seen)
            except DerivoError:
                for later, _ in renders[index + 1 :]:
                    self.cache.set_status(later.photo_id, PhotoStatus.PENDING)
                    later.deliver(
                        PhotoResult.pending(later.photo_id, later.name, later.source_hash)
                    )
                raise

    def _locate(self, item: Item) -> _Located:
        """A photo's id, resolved path (as shown), stat, and the :class:`Found` it came as."""
        if isinstance(item, Found):
            if item.stat is not None:  # found in a folder walked from its resolved path
                name = printable(item.location)  # which is also its id
                return name, name, item.stat, item
            source, st = self._resolve(Path(item.location))
            return item.photo_id, printable(source), st, item
        photo_id, path = item
        source, st = self._resolve(path)
        return photo_id, printable(source), st, None

    def _identify(
        self,
        entries: Sequence[_Located],
        deliver: Deliver,
        *,
        verify: bool,
        source_hash: str | None,
    ) -> list[_Photo]:
        """Each photo's record (one query) and the quick check."""
        records = self.cache.photos_by_id([photo_id for photo_id, _, _, _ in entries])
        photos = []
        for photo_id, name, st, found in entries:
            source = found.location if found is not None and found.stat is not None else name
            photo = _Photo(photo_id, source, name, records.get(photo_id), deliver)
            if isinstance(st, OSError):
                self._unreadable(photo, st)
            elif st is not None:
                photo.stat = FileStat(size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino)
                trusted = None if verify else self._trusted_hash(photo)
                photo.trusted = trusted is not None
                photo.source_hash = source_hash or trusted
            photos.append(photo)
        return photos

    def _hash(self, photo: _Photo) -> None:
        """The content hash of a photo the quick check could not vouch for."""
        try:
            photo.source_hash = hash_file(Path(photo.source))
        except OSError as exc:
            self._unreadable(photo, exc)

    @staticmethod
    def _unreadable(photo: _Photo, exc: OSError) -> None:
        """Why the source cannot be read; a later run tries again (no failure key)."""
        if isinstance(exc, FileNotFoundError):
            photo.error, photo.error_kind = "source file not found", SourceMissing.kind
        else:
            photo.error = f"cannot read source: {exc.strerror}"

    def _decide(
        self, photo: _Photo, have: dict[str, dict[str, Derivative]], *, force: bool, verify: bool
    ) -> tuple[PhotoResult | None, tuple[Spec, ...], PhotoStatus | None]:
        """Settle the photo now (a result) or name the specs it needs rendered; and the
        state to record for it, if that changed.

        A derivative is missing when unrecorded, gone or not its recorded size (one
        stat), or with ``verify`` not its recorded BLAKE3: such a file is rendered again.
        """
        record = photo.record
        if photo.error is not None or photo.source_hash is None:
            reason, kind = photo.error or "cannot read source", photo.error_kind
            return PhotoResult.failed(photo.photo_id, photo.name, None, reason, kind=kind), (), None
        source_hash = photo.source_hash
        if not force and record is not None and self._known_failure(photo, source_hash):
            return PhotoResult.recorded_failure(record), (), None
        made = have.get(source_hash, {})
        missing = (
            self.specs.specs
            if force
            else tuple(
                s
                for s in self.specs
                if s.name not in made or damage(made[s.name], verify=verify) is not None
            )
        )
        status: PhotoStatus | None = None
        if missing or not (photo.trusted and record and record.status is PhotoStatus.DONE):
            status = PhotoStatus.PROCESSING if missing else PhotoStatus.DONE
        if missing:
            return None, tuple(missing), status
        cached = PhotoResult.cached(photo.photo_id, photo.name, source_hash, made, record)
        return cached, (), status

    def _dispatch(
        self,
        photo: _Photo,
        missing: tuple[Spec, ...],
        *,
        block: bool,
        started: set[str],
        seen: int,
    ) -> None:
        """Join the render of the same bytes already in flight, or start one.

        A render of these bytes this window started (``started``), or one recorded
        since the window's query (the recorder's generation then was ``seen``), may
        have landed with its flight gone: the cache answers for it instead. The
        cache is read without the lock (the recorder takes it as renders land), so
        the flights are looked at again afterwards.
        """
        assert photo.source_hash is not None
        source_hash = photo.source_hash
        waiter = Waiter(photo.photo_id, photo.name, photo.deliver)
        while True:
            with self._lock:
                flight = self._flights.get(source_hash)
                if flight is not None:
                    flight.waiters.append(waiter)
                    return
                landed = source_hash in started or self._recorder.recorded_since(source_hash, seen)
                if not landed:
                    started.add(source_hash)
                    flight = self._flights[source_hash] = Flight([waiter])
                    break
                asked = self._recorder.generation  # what the query below is sure to show
            made = self.cache.derivatives_of([source_hash], missing).get(source_hash, {})
            if len(made) == len(missing):
                self._settle_recorded(photo, source_hash)
                return
            # not all made: start a render, unless one started or landed meanwhile
            started.discard(source_hash)
            seen = asked
        task = RenderTask(
            source=photo.source,
            source_hash=source_hash,
            specs=missing,
            out_dir=str(self.out_dir),
            limits=self.limits,
            sync=not self._sync_in_batches,
        )
        try:
            future = self.executor.submit(task, block=block)
        except DerivoError:
            with self._lock:
                del self._flights[source_hash]
            for waiting in flight.waiters:
                self.cache.set_status(waiting.photo_id, PhotoStatus.PENDING)
                if waiting is not waiter:
                    waiting.deliver(
                        PhotoResult.pending(waiting.photo_id, waiting.source, source_hash)
                    )
            raise
        with self._lock:
            flight.future = future
            cancelled = self._cancelled
        if cancelled:
            future.cancel()
        future.add_done_callback(lambda f: self._recorder.landed(Landing(source_hash, f)))

    def _settle_recorded(self, photo: _Photo, source_hash: str) -> None:
        """A photo whose bytes were rendered and recorded since its window was read."""
        self.cache.set_status(photo.photo_id, PhotoStatus.DONE)
        record = self.cache.photo(photo.photo_id)
        made = self.cache.derivatives_of([source_hash], self.specs).get(source_hash, {})
        photo.deliver(PhotoResult.cached(photo.photo_id, photo.name, source_hash, made, record))

    # Helpers

    def _resolve(self, path: Path) -> tuple[Path, os.stat_result | OSError]:
        """``path.resolve()`` and its stat, with one ``lstat`` unless the file is a link."""
        try:
            st = os.lstat(path)
        except OSError as exc:
            return path.resolve(), exc
        if stat_module.S_ISLNK(st.st_mode):
            source = path.resolve()
            try:
                return source, os.stat(source)
            except OSError as exc:
                return source, exc
        folder = self._folders.get(path.parent)
        if folder is None:
            if len(self._folders) > 4096:
                self._folders.clear()
            folder = self._folders[path.parent] = path.parent.resolve()
        return folder / path.name, st

    def _trusted_hash(self, photo: _Photo) -> str | None:
        """The recorded hash, if the file provably did not change since it was recorded
        (see :mod:`derivo.quickcheck`)."""
        record, stat = photo.record, photo.stat
        if record is None or not record.hash or record.stat is None or stat is None:
            return None
        recorded = (record.stat.size, record.stat.mtime_ns, record.stat.inode)
        now = (stat.size, stat.mtime_ns, stat.inode)
        if not vouches(record.source, recorded, record.updated_at, photo.name, now):
            return None
        return record.hash

    def _known_failure(self, photo: _Photo, source_hash: str) -> bool:
        record = photo.record
        return (
            record is not None
            and record.status is PhotoStatus.FAILED
            and record.stat == photo.stat
            and record.error_key == self.failure_key(source_hash)
        )

    def _record_unreadable(self, photo: _Photo, result: PhotoResult) -> None:
        """A source that cannot be read now: failed, with no failure key, so a later run
        tries again."""
        self.cache.put_photo(
            photo.photo_id,
            source=photo.name,
            stat=None,
            source_hash=None,
            status=PhotoStatus.FAILED,
        )
        self.cache.set_status(
            photo.photo_id, PhotoStatus.FAILED, error=result.error, error_kind=result.error_kind
        )


def _windows(items: Iterable[Item]) -> Iterator[list[Item]]:
    """Batches of ``FIRST_WINDOW`` items, then twice as many each time, up to ``WINDOW``."""
    size, batch = min(FIRST_WINDOW, WINDOW), []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            size, batch = min(2 * size, WINDOW), []
    if batch:
        yield batch
