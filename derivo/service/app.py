"""The HTTP API and gallery over one Pipeline: ``create_app(settings)``.

Nothing happens at import or at ``create_app``: the data directory, cache, worker
pool (unless an executor is passed in) and pipeline are opened in the lifespan
(:mod:`derivo.service.resources`) and closed on shutdown. Routes live in
:mod:`derivo.service.routes`, one module per resource; they get what they need
through :mod:`derivo.service.deps` and only raise errors, which
:mod:`derivo.service.http_errors` turns into answers.

Public (no token): ``GET`` of photos and derivatives, the gallery ``/``,
``/healthz``, ``/metrics``, ``/docs``. Token-protected: ``POST /photos``,
``DELETE /photos/{id}``, ``GET /photos/{id}/original``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from derivo.service import http_errors
from derivo.service.head import HeadAsGet
from derivo.service.headers import SecurityHeaders
from derivo.service.resources import ServiceExecutor, open_services
from derivo.service.routes import ROUTERS
from derivo.service.routes.gallery import STATIC
from derivo.service.settings import Settings


def create_app(settings: Settings, *, executor: ServiceExecutor | None = None) -> FastAPI:
    """The ASGI app; resources live from lifespan startup to shutdown.

    Renders go to ``executor`` if given (its owner closes it), else to the pool the
    settings describe, started and closed with the app.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_services(settings, executor) as services:
            app.state.services = services
            yield

    app = FastAPIOffline(  # Swagger UI and ReDoc assets served from the package, not a CDN
        title="derivo",
        summary="Upload photos; get thumbnails and previews, rendered in parallel, never twice.",
        version=version("derivo"),
        lifespan=lifespan,
    )
    http_errors.install(app, retry_after=settings.retry_after)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(HeadAsGet)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in ROUTERS:
        app.include_router(router)
    return app
