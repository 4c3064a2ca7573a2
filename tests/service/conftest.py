"""Fixtures: the app in this process (``app``, ``make_app``), and real servers (``spawn``).

API behaviour is tested in-process through ``TestClient`` against
``create_app(settings, executor=...)``: real SQLite, real renders on a thread of
this process behind a gate (:mod:`tests.background`), no worker processes, no
sockets. Real ``derivo serve`` processes are for what only they show (restarts,
kill -9, signals, the browser, streaming over a socket); those tests are marked slow.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, sync_playwright

from derivo.service import Settings, create_app
from tests.background import BackgroundInline
from tests.gates import Gate

from .support import TOKEN, Server, Spawn, start_server


@dataclass(frozen=True)
class App:
    """A started app: its client (no token: pass ``headers=AUTH`` to write), gate, data."""

    client: TestClient
    gate: Gate
    data_dir: Path


#: ``make_app(**settings)``: start an app with these ``Settings`` fields.
MakeApp = Callable[..., App]


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[MakeApp]:
    """Start apps for one test; each is shut down (its executor too) afterwards."""
    with contextlib.ExitStack() as stack:

        def make(**settings: Any) -> App:
            folder = tmp_path / f"app{len(stack._exit_callbacks)}"
            return stack.enter_context(_started_app(folder, **settings))

        yield make


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """One app shared by a test module; each test uploads its own photos."""
    with _started_app(tmp_path_factory.mktemp("app")) as started:
        yield started


@contextlib.contextmanager
def _started_app(folder: Path, **settings: Any) -> Iterator[App]:
    gate = Gate.make(folder / "gate")
    gate.open()
    values = {"data_dir": folder / "data", "token": TOKEN, **settings}
    with BackgroundInline(gate.render()) as executor:
        app = create_app(Settings(**values), executor=executor)
        with TestClient(app, base_url="http://derivo.test") as client:
            yield App(client=client, gate=gate, data_dir=values["data_dir"])


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start servers for one test; every one is stopped afterwards."""
    started: list[Server] = []

    def spawn_(*args: str, data_dir: Path | None = None, **kwargs: Any) -> Server:
        server = start_server(data_dir or tmp_path / "data", *args, **kwargs)
        started.append(server)
        return server

    try:
        yield spawn_
    finally:
        for server in started:
            server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real server shared by a test module: one worker, default queue."""
    srv = start_server(tmp_path_factory.mktemp("shared") / "data", "--workers", "1")
    try:
        yield srv
    finally:
        srv.stop()


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium, driven by Playwright; one per test module."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "install Debian's chromium (apt-get install chromium) for the gallery test"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
