"""Security headers on every answer: no MIME sniffing, no referrer, a CSP for the gallery.

``nosniff`` stops a browser from running an upload it guessed to be HTML or script;
``no-referrer`` keeps photo URLs out of other sites' logs. The gallery page loads
only its own script, stylesheet and images, so its policy allows nothing else;
``/docs`` is left out, since its page loads from a CDN.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

GALLERY_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
EVERY_ANSWER = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
PAGES = {"/": GALLERY_POLICY}


class SecurityHeaders:
    """ASGI middleware adding :data:`EVERY_ANSWER`, and each page's policy of :data:`PAGES`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = PAGES.get(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in EVERY_ANSWER.items():
                    headers.setdefault(name, value)
                if policy is not None:
                    headers.setdefault("Content-Security-Policy", policy)
            await send(message)

        await self.app(scope, receive, send_with_headers)
