"""HTTP/1.1 as uvicorn speaks it (h11), with a deadline for a request's headers.

uvicorn bounds a connection idle between requests (``timeout_keep_alive``), but
not one that opened and sends nothing, or sends its headers a byte at a time:
any data resets its timer, so a few hundred such clients ("slowloris") hold every
connection the server allows and the next real request gets 503. Here a client
has ``header_timeout`` seconds, from the moment the connection opens or the last
answer is sent, to finish a request's headers; otherwise the connection is closed.
A body is bounded elsewhere (an upload's idle timeout answers 408).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


class HeaderDeadline(H11Protocol):
    """uvicorn's h11 protocol; a connection that is not handling a request must send the
    next request's headers within :attr:`header_timeout` seconds."""

    header_timeout = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self._handling():  # the headers are in: the request is the app's now
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self._handling():
            self._arm()

    @classmethod
    def with_timeout(cls, seconds: float) -> type[HeaderDeadline]:
        """This protocol with its own deadline, for ``uvicorn.Config(http=...)``."""
        return type(cls.__name__, (cls,), {"header_timeout": seconds})

    def _handling(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _expired(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing() and not self._handling():
            self.transport.close()
