"""Route dependencies, as typed ``Annotated`` aliases: a handler names what it needs.

They are ``async`` though they do no I/O: FastAPI runs a plain ``def`` dependency in
a worker thread, and on a busy machine every such hop can cost a GET milliseconds.

::

    @router.get("/photos/{photo_id}")
    async def get_photo(photo_id: str, services: ServicesDep) -> PhotoView: ...
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from derivo.cache import DerivativeCache
from derivo.pipeline import Pipeline
from derivo.service.ingest import Ingest
from derivo.service.metrics import Metrics
from derivo.service.resources import Services
from derivo.service.settings import Settings


async def get_services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_settings(services: ServicesDep) -> Settings:
    return services.settings


async def get_cache(services: ServicesDep) -> DerivativeCache:
    return services.cache


async def get_pipeline(services: ServicesDep) -> Pipeline:
    return services.pipeline


async def get_ingest(services: ServicesDep) -> Ingest:
    return services.ingest


async def get_metrics(services: ServicesDep) -> Metrics:
    return services.metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
CacheDep = Annotated[DerivativeCache, Depends(get_cache)]
PipelineDep = Annotated[Pipeline, Depends(get_pipeline)]
IngestDep = Annotated[Ingest, Depends(get_ingest)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]

_bearer = HTTPBearer(auto_error=False, description="The token from DERIVO_TOKEN or DATA_DIR/token.")


async def require_token(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Raises :class:`~derivo.errors.Unauthorized` unless the bearer token is right."""
    services.auth.check(credentials)


#: Put on a route or router: ``dependencies=[TokenRequired]``.
TokenRequired = Depends(require_token)
