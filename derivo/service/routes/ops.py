"""Liveness and Prometheus metrics, for whoever runs the service."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Response

from derivo.service.deps import MetricsDep, ServicesDep
from derivo.service.metrics import CONTENT_TYPE

router = APIRouter(tags=["service"])


@router.get("/healthz")
async def healthz(services: ServicesDep) -> dict[str, Any]:
    """Liveness, with the render pool's state."""
    stats = services.pool.stats()
    return {
        "status": "ok",
        "workers": stats.workers,
        "queued": stats.queued,
        "in_flight": stats.in_flight,
    }


@router.get("/metrics", response_class=Response)
async def metrics(metrics: MetricsDep) -> Response:
    """Prometheus text format."""
    text = await asyncio.to_thread(metrics.exposition)
    return Response(text, media_type=CONTENT_TYPE)
