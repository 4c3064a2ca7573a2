"""Upload benchmark: 100 real-size photos over HTTP into ``derivo serve`` vs ``derivo process``.

Figures:

- ingest: time from the first upload to the last photo done (from the server's own
  ``updated_at`` in SQLite, and as the client saw it by polling), uploads ``--concurrency``
  at a time, against ``derivo process`` on the same files with the same worker count
  (and, for context, on every core);
- latency of ``GET /photos/{id}/thumbnail`` for an already-rendered photo: idle, and
  while the ingest runs (a separate process, one request every ``--probe-interval``);
- the CPU each side used meanwhile: the load generator (uploader and probe) and the
  server (its own process, and its render workers), so a slow answer can be told
  apart from a starved client.

``--server-path DIR`` runs the server from another checkout (put first on its
``PYTHONPATH``), so two versions can be measured side by side, alternating runs.

Run from the repository root::

    python -m bench.upload                 # 100 photos (bench/.corpus/100-1), ~2 minutes
    python -m bench.upload --n 10          # smoke run
    python -m bench.upload --json a1.json ...; python -m bench.upload --pool a1.json a2.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench import corpus as corpus_mod

REPO = Path(__file__).resolve().parent.parent
TOKEN = "bench-upload-token-0123456789"
PROBE_PHOTO = REPO / "samples" / "jolla.jpg"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    cores = len(os.sched_getaffinity(0))
    parser = argparse.ArgumentParser(
        prog="python -m bench.upload", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--n", type=int, default=100, help="photos (default 100)")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    parser.add_argument("--concurrency", type=int, default=8, help="uploads at once (default 8)")
    parser.add_argument(
        "--workers",
        type=int,
        default=max(1, cores - 1),
        help=f"render workers for both serve and process (default: serve's, {max(1, cores - 1)})",
    )
    parser.add_argument(
        "--probe-interval", type=float, default=0.02, help="seconds between probe GETs (0.02)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--server-path", type=Path, help="run the server from this checkout (PYTHONPATH)"
    )
    parser.add_argument(
        "--no-process", action="store_true", help="skip the derivo process comparison"
    )
    parser.add_argument(
        "--pool",
        nargs="+",
        type=Path,
        metavar="JSON",
        help="run nothing: print the GET latencies of these --json results pooled together",
    )
    return parser.parse_args(argv)


# The probe runs in its own process so the uploader's work does not skew its clock.


def schedstat(path: str = "/proc/thread-self/schedstat") -> tuple[float, float, int]:
    """Seconds a thread ran, seconds it waited runnable for a CPU, and its time slices
    (Linux ``schedstat``); zeros where the system does not say."""
    try:
        ran, waited, slices = Path(path).read_text().split()[:3]
    except (OSError, ValueError):
        return 0.0, 0.0, 0
    return int(ran) / 1e9, int(waited) / 1e9, int(slices)


def since(before: tuple[float, float, int], after: tuple[float, float, int]) -> dict[str, float]:
    ran, waited, slices = (b - a for a, b in zip(before, after, strict=True))
    return {
        "ran_seconds": ran,
        "waited_seconds": waited,
        "slices": slices,
        "wait_per_slice_ms": waited / slices * 1000 if slices else math.nan,
    }


def _probe(url: str, interval: float, stop: Any, ready: Any, results: Any, limit: int) -> None:
    latencies: list[tuple[float, float]] = []  # (wall clock at start, seconds)
    cpu = time.process_time()
    sched = schedstat()
    with httpx.Client(timeout=30) as client:
        while not stop.is_set() and len(latencies) < limit:
            wall, started = time.time(), time.perf_counter()
            response = client.get(url)
            latencies.append((wall, time.perf_counter() - started))
            if response.status_code != 200 or not response.content:
                raise RuntimeError(f"probe got {response.status_code}")
            ready.set()
            time.sleep(interval)
    results.put((latencies, time.process_time() - cpu, since(sched, schedstat())))


class Probe:
    """GET one URL again and again in a child process until stopped."""

    def __init__(self, url: str, interval: float, limit: int = 20_000) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._stop = ctx.Event()
        self._ready = ctx.Event()
        self._results = ctx.Queue()
        self._process = ctx.Process(
            target=_probe,
            args=(url, interval, self._stop, self._ready, self._results, limit),
            daemon=True,
        )

    def __enter__(self) -> Probe:
        """Starts the probe, and returns once its first request has been answered."""
        self._process.start()
        if not self._ready.wait(60):
            raise RuntimeError("the probe did not get an answer in 60 s")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._process.join(30)

    cpu_seconds = 0.0
    sched: dict[str, float] = {}  # noqa: RUF012

    def latencies(self) -> list[tuple[float, float]]:
        """(wall clock at start, seconds) of every request; ``cpu_seconds`` and ``sched``
        (how long its thread ran and waited for a CPU) are then set."""
        self._stop.set()
        found: list[tuple[float, float]]
        found, self.cpu_seconds, self.sched = self._results.get(timeout=30)
        self._process.join(30)
        return found


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) of a process, and of its children, so far."""
    proc = psutil.Process(pid)
    own = sum(proc.cpu_times()[:2])
    children = 0.0
    for child in proc.children(recursive=True):
        try:
            children += sum(child.cpu_times()[:2])
        except psutil.NoSuchProcess:
            pass
    return own, children


def percentiles(latencies: list[tuple[float, float]]) -> dict[str, float]:
    ms = sorted(seconds * 1000 for _, seconds in latencies)
    if len(ms) < 2:
        return {
            "n": len(ms),
            "p50_ms": math.nan,
            "p99_ms": math.nan,
            "max_ms": max(ms, default=math.nan),
        }
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {"n": len(ms), "p50_ms": cuts[49], "p99_ms": cuts[98], "max_ms": ms[-1]}


# The server


def start_server(
    data: Path, workers: int, server_path: Path | None = None
) -> tuple[subprocess.Popen[bytes], str, Path]:
    env = {**os.environ, "DERIVO_TOKEN": TOKEN}
    if server_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(server_path.resolve()), os.environ.get("PYTHONPATH")) if p
        )
    data.mkdir(parents=True, exist_ok=True)
    log = data.parent / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "derivo", "serve", "--data-dir", str(data), "--port", "0",
             "--workers", str(workers)],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        match = re.search(r"derivo: listening on (http://\S+?)/? ", log.read_text())
        if match:
            try:
                if httpx.get(match[1] + "/healthz", timeout=2).status_code == 200:
                    return proc, match[1], log
            except httpx.TransportError:
                pass
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"derivo serve did not start:\n{log.read_text()}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


async def wait_done(client: httpx.AsyncClient, ids: set[str], poll: float = 0.1) -> float:
    """Poll until every photo in ``ids`` is done; returns the perf_counter when seen.

    One small request per poll: the library's counts per status (a page of one
    photo), so the waiting client costs the server little, as the gallery's poll
    does; listing every open photo at 20 requests a second was most of the load on
    the server while it rendered. The library holds only the bench's photos.
    """
    while True:
        page = (await client.get("/photos", params={"limit": 1})).json()
        counts = page["counts"]
        if counts.get("failed"):
            failed = await client.get("/photos", params={"status": "failed", "limit": 1000})
            raise RuntimeError(f"failed: {[p['error'] for p in failed.json()['photos']]}")
        if (
            counts.get("done", 0) >= len(ids)
            and not counts.get("pending")
            and not counts.get("processing")
        ):
            return time.perf_counter()
        await asyncio.sleep(poll)


async def wait_for(url: str, ids: set[str]) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        await wait_done(client, ids)


async def ingest(url: str, paths: list[Path], concurrency: int) -> dict[str, Any]:
    """Upload every path, ``concurrency`` at a time; wait until all are done."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    gate = asyncio.Semaphore(concurrency)
    ids: set[str] = set()
    codes: dict[int, int] = {}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as client:

        async def one(path: Path) -> None:
            async with gate:
                body = await asyncio.to_thread(path.read_bytes)
                response = await client.post("/photos", content=body)
            codes[response.status_code] = codes.get(response.status_code, 0) + 1
            data = response.json()
            if response.status_code == 503:
                ids.add(data["photo"]["id"])  # kept as pending: it will be rendered
            elif response.status_code in (200, 202):
                ids.add(data["id"])
            else:
                raise RuntimeError(f"{path.name}: {response.status_code} {data}")

        started_wall, started = time.time(), time.perf_counter()
        cpu = time.process_time()
        await asyncio.gather(*(one(p) for p in paths))
        uploaded, uploaded_wall = time.perf_counter(), time.time()
        upload_cpu = time.process_time() - cpu
        seen_done = await wait_done(client, ids)
    return {
        "uploader_cpu_seconds": upload_cpu,
        "ids": ids,
        "codes": codes,
        "started_wall": started_wall,
        "uploaded_wall": uploaded_wall,
        "upload_seconds": uploaded - started,
        "client_seconds": seen_done - started,
    }


def last_done_wall(db: Path, ids: set[str]) -> float:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT id, status, updated_at FROM photos").fetchall()
    done = [u for i, s, u in rows if i in ids and s == "done"]
    assert len(done) == len(ids), "not every photo is done"
    return max(done)


def run_process(paths: list[Path], workers: int | None, work: Path) -> float:
    """``derivo process`` on a copy-free folder of links to the same files; its own wall time."""
    photos = work / "photos"
    photos.mkdir(parents=True)
    for path in paths:
        (photos / path.name).symlink_to(path)
    out = work / "out"
    args = ["--workers", str(workers)] if workers else []
    command = [sys.executable, "-m", "derivo", "process", str(photos), "--out", str(out)]
    done = subprocess.run([*command, "--json", *args], capture_output=True, text=True, check=True)
    return float(json.loads(done.stdout)["wall_seconds"])


PHASES = (
    ("get_idle", "idle"),
    ("get_during_ingest", "during ingest"),
    ("get_while_uploading", "  while uploads stream in"),
    ("get_while_rendering", "  after, while rendering"),
)


def pooled(files: list[Path]) -> str:
    """GET latencies of several runs' ``--json`` results, pooled (a run's upload burst
    holds a few dozen probes: one run's p99 is nearly its maximum)."""
    runs = [json.loads(path.read_text()) for path in files]
    lines = [f"{len(runs)} runs pooled: {', '.join(str(p) for p in files)}"]
    for key, label in PHASES:
        samples = [(0.0, ms / 1000) for r in runs for ms in r["samples_ms"][key]]
        g = percentiles(samples)
        lines.append(
            f"  GET thumbnail, {label}: p50 {g['p50_ms']:.1f} ms, p99 {g['p99_ms']:.1f} ms,"
            f" max {g['max_ms']:.1f} ms ({g['n']} requests)"
        )
    cpu = ("uploader_cpu_seconds", "probe_cpu_seconds", "server_cpu_seconds", "workers_cpu_seconds")
    lines.append("  CPU seconds, median of runs: " + ", ".join(
        f"{key.removesuffix('_cpu_seconds')} {statistics.median(r[key] for r in runs):.2f}"
        for key in cpu
    ))  # fmt: skip
    for key, who in (("event_loop_sched", "server's event loop"), ("probe_sched", "probe")):
        if all(key in r for r in runs):
            waits = [r[key]["wait_per_slice_ms"] for r in runs]
            share = [r[key]["waited_seconds"] / max(r[key]["ran_seconds"], 1e-9) for r in runs]
            lines.append(
                f"  {who}, median of runs: waited {statistics.median(waits):.2f} ms for a CPU"
                f" per time slice; waited/ran {statistics.median(share):.2f}"
            )
    loads = [r["load_average"][0] for r in runs if "load_average" in r]
    if loads:
        lines.append(
            f"  load average (1 min) after each run: {' '.join(f'{x:.1f}' for x in loads)}"
        )
    return "\n".join(lines)


def report(r: dict[str, Any]) -> str:
    lines = [
        f"{r['photos']} photos ({r['megabytes']} MB), {r['cores']} cores, "
        f"{r['workers']} worker(s), {r['concurrency']} uploads at a time",
        f"  derivo serve, first upload to last derivative ready: {r['serve_seconds']:.2f} s"
        f" (client saw {r['serve_client_seconds']:.2f} s; uploads took"
        f" {r['upload_seconds']:.2f} s; answers {r['upload_codes']})",
        f"  CPU during the ingest: uploader {r['uploader_cpu_seconds']:.2f} s (while"
        f" uploading), probe {r['probe_cpu_seconds']:.2f} s, server"
        f" {r['server_cpu_seconds']:.2f} s, its workers {r['workers_cpu_seconds']:.2f} s",
    ]
    for key, who in (("event_loop_sched", "server's event loop"), ("probe_sched", "probe")):
        if key in r:
            s = r[key]
            lines.append(
                f"  {who}: ran {s['ran_seconds']:.2f} s, waited for a CPU"
                f" {s['waited_seconds']:.2f} s ({s['wait_per_slice_ms']:.2f} ms a time slice,"
                f" {s['slices']:.0f} slices)"
            )
    if "load_average" in r:
        lines.append("  load average after: " + " ".join(f"{x:.2f}" for x in r["load_average"]))
    if "process_seconds" in r:
        lines += [
            f"  derivo process --workers {r['workers']}: {r['process_seconds']:.2f} s"
            f" (serve / process = {r['serve_seconds'] / r['process_seconds']:.2f})",
            f"  derivo process on all {r['cores']} cores: {r['process_all_cores_seconds']:.2f} s",
        ]
    for key, label in PHASES:
        g = r[key]
        lines.append(
            f"  GET thumbnail, {label}: p50 {g['p50_ms']:.1f} ms, p99 {g['p99_ms']:.1f} ms,"
            f" max {g['max_ms']:.1f} ms ({g['n']} requests)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.pool:
        print(pooled(args.pool))
        return 0
    corpus = corpus_mod.ensure(args.n, args.seed)
    paths = corpus.paths
    print(corpus_mod.describe(corpus))
    cores = len(os.sched_getaffinity(0))
    results: dict[str, Any] = {
        "photos": len(paths),
        "megabytes": round(corpus.total_bytes / 1e6),
        "cores": cores,
        "workers": args.workers,
        "concurrency": args.concurrency,
    }
    with tempfile.TemporaryDirectory(prefix="derivo-bench-upload-") as tmp:
        work = Path(tmp)
        corpus_mod.warm(corpus)
        proc, url, _log = start_server(work / "serve" / "data", args.workers, args.server_path)
        try:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
                probe_photo = c.post("/photos", content=PROBE_PHOTO.read_bytes()).json()
                asyncio.run(wait_for(url, {probe_photo["id"]}))
            probe_url = url + probe_photo["derivatives"]["thumbnail"]["url"]
            with Probe(probe_url, args.probe_interval) as idle:
                time.sleep(3)
                idle_latencies = idle.latencies()
                results["get_idle"] = percentiles(idle_latencies)
            corpus_mod.warm(corpus)
            loop_thread = f"/proc/{proc.pid}/task/{proc.pid}/schedstat"
            with Probe(probe_url, args.probe_interval) as busy:
                server_cpu = cpu_seconds(proc.pid)
                loop_sched = schedstat(loop_thread)
                run = asyncio.run(ingest(url, paths, args.concurrency))
                server_after = cpu_seconds(proc.pid)
                results["event_loop_sched"] = since(loop_sched, schedstat(loop_thread))
                during = busy.latencies()
            results["probe_sched"] = busy.sched
            results["load_average"] = os.getloadavg()
            results["probe_cpu_seconds"] = busy.cpu_seconds
            results["uploader_cpu_seconds"] = run["uploader_cpu_seconds"]
            results["server_cpu_seconds"] = server_after[0] - server_cpu[0]
            results["workers_cpu_seconds"] = server_after[1] - server_cpu[1]
            results["get_during_ingest"] = percentiles(during)
            split = run["uploaded_wall"]
            results["get_while_uploading"] = percentiles([x for x in during if x[0] < split])
            results["get_while_rendering"] = percentiles([x for x in during if x[0] >= split])
            results["samples_ms"] = {
                "get_idle": [s * 1000 for _, s in idle_latencies],
                "get_during_ingest": [s * 1000 for _, s in during],
                "get_while_uploading": [s * 1000 for t, s in during if t < split],
                "get_while_rendering": [s * 1000 for t, s in during if t >= split],
            }
            db = work / "serve" / "data" / "derivo.db"
            results["serve_seconds"] = last_done_wall(db, run["ids"]) - run["started_wall"]
            results["serve_client_seconds"] = run["client_seconds"]
            results["upload_seconds"] = run["upload_seconds"]
            results["upload_codes"] = run["codes"]
        finally:
            stop_server(proc)
        if not args.no_process:
            corpus_mod.warm(corpus)
            results["process_seconds"] = run_process(paths, args.workers, work / "process-same")
            corpus_mod.warm(corpus)
            results["process_all_cores_seconds"] = run_process(paths, None, work / "process-all")
        shutil.rmtree(work / "serve", ignore_errors=True)

    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
