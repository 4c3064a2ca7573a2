"""The service against a real Dask cluster: an upload renders on a Dask worker and is served.

The app runs in this process (``create_app`` through TestClient, its lifespan
connecting to the scheduler as ``DERIVO_SCHEDULER`` does); the scheduler and the
worker are real processes, and the worker holds each render at a gate
(``tests.dask_gate``) so the test sees which process renders, and when.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest
from fastapi.testclient import TestClient

from derivo.service import Settings, create_app
from tests.dask_cluster import DEADLINE, Cluster, cluster
from tests.service.support import SAMPLES, TOKEN, decode_size, wait_final

pytestmark = pytest.mark.slow

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def gated_cluster(tmp_path: Path) -> Iterator[tuple[Cluster, Path]]:
    """A scheduler and one worker whose renders wait until ``<gate>/open`` exists."""
    gate = tmp_path / "gate"
    gate.mkdir()
    preload = {
        "DERIVO_TEST_GATE": str(gate),
        "DASK_DISTRIBUTED__WORKER__PRELOAD": "tests.dask_gate",
    }
    with cluster(tmp_path / "logs", workers=1, env=preload) as running:
        yield running, gate


def test_an_upload_renders_on_the_cluster_and_its_thumbnail_is_served(
    gated_cluster: tuple[Cluster, Path], tmp_path: Path
) -> None:
    running, gate = gated_cluster
    worker_pid = running.pids()["w0"]
    environ = {"DERIVO_SCHEDULER": running.address, "DERIVO_TOKEN": TOKEN}
    settings = Settings.from_env(environ, data_dir=tmp_path / "data")
    assert settings.scheduler == running.address
    source = SAMPLES / "jolla.jpg"
    with TestClient(create_app(settings), base_url="http://derivo.test") as client:
        response = client.post("/photos", content=source.read_bytes(), headers=AUTH)
        assert response.status_code == 202, response.text
        photo = response.json()
        assert photo["hash"] == blake3.blake3(source.read_bytes()).hexdigest()

        deadline = time.monotonic() + DEADLINE
        while not (gate / f"started-{worker_pid}").exists():  # the Dask worker has it
            assert time.monotonic() < deadline, "no render reached the Dask worker"
            time.sleep(0.05)
        assert client.get(f"/photos/{photo['id']}").json()["status"] == "processing"
        (gate / "open").touch()

        done = wait_final(client, [photo["id"]])[photo["id"]]
        assert done["status"] == "done", done
        thumb = done["derivatives"]["thumbnail"]  # type: ignore[index]
        got = client.get(thumb["url"])
        assert got.status_code == 200
        assert got.headers["content-type"] == "image/jpeg"
        assert decode_size(got.content) == (200, 150) == (thumb["width"], thumb["height"])
        metrics = client.get("/metrics").text.splitlines()
    assert "derivo_workers 1.0" in metrics  # the cluster's one worker thread
    assert "derivo_in_flight 0.0" in metrics
    written = list((tmp_path / "data" / "derivatives").glob("*/*/thumbnail-*"))
    assert [p.read_bytes() for p in written] == [got.content]
