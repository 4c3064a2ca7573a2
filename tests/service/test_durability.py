"""Nothing accepted is lost: kill -9 mid-ingest, restart, everything reaches done intact."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from derivo import DerivativeCache
from tests.gates import Gate

from .support import REAL_PHOTOS, Spawn, decode_size, make_jpeg, wait_final

pytestmark = pytest.mark.slow


async def upload_until_killed(
    url: str, token: str, bodies: list[bytes], kill_after: int, kill: object
) -> list[httpx.Response]:
    """Upload everything at once; after ``kill_after`` answers, ``kill()`` the server."""
    answered: list[httpx.Response] = []
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30, limits=limits) as c:

        async def one(body: bytes) -> None:
            try:
                response = await c.post("/photos", content=body)
            except httpx.TransportError:
                return  # the server died before answering: not accepted
            answered.append(response)
            if len(answered) == kill_after:
                kill()  # type: ignore[operator]

        await asyncio.gather(*(one(b) for b in bodies))
    return answered


def unfinished(data: Path, ids: set[str], status: str | None = None) -> set[str]:
    """Photos of ``ids`` the database does not have as done (or, given, has in ``status``)."""
    with DerivativeCache(data / "derivo.db") as cache:
        records = {i: cache.photo(i) for i in ids}
    assert all(records.values())
    return {
        i
        for i, r in records.items()
        if r and (r.status == status if status else r.status != "done")
    }


def test_kill_9_mid_ingest_then_restart_loses_nothing(spawn: Spawn, tmp_path: Path) -> None:
    data = tmp_path / "data"
    held = Gate.make(tmp_path / "gate")  # never opened: nothing renders before the kill
    server = spawn("--workers", "1", data_dir=data, gate=held)
    bodies = [p.read_bytes() for p in REAL_PHOTOS]
    bodies += [make_jpeg(640, 480, seed) for seed in range(3000, 3004)]
    answered = asyncio.run(
        upload_until_killed(server.url, server.token or "", bodies, len(bodies) // 2, server.kill)
    )
    assert server.proc.returncode == -9
    assert {r.status_code for r in answered} == {202}
    accepted = {r.json()["id"] for r in answered}
    assert len(accepted) >= len(bodies) // 2
    assert unfinished(data, accepted) == accepted

    restarted = spawn("--workers", "1", data_dir=data)
    assert not list(data.rglob("*.tmp")), "temp files of the killed server must be swept"
    client = restarted.client()
    final = wait_final(client, accepted, timeout=180)
    assert {p["status"] for p in final.values()} == {"done"}, final
    for photo in final.values():
        source_hash = str(photo["hash"])
        folder = data / "derivatives" / source_hash[:2] / source_hash
        files = sorted(folder.iterdir())
        assert [f.name.split("-")[0] for f in files] == ["preview", "thumbnail"]
        for path in files:
            recorded = photo["derivatives"][path.name.split("-")[0]]  # type: ignore[index]
            assert decode_size(path) == (recorded["width"], recorded["height"])
        served = client.get(photo["derivatives"]["thumbnail"]["url"])  # type: ignore[index]
        assert served.status_code == 200
        assert served.content == next(f for f in files if f.name.startswith("thumb")).read_bytes()
        original = data / "originals" / source_hash[:2] / source_hash
        assert original.is_file()
    assert not [p for p in data.rglob("*") if p.name.endswith(".tmp")]


def test_temp_files_are_swept_on_start(spawn: Spawn, tmp_path: Path) -> None:
    data = tmp_path / "data"
    leftovers = [
        data / "originals" / ".upload.abc123.tmp",
        data / "derivatives" / "ab" / ("ab" * 32) / ".thumbnail-0123.jpg.xyz.tmp",
    ]
    for path in leftovers:
        path.parent.mkdir(parents=True)
        path.write_bytes(b"half a file")
    keep = data / "originals" / "notes.tmp"
    keep.write_bytes(b"not ours")
    spawn(data_dir=data)
    assert not any(p.exists() for p in leftovers)
    assert keep.exists()


def test_generated_token_is_stored_0600_and_printed_once(spawn: Spawn, tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = spawn("--workers", "1", data_dir=data, token=None)
    token_file = data / "token"
    token = token_file.read_text().strip()
    assert len(token) >= 32
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token in first.output()
    jpeg = (REAL_PHOTOS[-1]).read_bytes()
    assert first.client(token=token).post("/photos", content=jpeg).status_code == 202
    assert first.client(token="x" * 40).post("/photos", content=jpeg).status_code == 401

    other = subprocess.run(
        [sys.executable, "-m", "derivo", "serve", "--data-dir", str(data), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        env={k: v for k, v in os.environ.items() if not k.startswith("DERIVO_")},
    )
    assert other.returncode == 2
    assert f"Error: {data} is in use by derivo serve (pid " in other.stderr
    first.stop()

    second = spawn("--workers", "1", data_dir=data, token=None)
    assert token not in second.output()
    assert token_file.read_text().strip() == token
    assert second.client(token=token).post("/photos", content=jpeg).status_code == 200


def test_sigterm_leaves_queued_photos_pending_for_the_next_start(
    spawn: Spawn, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    held = Gate.make(tmp_path / "gate")  # never opened: every photo is still queued or held
    server = spawn("--workers", "1", data_dir=data, gate=held)
    client = server.client()
    bodies = [make_jpeg(640, 480, seed) for seed in range(4000, 4005)]
    answers = [client.post("/photos", content=body) for body in bodies]
    assert [a.status_code for a in answers] == [202] * 5
    ids = {a.json()["id"] for a in answers}
    held.wait_for(1)
    assert server.stop() == -signal.SIGTERM  # uvicorn re-raises the signal once done
    assert "Application shutdown complete" in server.output()
    assert unfinished(data, ids, status="pending") == ids
    restarted = spawn("--workers", "1", data_dir=data)
    final = wait_final(restarted.client(), ids)
    assert {p["status"] for p in final.values()} == {"done"}


def test_a_photo_that_timed_out_is_retried_when_uploaded_again(
    spawn: Spawn, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    held = Gate.make(tmp_path / "gate")  # never opened: every attempt overruns its limit
    impatient = spawn("--workers", "1", "--timeout", "0.5", data_dir=data, gate=held)
    body = make_jpeg(640, 480, 5000)
    client = impatient.client()
    photo_id = client.post("/photos", content=body).json()["id"]
    failed = wait_final(client, [photo_id])[photo_id]
    assert failed["status"] == "failed"
    assert failed["error_kind"] == "timeout"
    assert failed["error"] == "render exceeded the 0.5 s time limit (3 attempts)"
    metrics = httpx.get(f"{impatient.url}/metrics").text
    assert "derivo_worker_restarts_total 3.0" in metrics
    impatient.stop()

    patient = spawn("--workers", "1", data_dir=data)
    client = patient.client()
    again = client.post("/photos", content=body)
    assert again.status_code == 200
    assert again.json()["id"] == photo_id
    assert again.json()["status"] == "pending"
    assert wait_final(client, [photo_id])[photo_id]["status"] == "done"


def test_a_running_server_refuses_derivo_runs_in_its_derivatives_folder(
    spawn: Spawn, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    server = spawn("--workers", "1", data_dir=data)
    jpeg = make_jpeg(64, 48, seed=3)
    photo_id = server.client().post("/photos", content=jpeg).json()["id"]
    assert wait_final(server.client(), [photo_id])[photo_id]["status"] == "done"
    derivatives = data / "derivatives"
    for command in (
        ["clean", "--db", str(data / "derivo.db")],
        ["process", str(REAL_PHOTOS[-1]), "--out", str(derivatives)],
        ["check", "--repair", "--db", str(data / "derivo.db")],
    ):
        refused = subprocess.run(
            [sys.executable, "-m", "derivo", *command], capture_output=True, text=True, timeout=120
        )
        assert refused.returncode == 2, (command, refused.stderr)
        assert f"Error: {derivatives} is in use by derivo serve (pid " in refused.stderr
    checked = subprocess.run(
        [sys.executable, "-m", "derivo", "check", "--db", str(data / "derivo.db")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 photos, 2 derivatives checked; 0 problem(s)" in checked.stdout
    server.stop()
