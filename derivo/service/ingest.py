"""Accept uploads into the pipeline, and keep every recorded photo moving until done or failed.

The rules that make "nothing accepted is ever lost" hold:

- A photo is recorded (``pending``) in SQLite, its original already durable in
  place, before the upload is answered; only then is it submitted. Uploads that
  arrive together are committed together (:mod:`derivo.service.groups`): one
  sync makes their files durable before any is renamed into place, one more their
  names, one transaction records them and one marks them queued, whether the
  group holds one upload or twenty.
- When the render queue is full the photo stays ``pending``: the upload is
  answered 503 (the photo is kept, so retrying the upload answers 200 duplicate)
  and a re-queue loop submits it as soon as there is room.
- No photo stays ``processing`` without a render in flight: on start, and then
  every round of the re-queue loop, photos recorded ``processing`` that this
  server is not rendering (a dead server's, or one whose result could not be
  recorded on a full disk) go back to ``pending`` and are queued again.
- A full disk refuses the upload (:class:`~derivo.errors.StorageFull`) and keeps
  nothing of it; a render that meets one leaves its photo ``pending``, retried
  each round (not at once) until space returns, without a restart.

Writes that must not interleave (dedupe check then insert, delete, re-submit) run
under one lock, off the event loop.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import secrets
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from derivo.atomic import make_durable
from derivo.cache import DerivativeCache, FileStat, PhotoRecord, PhotoStatus
from derivo.capture import read_capture_time
from derivo.errors import DerivoError, IllegalTransition, QueueFull, StorageFull, UnknownPhoto
from derivo.pipeline import PhotoResult, Pipeline
from derivo.service.groups import GroupCommit
from derivo.service.metrics import Metrics
from derivo.service.originals import Originals
from derivo.service.uploads import Staged

log = logging.getLogger("derivo.service")

PAGE = 64


@dataclass(frozen=True)
class Accepted:
    """An upload's photo; ``queued`` is False when it waits for room in the render queue."""

    photo: PhotoRecord
    duplicate: bool
    queued: bool


class Deleted(Enum):
    DONE = "done"
    UNKNOWN = "unknown"
    BUSY = "busy"


class Ingest:
    """Photo intake and re-queueing over one pipeline. ``start`` and ``stop`` on the event loop."""

    def __init__(
        self,
        *,
        cache: DerivativeCache,
        pipeline: Pipeline,
        originals: Originals,
        metrics: Metrics,
        requeue_every: float = 5.0,
    ) -> None:
        self.cache = cache
        self.pipeline = pipeline
        self.originals = originals
        self.metrics = metrics
        self.requeue_every = requeue_every
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._backlog = True
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        # photo id -> renders submitted and not yet settled (counted: one photo may be twice)
        self._live: collections.Counter[str] = collections.Counter()
        self._live_lock = threading.Lock()
        self._accepts: GroupCommit[Staged, Accepted] = GroupCommit(self._accept_group, self._lock)

    async def start(self) -> None:
        """Put photos a dead server left ``processing`` back to ``pending``, and queue them."""
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._reconcile)
        self._wake.set()  # the backlog is queued at once, not after the first interval
        self._task = asyncio.create_task(self._requeue_forever(), name="derivo-requeue")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def accept(self, staged: Staged) -> Accepted:
        """Store a staged upload and record its photo, or find the photo with the same bytes;
        durable (its file and its record) when this returns."""
        return await self._accepts(staged)

    async def delete(self, photo_id: str) -> Deleted:
        """Forget a photo, and remove its original and derivatives if no other photo has them."""
        async with self._lock:
            return await asyncio.to_thread(self._delete, photo_id)

    async def rerender(self, photo_id: str) -> None:
        """Queue a done photo again whose derivative file has gone missing from disk."""
        async with self._lock:
            await asyncio.to_thread(self._set_pending, photo_id, PhotoStatus.DONE)

    async def reconcile(self) -> int:
        """Put photos ``processing`` without a render in flight back to ``pending``; how many."""
        async with self._lock:
            return await asyncio.to_thread(self._reconcile)

    async def requeue(self) -> None:
        """Submit pending photos until none is left or the queue is full."""
        self._backlog = False
        after: str | None = None
        while True:
            batch = await asyncio.to_thread(
                self.cache.photos, status=PhotoStatus.PENDING, after=after, limit=PAGE
            )
            for record in batch:
                async with self._lock:
                    queued = await asyncio.to_thread(self._resubmit, record.id)
                if not queued:
                    self._backlog = True
                    return
            if len(batch) < PAGE:
                return
            after = batch[-1].id

    # Internals (these run in a thread, under the lock where they write)

    def _accept_group(self, group: list[Staged]) -> list[Accepted | BaseException]:
        """Store, sync, record and queue a group of uploads; each one's photo or error."""
        outcomes: list[Accepted | BaseException | None] = [None] * len(group)
        try:
            # data before names: a file at an original's final path is always whole
            make_durable(staged.temp for staged in group)
        except BaseException:
            for staged in group:
                staged.temp.unlink(missing_ok=True)
            raise
        stored: list[tuple[int, Staged, Path, bool]] = []
        for index, staged in enumerate(group):
            stored_before = self.originals.path(staged.source_hash).is_file()
            try:
                path = self.originals.commit(staged.temp, staged.source_hash)
            except Exception as exc:  # this upload's own failure (e.g. a full disk)
                outcomes[index] = exc
                continue
            stored.append((index, staged, path, stored_before))
        try:
            make_durable(path for _, _, path, _ in stored)
            with self.cache.batch():
                recorded = [(i, self._record(staged, path)) for i, staged, path, _ in stored]
        except BaseException:
            for _, staged, _, stored_before in stored:
                if not stored_before:  # under the lock: no other photo can have these bytes yet
                    self.originals.remove(staged.source_hash)
            raise
        queued = self._submit_all([photo for _, (photo, _) in recorded if photo is not None])
        records = self.cache.photos_by_id([photo.id for _, (photo, _) in recorded if photo])
        for index, (photo, found) in recorded:
            if photo is None:
                assert found is not None
                outcomes[index] = found
            else:
                record = records.get(photo.id, photo)
                outcomes[index] = Accepted(record, duplicate=False, queued=photo.id in queued)
        done = [outcome for outcome in outcomes if outcome is not None]
        assert len(done) == len(group), "every upload of a group gets an answer"
        return done

    def _record(self, staged: Staged, path: Path) -> tuple[PhotoRecord | None, Accepted | None]:
        """Record a new photo (returned, to be queued), or find the one with these bytes."""
        existing = self.cache.photo_by_hash(staged.source_hash)
        if existing is not None:
            if existing.status is PhotoStatus.FAILED and existing.error_key is None:
                # failed for a reason outside the photo (crash, timeout): worth another try
                self._set_pending(existing.id, PhotoStatus.FAILED)
                existing = self.cache.photo(existing.id) or existing
            return None, Accepted(photo=existing, duplicate=True, queued=True)
        photo_id = self._new_id()
        self.cache.put_photo(
            photo_id,
            source=str(path),
            stat=FileStat.of(path),
            source_hash=staged.source_hash,
            status=PhotoStatus.PENDING,
            name=staged.name,
            captured=read_capture_time(path, staged.format),
            captured_fallback="upload",
        )
        photo = self.cache.photo(photo_id)
        assert photo is not None
        return photo, None

    def _submit_all(self, photos: list[PhotoRecord]) -> set[str]:
        """Submit recorded photos, their ``processing`` marks in one transaction; the ids
        queued. A failure here loses nothing: the photos are recorded, the loop requeues."""
        queued: set[str] = set()
        try:
            with self.cache.batch():
                for photo in photos:
                    if self._submit(photo.id, Path(photo.source), photo.hash):
                        queued.add(photo.id)
        except DerivoError as exc:
            log.warning("queueing uploaded photos: %s; the next round queues them", exc)
            self._backlog = True
            return {photo.id for photo in photos}  # recorded: they will be rendered
        return queued

    def _new_id(self) -> str:
        while True:
            photo_id = secrets.token_urlsafe(9)
            if self.cache.photo(photo_id) is None:
                return photo_id

    def _submit(self, photo_id: str, path: Path, source_hash: str | None) -> bool:
        """Submit a recorded photo; False when it stays pending (no room, or no space)."""
        with self._live_lock:
            self._live[photo_id] += 1
        try:
            future = self.pipeline.submit(photo_id, path, block=False, source_hash=source_hash)
        except (QueueFull, StorageFull):
            self._settled(photo_id)
            self._backlog = True
            return False
        except BaseException:
            self._settled(photo_id)
            raise
        future.add_done_callback(self._landed)
        return True

    def _settled(self, photo_id: str) -> None:
        with self._live_lock:
            self._live[photo_id] -= 1
            if self._live[photo_id] <= 0:
                del self._live[photo_id]

    def _is_live(self, photo_id: str) -> bool:
        with self._live_lock:
            return photo_id in self._live

    def _resubmit(self, photo_id: str) -> bool:
        """Submit a pending photo, unless its render is in flight: a failed transaction
        can put a photo back to ``pending`` after its render was handed to the pool."""
        if self._is_live(photo_id):
            return True
        record = self.cache.photo(photo_id)
        if record is None or record.status is not PhotoStatus.PENDING:
            return True
        return self._submit(photo_id, Path(record.source), record.hash)

    def _set_pending(self, photo_id: str, expected: PhotoStatus) -> None:
        try:
            self.cache.mark_pending(photo_id, expected=expected)
        except (IllegalTransition, UnknownPhoto):
            return  # moved on (rendered again, deleted) since it was looked at
        self._backlog = True
        self._poke()

    def _delete(self, photo_id: str) -> Deleted:
        record = self.cache.photo(photo_id)
        if record is None:
            return Deleted.UNKNOWN
        if record.status is PhotoStatus.PROCESSING:
            return Deleted.BUSY
        folders = set()
        for name in self.cache.delete_photo(photo_id):
            path = Path(name)
            path.unlink(missing_ok=True)
            folders.add(path.parent)
        for folder in folders:
            with contextlib.suppress(OSError):
                folder.rmdir()
        if record.hash and self.cache.photo_by_hash(record.hash) is None:
            self.originals.remove(record.hash)
        return Deleted.DONE

    def _reconcile(self) -> int:
        """Runs under the lock, so nothing is submitted between the look and the change."""
        stranded, after = 0, None
        while batch := self.cache.photos(status=PhotoStatus.PROCESSING, after=after, limit=PAGE):
            for record in batch:
                if self._is_live(record.id):
                    continue
                with contextlib.suppress(IllegalTransition, UnknownPhoto):
                    self.cache.mark_pending(record.id, expected=PhotoStatus.PROCESSING)
                    stranded += 1
            after = batch[-1].id
        if stranded:
            self._backlog = True
            log.warning("queued again %d photo(s) left processing with no render", stranded)
        return stranded

    def _landed(self, future: Future[PhotoResult]) -> None:
        """Runs in the pool's thread when a photo settles: count it, and make room for more.

        A render that met a full disk is retried on the next round, not at once.
        """
        result = future.result()
        self._settled(result.photo_id)
        self.metrics.observe(result)
        if result.error_kind == StorageFull.kind:
            self._backlog = True
        elif self._backlog:
            self._poke()

    def _poke(self) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: shutting down
                self._loop.call_soon_threadsafe(self._wake.set)

    async def _requeue_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.requeue_every)
            self._wake.clear()
            try:
                await self.reconcile()
                await self.requeue()
            except DerivoError as exc:  # e.g. the disk is full: the next round tries again
                log.warning("re-queueing pending photos: %s", exc)
            except Exception:  # logged; the next round tries again
                log.exception("re-queueing pending photos failed")
