"""``derivo serve``: the upload API and gallery over the same Pipeline as the CLI.

::

    settings    typed settings; the only place the environment is read
    app         create_app(settings): routes, lifespan (cache, pool, pipeline)
    server      serve(settings): uvicorn on a bound socket
    ingest      accept uploads, re-queue pending photos: nothing accepted is lost
    uploads     stream a body to a temp file while sniffing, counting, hashing
    originals   content-addressed store of uploaded files
    datadir     one server per data directory; sweep of crash leftovers
    auth        the bearer token for writes
    http_errors errors to JSON answers, in one place
    metrics     Prometheus metrics
    views       JSON shapes of the API
    static/     the gallery page
"""

from derivo.service.app import create_app
from derivo.service.server import serve
from derivo.service.settings import Settings

__all__ = ["Settings", "create_app", "serve"]
