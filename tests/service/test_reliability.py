"""A full disk, then space again: uploads refused cleanly, nothing stranded, all rendered.

The data directory, its originals and its derivatives each sit on a small tmpfs
of their own, so a test fills exactly the one it means to (a real ENOSPC from the
kernel), and frees it again, while one real server keeps running.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.smallfs import SmallFs, fill, free

from .support import SAMPLES, Spawn, decode_size, make_jpeg, wait_final

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]  # real servers, processes or a browser

PHOTO = SAMPLES / "jolla.jpg"


@pytest.fixture
def data(tmp_path: Path) -> Iterator[Path]:
    """A data directory whose database, originals and derivatives are three small tmpfs."""
    mounts = SmallFs()
    data = tmp_path / "data"
    try:
        for folder in (data, data / "originals", data / "derivatives"):
            mounts.mount(folder)
        yield data
    finally:
        mounts.unmount_all()


def on_disk(folder: Path) -> list[str]:
    """Every file under ``folder`` but the filler, relative to it."""
    return sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != "filler"
    )


def assert_storage_full(response: httpx.Response) -> None:
    assert response.status_code == 507, (response.status_code, response.text)
    assert response.headers["retry-after"].isdigit()
    error = response.json()["error"]
    assert error["kind"] == "storage-full"
    assert "\n" not in error["message"] and "space" in error["message"]


def wait_until(condition: object, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout} s: {what}")
        time.sleep(0.1)


def statuses(client: httpx.Client) -> dict[str, str]:
    return {p["id"]: p["status"] for p in client.get("/photos?limit=1000").json()["photos"]}


def test_upload_onto_full_originals_is_507_and_leaves_nothing(spawn: Spawn, data: Path) -> None:
    server = spawn("--workers", "1", data_dir=data)
    client = server.client()
    fill(data / "originals")
    for headers, body in (
        ({}, {"content": PHOTO.read_bytes()}),
        ({}, {"files": {"file": ("a.jpg", PHOTO.read_bytes(), "image/jpeg")}}),
    ):
        assert_storage_full(client.post("/photos", headers=headers, **body))  # type: ignore[arg-type]
    assert on_disk(data / "originals") == []
    assert statuses(client) == {}

    free(data / "originals")
    accepted = client.post("/photos", content=PHOTO.read_bytes())
    assert accepted.status_code == 202
    assert wait_final(client, [accepted.json()["id"]])[accepted.json()["id"]]["status"] == "done"
    assert "Traceback" not in server.output()


def test_upload_onto_full_database_is_507_and_orphans_no_original(spawn: Spawn, data: Path) -> None:
    server = spawn("--workers", "1", data_dir=data)
    client = server.client()
    fill(data)
    assert_storage_full(client.post("/photos", content=PHOTO.read_bytes()))
    assert on_disk(data / "originals") == []

    free(data)
    assert statuses(client) == {}
    accepted = client.post("/photos", content=PHOTO.read_bytes())
    assert accepted.status_code == 202
    assert wait_final(client, [accepted.json()["id"]])[accepted.json()["id"]]["status"] == "done"
    assert "Traceback" not in server.output()


def test_renders_on_a_full_disk_wait_and_finish_when_space_returns(
    spawn: Spawn, data: Path
) -> None:
    """Derivatives cannot be written, then neither can the database: no photo is failed
    or left processing with nothing rendering it, and all render once space is back."""
    server = spawn("--workers", "1", data_dir=data)
    client = server.client()
    fill(data / "derivatives")
    ids = []
    for seed in range(3):
        answer = client.post("/photos", content=make_jpeg(640, 480, seed))
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
    fill(data)  # now the results cannot even be recorded

    free(data)

    def settled_without_strands() -> bool:
        health = client.get("/healthz").json()
        found = statuses(client)
        assert "failed" not in found.values(), found  # a full disk is not the photo's fault
        return health["queued"] == health["in_flight"] == 0 and set(found.values()) == {"pending"}

    wait_until(settled_without_strands, "every photo pending again, nothing rendering")

    free(data / "derivatives")
    final = wait_final(client, ids, timeout=90)
    assert {p["status"] for p in final.values()} == {"done"}
    for photo_id in ids:
        thumbnail = client.get(f"/photos/{photo_id}/thumbnail")
        assert thumbnail.status_code == 200
        assert decode_size(thumbnail.content)[0] == 200
    assert "Traceback" not in server.output()


def test_a_derivative_cut_short_is_never_served(spawn: Spawn, tmp_path: Path) -> None:
    data = tmp_path / "plain"
    server = spawn("--workers", "1", data_dir=data)
    client = server.client()
    photo = client.post("/photos", content=PHOTO.read_bytes()).json()
    wait_final(client, [photo["id"]])
    url = photo["derivatives"]["thumbnail"]["url"]
    assert client.get(url).status_code == 200
    (path,) = (data / "derivatives").rglob("thumbnail-*")
    path.write_bytes(path.read_bytes()[:100])

    answer = client.get(url)
    assert answer.status_code == 202, (answer.status_code, len(answer.content))
    assert answer.headers["cache-control"] == "no-store"

    def served_whole() -> bool:
        again = client.get(url)
        return again.status_code == 200 and decode_size(again.content)[0] == 200

    wait_until(served_whole, "the thumbnail rendered again and served whole")


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host.strip("[]"), int(port)), timeout=60)
    return sock


def _read_answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or 60 s pass)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_an_upload_that_stalls_is_dropped_with_408(spawn: Spawn, tmp_path: Path) -> None:
    data = tmp_path / "plain"
    server = spawn("--workers", "1", "--idle-timeout", "1", data_dir=data)
    body = PHOTO.read_bytes()
    with _connect(server.url) as sock:
        sock.sendall(
            b"POST /photos HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {server.token}\r\n".encode()
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:1000]
        )
        answer = _read_answer(sock)  # the server answers and closes; the client sent no more
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"connection: close" in head.lower()
    assert json.loads(payload)["error"]["kind"] == "upload-stalled"
    assert on_disk(data / "originals") == []
    assert server.client().get("/healthz").status_code == 200


def test_connections_over_the_cap_are_answered_503_at_once(spawn: Spawn, tmp_path: Path) -> None:
    server = spawn("--workers", "1", "--connections", "3", data_dir=tmp_path / "plain")
    held = []
    try:
        for _ in range(3):
            sock = _connect(server.url)
            held.append(sock)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")  # the server has it now
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # ...and never finishes
        refused = httpx.get(f"{server.url}/healthz", timeout=60)
        assert refused.status_code == 503
    finally:
        for sock in held:
            sock.close()

    def served() -> bool:
        return httpx.get(f"{server.url}/healthz", timeout=60).status_code == 200

    wait_until(served, "the server answers again once the held connections close")
