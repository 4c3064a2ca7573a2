"""Concurrency: the same bytes at once render once; 100 in parallel all complete; backpressure."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import blake3
import httpx
import pytest

from tests.gates import Gate

from .support import SAMPLES, Server, Spawn, accepted_photo, make_jpeg, wait_final

pytestmark = pytest.mark.slow


def counter(server: Server, name: str) -> float:
    text = httpx.get(f"{server.url}/metrics").text
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, name
    return float(match[1])


def wait_counter(server: Server, name: str, value: float, timeout: float = 120) -> float:
    """Poll ``name`` until it reaches ``value``: a result is counted after it is recorded."""
    deadline = time.monotonic() + timeout
    while (seen := counter(server, name)) < value and time.monotonic() < deadline:
        time.sleep(0.05)
    return seen


async def post_all(server: Server, bodies: list[bytes]) -> list[httpx.Response]:
    """Every upload at once, each on its own connection."""
    headers = {"Authorization": f"Bearer {server.token}"}
    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(
        base_url=server.url, headers=headers, timeout=60, limits=limits
    ) as client:
        return list(await asyncio.gather(*(client.post("/photos", content=b) for b in bodies)))


def wait_idle(server: Server) -> None:
    """Until no render is queued or running: counters then move for this test's work only."""
    deadline = time.monotonic() + 180
    while True:
        health = httpx.get(f"{server.url}/healthz").json()
        if health["queued"] == 0 and health["in_flight"] == 0:
            return
        assert time.monotonic() < deadline, health
        time.sleep(0.05)


def test_concurrent_uploads_of_the_same_file_render_once(server: Server) -> None:
    body = (SAMPLES / "jolla.jpg").read_bytes() + b"same-file-test"
    wait_idle(server)
    rendered = counter(server, 'derivo_photos_total{outcome="rendered"}')
    duplicates = counter(server, 'derivo_uploads_total{result="duplicate"}')
    responses = asyncio.run(post_all(server, [body] * 12))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 11 + [202], codes
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    assert sum(r.json()["duplicate"] for r in responses) == 11
    photo = wait_final(server.client(), ids)[ids.pop()]
    assert photo["status"] == "done"
    name = 'derivo_photos_total{outcome="rendered"}'
    assert wait_counter(server, name, rendered + 1) == rendered + 1
    assert counter(server, 'derivo_uploads_total{result="duplicate"}') == duplicates + 11
    originals = [p for p in (server.data_dir / "originals").rglob("*") if p.is_file()]
    assert blake3.blake3(body).hexdigest() in {p.name for p in originals}


def test_100_parallel_uploads_all_complete(server: Server) -> None:
    bodies = [make_jpeg(320, 240, seed) for seed in range(1000, 1100)]
    responses = asyncio.run(post_all(server, bodies))
    photos = [accepted_photo(r) for r in responses]
    ids = {p["id"] for p in photos}
    assert len(ids) == 100
    final = wait_final(server.client(), ids, timeout=180)
    assert {p["status"] for p in final.values()} == {"done"}
    client = server.client()
    for photo in list(final.values())[:5]:
        thumb = photo["derivatives"]["thumbnail"]  # type: ignore[index]
        assert client.get(thumb["url"]).status_code == 200
    assert counter(server, "derivo_queue_depth") == 0


def test_full_queue_answers_503_and_keeps_the_photo(spawn: Spawn, tmp_path: Path) -> None:
    """Queue of one, one worker held: the third upload on is refused with 503, still rendered."""
    gate = Gate.make(tmp_path / "gate")
    server = spawn("--workers", "1", "--queue-size", "1", gate=gate)
    bodies = [make_jpeg(320, 240, seed) for seed in range(2000, 2010)]
    client = server.client()
    responses = [client.post("/photos", content=bodies[0])]
    gate.wait_for(1)  # the worker holds the first photo
    responses += [client.post("/photos", content=body) for body in bodies[1:]]
    assert [r.status_code for r in responses] == [202, 202] + [503] * 8
    full = responses[2:]
    for response in full:
        assert response.headers["retry-after"] == "2"
        assert response.json()["error"]["kind"] == "queue-full"
    photos = [accepted_photo(r) for r in responses]
    ids = {p["id"] for p in photos}
    assert len(ids) == len(bodies)

    retried = client.post("/photos", content=bodies[responses.index(full[0])])
    assert retried.status_code == 200
    assert retried.json()["duplicate"] is True
    assert retried.json()["id"] == full[0].json()["photo"]["id"]

    gate.open()
    final = wait_final(client, ids, timeout=180)
    assert {p["status"] for p in final.values()} == {"done"}
    assert counter(server, 'derivo_uploads_total{result="queue_full"}') == len(full)


def test_a_large_upload_streams_over_a_socket(server: Server) -> None:
    """A chunked body (no Content-Length) of several MB arrives whole, hashed as it streamed."""
    big = make_jpeg(3000, 2000, 9)
    assert len(big) > 4 * 1024 * 1024

    def chunks() -> object:
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    client = server.client()
    response = client.post("/photos", content=chunks())  # type: ignore[arg-type]
    assert response.status_code == 202, response.text
    source_hash = blake3.blake3(big).hexdigest()
    assert response.json()["hash"] == source_hash
    original = server.data_dir / "originals" / source_hash[:2] / source_hash
    assert original.read_bytes() == big
    photo_id = response.json()["id"]
    assert wait_final(client, [photo_id])[photo_id]["status"] == "done"
