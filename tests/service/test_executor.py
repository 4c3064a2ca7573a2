"""The service renders with an executor passed in, and leaves closing it to its owner."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from derivo.service import Settings, create_app
from tests.conftest import CountingExecutor

from .asgi import AUTH
from .support import SAMPLES, TOKEN, wait_final


class Owned(CountingExecutor):
    """Counts the renders it is given and the times it is closed."""

    closes = 0

    def close(self, *, cancel: bool = False) -> None:
        self.closes += 1
        super().close(cancel=cancel)


def test_an_executor_passed_in_renders_and_is_not_closed_by_the_app(tmp_path: Path) -> None:
    executor = Owned()
    app = create_app(Settings(data_dir=tmp_path / "data", token=TOKEN), executor=executor)
    with TestClient(app, base_url="http://derivo.test") as client:
        body = (SAMPLES / "jolla.jpg").read_bytes()
        photo = client.post("/photos", content=body, headers=AUTH).json()
        assert wait_final(client, [photo["id"]])[photo["id"]]["status"] == "done"
        health = client.get("/healthz").json()
    assert executor.submitted == 1
    assert (health["workers"], health["queued"], health["in_flight"]) == (1, 0, 0)
    assert executor.closes == 0
    executor.close()
    assert executor.closes == 1
