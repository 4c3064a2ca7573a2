"""Prometheus metrics of one server, in a registry of its own (no global state).

Counters and the render histogram are fed from each photo's result as it lands;
queue depth, in-flight renders, worker restarts and photos by status are read
from the pool and the cache when scraped, so they are never stale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from derivo.cache import PhotoStatus
from derivo.executors import PoolStats
from derivo.pipeline import PhotoResult

CONTENT_TYPE = CONTENT_TYPE_LATEST
RENDER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
UPLOAD_RESULTS = ("accepted", "duplicate", "queue_full", "rejected")


class Metrics:
    """What ``GET /metrics`` shows."""

    def __init__(
        self, *, pool_stats: Callable[[], PoolStats], counts: Callable[[], dict[PhotoStatus, int]]
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.photos = Counter(
            "derivo_photos",
            "Photos settled, by outcome (rendered, cached, failed).",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in ("rendered", "cached", "failed"):
            self.photos.labels(outcome)
        self.render_seconds = Histogram(
            "derivo_render_seconds",
            "Time a worker spent rendering one photo's derivatives.",
            buckets=RENDER_BUCKETS,
            registry=self.registry,
        )
        self.uploads = Counter(
            "derivo_uploads",
            "Upload requests, by result.",
            ["result"],
            registry=self.registry,
        )
        for result in UPLOAD_RESULTS:
            self.uploads.labels(result)
        self.upload_bytes = Counter(
            "derivo_upload_bytes", "Bytes received in uploads.", registry=self.registry
        )
        self.registry.register(_Live(pool_stats, counts))

    def observe(self, result: PhotoResult) -> None:
        """Count one settled photo (a photo put back to pending is not settled)."""
        if result.outcome == "pending":
            return
        self.photos.labels(result.outcome).inc()
        if result.outcome == "rendered":
            self.render_seconds.observe(result.render_seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _Live(Collector):
    """Gauges read at scrape time from the pool and the cache."""

    def __init__(
        self, pool_stats: Callable[[], PoolStats], counts: Callable[[], dict[PhotoStatus, int]]
    ) -> None:
        self._pool_stats = pool_stats
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        stats = self._pool_stats()
        yield GaugeMetricFamily(
            "derivo_queue_depth", "Renders waiting for a worker.", value=stats.queued
        )
        yield GaugeMetricFamily(
            "derivo_in_flight", "Renders running in a worker now.", value=stats.in_flight
        )
        yield GaugeMetricFamily("derivo_workers", "Worker processes.", value=stats.workers)
        yield CounterMetricFamily(
            "derivo_worker_restarts",
            "Worker processes replaced after dying or overrunning the time limit.",
            value=stats.restarts,
        )
        by_status = GaugeMetricFamily(
            "derivo_photos_by_status", "Recorded photos, by status.", labels=["status"]
        )
        for status, n in self._counts().items():
            by_status.add_metric([status], n)
        yield by_status
