"""What one server opens at start and closes at shutdown, handed to the routes.

Nothing is opened at import or by ``create_app``: :func:`open_services` takes the
data directory lock, the token, the cache, the worker pool, the pipeline (with the
configured specs) and the ingest loop, in that order, and closes them in reverse.
Photos done or failed under other specs or limits are queued first (:mod:`.respec`).
An executor passed in is used instead of the configured pool, and left to its owner
to close (tests pass an :class:`~derivo.executors.InlineExecutor`).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from derivo.cache import DerivativeCache, PhotoRecord
from derivo.executors import Executor, PoolStats, make_executor
from derivo.lock import FolderLock
from derivo.pipeline import Pipeline
from derivo.service.auth import BearerToken, load_or_create_token
from derivo.service.datadir import sweep_temp_files
from derivo.service.ingest import Ingest
from derivo.service.metrics import Metrics
from derivo.service.originals import Originals
from derivo.service.respec import queue_stale
from derivo.service.settings import Settings
from derivo.service.variants import Variants
from derivo.service.views import PhotoView, photo_view

log = logging.getLogger("derivo.service")

#: Threads for the server's blocking work (files, SQLite).
IO_THREADS = 64


class ServiceExecutor(Executor, Protocol):
    """An executor the service can report on (``/healthz``, ``/metrics``)."""

    def stats(self) -> PoolStats: ...


@dataclass(frozen=True)
class Services:
    """What the lifespan opens, for the handlers (see :mod:`derivo.service.deps`)."""

    settings: Settings
    cache: DerivativeCache
    pool: ServiceExecutor
    pipeline: Pipeline
    ingest: Ingest
    metrics: Metrics
    auth: BearerToken
    variants: Variants

    def view(self, record: PhotoRecord) -> PhotoView:
        made = self.cache.derivatives(record.hash, self.pipeline.specs) if record.hash else {}
        return photo_view(record, self.pipeline.specs, made)


@asynccontextmanager
async def open_services(
    settings: Settings, executor: ServiceExecutor | None = None
) -> AsyncIterator[Services]:
    """Open every resource of one server; on exit, close them in reverse order.

    Without ``executor``, the one the settings describe is built, started and closed here.
    """
    async with AsyncExitStack() as stack:
        # file and SQLite work runs in threads; enough of them that a GET never queues
        # behind the uploads streaming in (the default is cores + 4)
        threads = stack.enter_context(ThreadPoolExecutor(IO_THREADS, "derivo-io"))
        asyncio.get_running_loop().set_default_executor(threads)
        # one server per data directory, and no derivo run in the folder it renders into
        for folder in (settings.data_dir, settings.derivatives_dir):
            stack.enter_context(FolderLock(folder, purpose="derivo serve", kind="data directory"))
        token = _token(settings)
        originals = Originals(settings.originals_dir)
        sweep_temp_files(settings.originals_dir, settings.derivatives_dir)
        cache = stack.enter_context(
            DerivativeCache(settings.db_path, root=settings.derivatives_dir, durable=True)
        )
        pool = _configured_executor(settings) if executor is None else executor
        pool.start()
        pipeline = Pipeline(
            cache=cache,
            executor=pool,
            out_dir=settings.derivatives_dir,
            specs=settings.specs,
            limits=settings.limits,
        )
        stack.callback(pipeline.close)
        if executor is None:
            # cancel, not drain: whatever was queued is pending in SQLite and resumes next start
            stack.push_async_callback(asyncio.to_thread, pool.close, cancel=True)
        metrics = Metrics(pool_stats=pool.stats, counts=cache.counts)
        ingest = Ingest(cache=cache, pipeline=pipeline, originals=originals, metrics=metrics)
        await asyncio.to_thread(_queue_if_respecified, cache, pipeline)
        await ingest.start()
        stack.push_async_callback(ingest.stop)
        yield Services(
            settings=settings,
            cache=cache,
            pool=pool,
            pipeline=pipeline,
            ingest=ingest,
            metrics=metrics,
            auth=BearerToken(token),
            variants=Variants(
                cache=cache, executor=pool, out_dir=pipeline.out_dir, limits=settings.limits
            ),
        )


def _configured_executor(settings: Settings) -> ServiceExecutor:
    """The executor the settings describe: the local pool, or a Dask cluster."""
    return make_executor(
        scheduler=settings.scheduler,
        workers=None if settings.scheduler else settings.workers,
        queue_size=settings.queue_size,
        task_timeout=settings.task_timeout,
        out_dir=settings.derivatives_dir,
        idle_priority=True,
    )


def _token(settings: Settings) -> str:
    """The configured token, or the stored one; a newly generated one is shown once."""
    if settings.token is not None:
        return settings.token
    token, created = load_or_create_token(settings.token_path)
    if created:
        print(
            f"derivo: generated the upload token, kept in {settings.token_path} "
            f"(mode 0600); shown only this once:\n  {token}",
            file=sys.stderr,
            flush=True,
        )
    return token


#: The meta key holding the :attr:`Pipeline.render_key` the library was last checked against.
CHECKED_WITH = "specs_checked"


def _queue_if_respecified(cache: DerivativeCache, pipeline: Pipeline) -> None:
    """Queue what changed specs or limits concern, reading the library only when they did
    change since the last start (a large library is not read at every start)."""
    if cache.meta(CHECKED_WITH) == pipeline.render_key:
        return
    stale = queue_stale(cache, pipeline.specs, pipeline.failure_key)
    if stale:
        log.info("queued %d photo(s) again for changed specs or limits", stale)
    cache.set_meta(CHECKED_WITH, pipeline.render_key)
