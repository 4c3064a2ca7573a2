"""The app in this process behind ``httpx.ASGITransport``, its lifespan run around it.

Renders run on a thread of this process (:class:`~tests.background.BackgroundInline`):
these tests are about the HTTP side, not about worker processes.

For tests that drive a request body themselves (a stalled stream) or start
requests together and watch them queue: an ``AsyncClient`` streams the body to the
app as the test yields it, where ``TestClient`` reads it whole first.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from derivo.service import Settings, create_app
from derivo.service.resources import Services
from tests.background import BackgroundInline

from .support import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextlib.asynccontextmanager
async def served(
    data_dir: Path, *, real_pool: bool = False, **settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    """A started app and a client of it; shut down on exit.

    With ``real_pool``, the app starts the worker pool its settings describe.
    """
    values = {"data_dir": data_dir, "token": TOKEN, **settings}
    with BackgroundInline() as executor:
        app = create_app(Settings(**values), executor=None if real_pool else executor)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://derivo.test") as c:
                yield c, app.state.services
