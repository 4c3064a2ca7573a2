"""Run the app with uvicorn on a socket bound here, so ``--port 0`` can say which port it got."""

from __future__ import annotations

import sys

import uvicorn

from derivo.service.app import create_app
from derivo.service.datadir import DataDirLock
from derivo.service.settings import Settings


def serve(settings: Settings) -> None:
    """Serve until SIGINT or SIGTERM; queued renders are left pending for the next start.

    Raises :class:`~derivo.errors.DerivoError` at once if another server holds the
    data directory (the lifespan takes the lock for real).
    """
    DataDirLock(settings.data_dir).release()
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        lifespan="on",
        timeout_graceful_shutdown=10,
        server_header=False,
    )
    sock = config.bind_socket()
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(
        f"derivo: listening on http://{shown}:{port}/ (data in {settings.data_dir.resolve()}, "
        f"{settings.workers} worker{'s' * (settings.workers > 1)})",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.Server(config).run(sockets=[sock])
