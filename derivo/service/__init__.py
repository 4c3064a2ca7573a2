"""``derivo serve``: the upload API and gallery over the same Pipeline as the CLI.

::

    settings    typed settings; the only place the environment is read
    app         create_app(settings, executor=None): settings in, app out; an
                executor passed in is used, never closed
    resources   what the lifespan opens and closes (cache, pool, pipeline, ingest)
    deps        what routes depend on, as typed Annotated aliases
    routes/     one APIRouter per resource: photos, derivatives, ops, gallery
    config      where settings come from: options, environment, derivo.toml
    server      serve(settings): uvicorn on a bound socket
    ingest      accept uploads, re-queue pending photos: nothing accepted is lost
    respec      at start, queue photos that changed specs or limits concern
    uploads     stream a body to a temp file while sniffing, counting, hashing
    originals   content-addressed store of uploaded files
    datadir     one server per data directory; sweep of crash leftovers
    auth        the bearer token for writes
    http_errors errors to JSON answers, in one place
    metrics     Prometheus metrics
    views       JSON shapes of the API
    static/     the gallery page
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from derivo.service.settings import Settings

if TYPE_CHECKING:
    from derivo.service.app import create_app
    from derivo.service.server import serve

__all__ = ["Settings", "create_app", "serve"]


def __getattr__(name: str) -> Any:
    """``create_app`` and ``serve`` import FastAPI and uvicorn when first asked for, so the
    CLI can read the settings model without them."""
    if name == "create_app":
        from derivo.service.app import create_app

        return create_app
    if name == "serve":
        from derivo.service.server import serve

        return serve
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
