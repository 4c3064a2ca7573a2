"""The intake rules that keep every recorded photo moving, driven directly, rendering in-process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest

from derivo import (
    DerivativeCache,
    FileStat,
    Pipeline,
    PoolStats,
    QueueFull,
    RenderFuture,
    RenderTask,
)
from derivo.service.ingest import PAGE, Deleted, Ingest
from derivo.service.metrics import Metrics
from derivo.service.originals import Originals
from derivo.service.uploads import Staged
from tests.conftest import CountingExecutor

from .support import make_jpeg

MANY = PAGE + 6  # more than one page of the backlog


class Refusing(CountingExecutor):
    """Renders in-process, but its queue is full while ``full`` is set."""

    full = False

    def submit(self, task: RenderTask, *, block: bool = True) -> RenderFuture:
        if self.full:
            raise QueueFull("render queue is full (1 waiting)")
        return super().submit(task, block=block)


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[DerivativeCache, Refusing, Ingest]]:
    with DerivativeCache(tmp_path / "derivo.db") as cache, Refusing() as executor:
        pipeline = Pipeline(cache=cache, executor=executor, out_dir=tmp_path / "derivatives")
        idle = PoolStats(workers=1, queued=0, in_flight=0, completed=0, failed=0, restarts=0)
        metrics = Metrics(pool_stats=lambda: idle, counts=cache.counts)
        originals = Originals(tmp_path / "originals")
        yield (
            cache,
            executor,
            Ingest(cache=cache, pipeline=pipeline, originals=originals, metrics=metrics),
        )


def stored(ingest: Ingest, body: bytes) -> Staged:
    f, temp = ingest.originals.temp_file()
    with f:
        f.write(body)
    return Staged(
        temp=temp, source_hash=blake3.blake3(body).hexdigest(), size=len(body), format="jpeg"
    )


def record_pending(cache: DerivativeCache, ingest: Ingest, count: int, status: str) -> list[str]:
    """``count`` photos of one small original, recorded in ``status``."""
    staged = stored(ingest, make_jpeg(64, 48, 1))
    path = ingest.originals.commit(staged.temp, staged.source_hash)
    ids = [f"p{i:03d}" for i in range(count)]
    for photo_id in ids:
        cache.put_photo(
            photo_id,
            source=str(path),
            stat=FileStat.of(path),
            source_hash=staged.source_hash,
            status=status,
        )  # type: ignore[arg-type]
    return ids


def recorded(ingest: Ingest) -> None:
    """Wait until every render submitted so far is recorded (a recorder thread does it)."""
    ingest.pipeline.close()


def test_requeue_submits_a_backlog_of_more_than_one_page(parts) -> None:  # type: ignore[no-untyped-def]
    cache, executor, ingest = parts
    record_pending(cache, ingest, MANY, "pending")
    asyncio.run(ingest.requeue())
    recorded(ingest)
    assert cache.counts() == {"pending": 0, "processing": 0, "done": MANY, "failed": 0}
    assert executor.submitted == 1  # one render; the other photos share its derivatives


def test_photos_left_processing_are_pending_again_on_start(parts) -> None:  # type: ignore[no-untyped-def]
    cache, executor, ingest = parts
    record_pending(cache, ingest, MANY, "processing")
    executor.full = True  # keep them where start puts them

    async def start_and_stop() -> None:
        await ingest.start()
        await ingest.stop()

    asyncio.run(start_and_stop())
    assert cache.counts()["pending"] == MANY


def test_a_full_queue_keeps_the_photo_pending_until_there_is_room(parts) -> None:  # type: ignore[no-untyped-def]
    cache, executor, ingest = parts
    executor.full = True
    accepted = asyncio.run(ingest.accept(stored(ingest, make_jpeg(64, 48, 2))))
    assert (accepted.queued, accepted.duplicate, accepted.photo.status) == (False, False, "pending")
    again = asyncio.run(ingest.accept(stored(ingest, make_jpeg(64, 48, 2))))
    assert (again.duplicate, again.photo.id) == (True, accepted.photo.id)
    executor.full = False
    asyncio.run(ingest.requeue())
    recorded(ingest)
    assert cache.photo(accepted.photo.id).status == "done"  # type: ignore[union-attr]


def test_a_photo_failed_by_a_crash_is_tried_again_but_a_bad_photo_is_not(parts) -> None:  # type: ignore[no-untyped-def]
    cache, executor, ingest = parts
    body = make_jpeg(64, 48, 3)
    photo = asyncio.run(ingest.accept(stored(ingest, body))).photo
    recorded(ingest)
    cache.set_status(photo.id, "failed", error="worker process died", error_kind="crash")
    executor.full = True
    again = asyncio.run(ingest.accept(stored(ingest, body)))
    assert (again.duplicate, again.photo.status) == (True, "pending")
    cache.set_status(
        photo.id, "failed", error="truncated JPEG", error_kind="corrupt", error_key="k"
    )
    verdict = asyncio.run(ingest.accept(stored(ingest, body)))
    assert (verdict.duplicate, verdict.photo.status) == (True, "failed")


def test_delete_refuses_a_photo_being_rendered_and_keeps_shared_originals(parts) -> None:  # type: ignore[no-untyped-def]
    cache, executor, ingest = parts
    a, b = record_pending(cache, ingest, 2, "done")
    original = Path(cache.photo(a).source)  # type: ignore[union-attr]
    cache.set_status(a, "processing")
    assert asyncio.run(ingest.delete(a)) is Deleted.BUSY
    cache.set_status(a, "done")
    assert asyncio.run(ingest.delete(a)) is Deleted.DONE
    assert original.is_file()  # b still has these bytes
    assert asyncio.run(ingest.delete(b)) is Deleted.DONE
    assert not original.exists()
    assert asyncio.run(ingest.delete(b)) is Deleted.UNKNOWN
