"""Helpers of the service tests: real servers (``derivo serve --port 0``), photos, polling."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pyvips

from tests.gates import Gate

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
BADINPUT = REPO / "tests" / "data" / "badinput"
TOKEN = "test-token-6f1d2c9a8b7e"
LISTENING = re.compile(r"derivo: listening on (http://\S+?)/? ")
FINAL = ("done", "failed")

REAL_PHOTOS = [
    SAMPLES / "jolla.jpg",
    SAMPLES / "canon_hdr_NO.jpg",
    SAMPLES / "Reconyx_HC500_Hyperfire.jpg",
    SAMPLES / "IMG_5195.HEIC",
    *sorted((SAMPLES / "orientation").glob("*.jpg")),
]


@dataclass
class Server:
    """One ``derivo serve`` process (and its workers) listening on ``url``."""

    proc: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    log: Path
    token: str | None = TOKEN
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, token: str | None = None, **kwargs: object) -> httpx.Client:
        token = token if token is not None else self.token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)  # type: ignore[arg-type]
        self.clients.append(client)
        return client

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, as a service manager would; the whole group is killed if it lingers."""
        for client in self.clients:
            client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        # what may outlive a clean exit is multiprocessing's resource tracker, slow to notice
        self.kill()
        return self.proc.returncode

    def kill(self) -> None:
        """``kill -9`` the server and its workers at once."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        self._reap_group()

    def _reap_group(self) -> None:
        """Wait until no process of the group runs (zombies, left for init to reap, do not)."""
        deadline = time.monotonic() + 10
        while _running_in_group(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)


def _running_in_group(pgid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


#: The ``spawn`` fixture: start a server with extra ``derivo serve`` arguments.
Spawn = Callable[..., Server]


def start_server(
    data_dir: Path,
    *args: str,
    token: str | None = TOKEN,
    env: dict[str, str] | None = None,
    gate: Gate | None = None,
    timeout: float = 60,
) -> Server:
    """Start ``python -m derivo serve`` on a free port and wait until /healthz answers.

    With ``gate``, the server's renders wait at that :class:`~tests.gates.Gate`.
    """
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DERIVO_")}
    if token is not None:
        environ["DERIVO_TOKEN"] = token
    environ.update(env or {})
    command = ["derivo"]
    if gate is not None:
        command = ["tests.gated_cli", str(gate.folder)]
        environ["PYTHONPATH"] = str(REPO)
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir.parent / f"{data_dir.name}-server-{time.monotonic_ns()}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                *command,
                "serve",
                "--data-dir",
                str(data_dir),
                "--port",
                "0",
                *args,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environ,
            cwd=data_dir.parent,
            start_new_session=True,
        )
    server = Server(proc=proc, url="", data_dir=data_dir, log=log, token=token)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{server.output()}")
        match = LISTENING.search(server.output())
        if match:
            server.url = match[1]
            try:
                if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    return server
            except httpx.TransportError:
                pass
        time.sleep(0.05)
    server.kill()
    raise RuntimeError(f"server did not start in {timeout} s:\n{server.output()}")


def wait_final(
    client: httpx.Client, ids: Iterable[str], timeout: float = 120
) -> dict[str, dict[str, object]]:
    """Poll until every photo in ``ids`` is done or failed; returns their JSON by id."""
    wanted = set(ids)
    deadline = time.monotonic() + timeout
    seen: dict[str, dict[str, object]] = {}
    while True:
        seen.clear()
        after = None
        while True:
            params = {"limit": "1000", **({"after": after} if after else {})}
            page = client.get("/photos", params=params).json()
            seen.update({p["id"]: p for p in page["photos"] if p["id"] in wanted})
            after = page["next"]
            if not after:
                break
        if len(seen) == len(wanted) and all(p["status"] in FINAL for p in seen.values()):
            return dict(seen)
        if time.monotonic() > deadline:
            states = {i: seen.get(i, {}).get("status", "missing") for i in wanted}
            raise AssertionError(f"not final after {timeout} s: {states}")
        time.sleep(0.1)


def accepted_photo(response: httpx.Response) -> dict[str, object]:
    """The photo an upload answer carries: 202 new, 200 duplicate, 503 kept as pending.

    For bursts whose answers depend on how far the renders got (one of the three).
    """
    body = response.json()
    assert response.status_code in (200, 202, 503), (response.status_code, body)
    if response.status_code == 503:
        assert response.headers["retry-after"].isdigit()
        assert body["error"]["kind"] == "queue-full"
        assert body["photo"]["status"] == "pending"
        return dict(body["photo"])
    return dict(body)


def make_jpeg(width: int, height: int, seed: int) -> bytes:
    """A distinct, photo-like (noisy) JPEG: every seed gives other bytes."""
    noise = pyvips.Image.gaussnoise(width, height, sigma=40, mean=128, seed=seed)
    shade = pyvips.Image.xyz(width, height)[0] * (255 / width)
    image = (noise + shade * 0.5 + (seed % 64)).bandjoin([noise, shade]).cast("uchar")
    return bytes(image.jpegsave_buffer(Q=90))


def decode_size(path: Path | bytes) -> tuple[int, int]:
    """Fully decode an image (raises on a partial file) and return its size."""
    image = (
        pyvips.Image.new_from_buffer(path, "", fail_on="warning")
        if isinstance(path, bytes)
        else pyvips.Image.new_from_file(str(path), fail_on="warning")
    )
    image.avg()  # forces every pixel through the decoder
    return image.width, image.height
