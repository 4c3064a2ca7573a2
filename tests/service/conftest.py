"""Fixtures: servers started for one test (``spawn``) or shared by a module (``server``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .support import Server, Spawn, start_server


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start servers for one test; every one is stopped afterwards."""
    started: list[Server] = []

    def spawn_(*args: str, data_dir: Path | None = None, **kwargs: Any) -> Server:
        server = start_server(data_dir or tmp_path / "data", *args, **kwargs)
        started.append(server)
        return server

    yield spawn_
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server shared by a test module: one worker, default queue."""
    srv = start_server(tmp_path_factory.mktemp("shared") / "data", "--workers", "1")
    yield srv
    srv.stop()
