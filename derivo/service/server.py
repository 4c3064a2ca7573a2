"""Run the app with uvicorn on a socket bound here, so ``--port 0`` can say which port it got."""

from __future__ import annotations

import socket
import sys

import uvicorn

from derivo.cache import DerivativeCache
from derivo.errors import DerivoError
from derivo.lock import FolderLock
from derivo.service.app import create_app
from derivo.service.auth import load_or_create_token
from derivo.service.protocol import HeaderDeadline
from derivo.service.settings import Settings


def serve(settings: Settings) -> None:
    """Serve until SIGINT or SIGTERM; queued renders are left pending for the next start.

    Raises :class:`~derivo.errors.DerivoError` at once if another server holds the
    data directory (the lifespan takes the lock for real), its database cannot be
    used, or the address is taken.
    """
    for folder in (settings.data_dir, settings.derivatives_dir):
        FolderLock(folder, purpose="derivo serve", kind="data directory").release()
    if settings.db_path.exists():  # a damaged database: one line now, not a startup traceback
        with DerivativeCache(settings.db_path, root=settings.derivatives_dir) as cache:
            cache.counts()
    if settings.token is None and settings.token_path.exists():
        load_or_create_token(settings.token_path)  # refuses a damaged token file up front
    sock = bind(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(
        f"derivo: listening on http://{shown}:{port}/ (data in {settings.data_dir.resolve()}, "
        f"{settings.workers} worker{'s' * (settings.workers > 1)})",
        file=sys.stderr,
        flush=True,
    )
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=port,
        lifespan="on",
        timeout_graceful_shutdown=10,
        server_header=False,
        # uvicorn counts the connection asking too: one more lets exactly that many be open
        limit_concurrency=settings.max_connections + 1,
        # a client has as long to send its headers as an upload may stay silent
        http=HeaderDeadline.with_timeout(settings.upload_idle_timeout),
    )
    uvicorn.Server(config).run(sockets=[sock])


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket.

    Made with the address's own protocol number (IPPROTO_TCP), as asyncio only turns
    Nagle off (TCP_NODELAY) on such sockets; with protocol 0 every keep-alive answer
    sent in two writes waits ~40 ms for the client's delayed ACK.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise DerivoError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise DerivoError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock
