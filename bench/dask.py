"""``python -m bench.dask``: Dask executor against the local pool; the coordinator's ceiling.

1. Same machine, the bench corpus (100 camera-size JPEGs by default):
   ``derivo process --workers N`` against ``derivo process --scheduler`` on a local
   Dask cluster (``dask scheduler`` and ``dask worker --nworkers N --nthreads 1``
   processes, N = cores), run alternately (A B A B ...), medians and their ratio.
   The cluster is started once, before the runs, as a long-lived cluster would be;
   the pool's start-up is part of its runs.
2. The coordinator's ceiling: a render that does nothing, 10,000 tiny distinct
   photos, the whole pipeline (discover, hash, SQLite, submit, record) feeding the
   local pool and the Dask cluster, and Dask's own per-task cost (submit and
   collect no-op tasks, no pipeline). Photos per second, median of the runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import corpus as corpus_mod

REPO = Path(__file__).resolve().parent.parent


@dataclass
class LocalCluster:
    address: str
    scheduler: int  # process ids
    workers: int  # the ``dask worker`` process: the nannies, the workers its children

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of the scheduler, the nannies and the workers."""
        import psutil

        seconds = dict.fromkeys(("scheduler", "nannies", "workers"), 0.0)
        for name, pid in (("scheduler", self.scheduler), ("nannies", self.workers)):
            try:
                root = psutil.Process(pid)
                processes = [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
            for process in processes:
                try:
                    times = process.cpu_times()
                    spawned = "spawn_main" in " ".join(process.cmdline())
                except psutil.Error:
                    continue
                seconds["workers" if spawned else name] += times.user + times.system
        return seconds


#: Dask settings for a render cluster, as the docs recommend (docs/scale-out.md): no 20 ms
#: event-loop tick in every process, no statistical profiler sampling each render.
RENDER_CLUSTER_CONFIG = {
    "DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL": "1s",
    "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
}


#: Workers run below the coordinator and the scheduler, as docs/scale-out.md starts them
#: and as the local pool runs its own.
WORKER_NICE = 10


@contextlib.contextmanager
def local_cluster(
    workers: int, logs: Path, *, stock: bool = False, nice: int = WORKER_NICE
) -> Iterator[LocalCluster]:
    """A scheduler and ``workers`` single-threaded workers at ``nice``, each its own
    process, as on a real cluster (the scheduler does not share this process's
    interpreter); with the recommended settings, or Dask's own with ``stock``."""
    from distributed import Client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).parent / "dask")
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # the no-op render lives in bench/
    if not stock:
        env |= RENDER_CLUSTER_CONFIG
    commands = [
        [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port)],
        ["nice", "-n", str(nice), dask, "worker", address, "--nworkers", str(workers)]
        + ["--nthreads", "1"],
    ]
    processes = []
    try:
        for name, argv in zip(("scheduler", "workers"), commands, strict=True):
            with open(logs / f"{name}.log", "wb") as log:
                processes.append(
                    subprocess.Popen(
                        [*argv, "--no-dashboard"],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        with Client(address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=120)
        yield LocalCluster(address, processes[0].pid, processes[1].pid)
    finally:
        for process in reversed(processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def noop_render(task: Any) -> Any:
    """Render nothing, but answer as a render would: the coordinator's work stays the same.

    The photo's folder is made, as a render makes it: the pool's coordinator syncs it.
    """
    from derivo.tasks import Derivative, RenderResult, derivative_path, source_folder

    source_folder(Path(task.out_dir), task.source_hash).mkdir(parents=True, exist_ok=True)

    made = tuple(
        Derivative(
            spec=spec.name,
            path=str(derivative_path(Path(task.out_dir), task.source_hash, spec)),
            width=spec.width,
            height=spec.height,
            bytes=0,
            format=spec.format,
        )
        for spec in task.specs
    )
    return RenderResult(width=1, height=1, derivatives=made, seconds=0.0)


def derivo_process(args: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "derivo", "process", *args, "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"derivo process failed: {done.stderr.strip()}")
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


def compare(
    photos: Path, cluster: LocalCluster, cores: int, runs: int, work: Path
) -> dict[str, Any]:
    """Alternate pool and Dask runs over ``photos``: wall seconds of each, and CPU
    milliseconds per photo of each part (the cluster's in the pool's runs too: it idles
    there, as a long-lived cluster would)."""
    walls: dict[str, list[float]] = {"pool": [], "dask": []}
    cpu: dict[str, list[dict[str, float]]] = {"pool": [], "dask": []}
    for i in range(runs):
        for name, extra in (
            ("pool", ["--workers", str(cores)]),
            ("dask", ["--scheduler", cluster.address]),
        ):
            out = work / f"{name}-{i}"
            before = cluster.cpu()
            started = time.perf_counter()
            summary = derivo_process([str(photos), "--out", str(out), *extra])
            walls[name].append(time.perf_counter() - started)
            after = cluster.cpu()
            if summary["rendered"] != summary["photos"]:
                raise SystemExit(f"{name}: {summary['rendered']} of {summary['photos']} rendered")
            # derivo process with its reaped children: for the pool, its workers too
            parts = {"derivo_process": summary["cpu_seconds"]}
            parts |= {k: after[k] - before[k] for k in after}
            cpu[name].append({k: 1000 * v / summary["photos"] for k, v in parts.items()})
            shutil.rmtree(out)
            print(
                f"  {name} run {i + 1}: {walls[name][-1]:.2f} s, CPU ms per photo: "
                + ", ".join(f"{k} {v:.1f}" for k, v in cpu[name][-1].items()),
                flush=True,
            )
    pool, dask = statistics.median(walls["pool"]), statistics.median(walls["dask"])
    ratios = [d / p for p, d in zip(walls["pool"], walls["dask"], strict=True)]
    cpu_ms = {
        name: {k: statistics.median(run[k] for run in runs_) for k in runs_[0]}
        for name, runs_ in cpu.items()
    }
    return {
        "pool_s": walls["pool"],
        "dask_s": walls["dask"],
        "pool_median_s": pool,
        "dask_median_s": dask,
        "ratio": dask / pool,
        "ratio_per_pair_median": statistics.median(ratios),
        "cpu_ms_per_photo": cpu_ms,
        "render_core_s_per_photo": cpu_ms["pool"]["derivo_process"] / 1000,
        # steadier than the wall ratio on a shared machine: other jobs take cores, not CPU
        "cpu_ratio": sum(cpu_ms["dask"].values()) / sum(cpu_ms["pool"].values()),
    }


def tiny_library(folder: Path, n: int) -> Path:
    """``n`` distinct tiny JPEGs: one small real JPEG, each copy a byte longer."""
    import pyvips

    folder.mkdir(parents=True, exist_ok=True)
    base = bytes(pyvips.Image.black(8, 8).jpegsave_buffer())
    for i in range(n):
        (folder / f"{i:05d}.jpg").write_bytes(base + i.to_bytes(4, "big"))
    return folder


def feed(executor: Any, photos: Path, out: Path) -> tuple[float, float]:
    """Photos per wall second, and per CPU second of this process (the coordinator),
    through the whole pipeline with a no-op render."""
    from derivo import DerivativeCache, Pipeline
    from derivo.discover import find_photos

    if out.exists():
        shutil.rmtree(out)
    started, cpu = time.perf_counter(), time.process_time()
    with (
        DerivativeCache(out / "derivo.db", root=out) as cache,
        Pipeline(cache=cache, executor=executor, out_dir=out) as pipeline,
    ):
        found = [(item.photo_id, item.path) for item in find_photos([photos])]
        results = list(pipeline.run(found))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    if sum(r.outcome == "rendered" for r in results) != len(found):
        raise SystemExit("the no-op pipeline did not settle every photo as rendered")
    return len(found) / wall, len(found) / cpu


def dask_only(executor: Any, n: int, out: Path) -> float:
    """No-op tasks per second through the Dask executor alone (no hashing, no SQLite)."""
    from derivo.specs import DEFAULT_SPECS
    from derivo.tasks import RenderTask

    started = time.perf_counter()
    futures = [
        executor.submit(
            RenderTask(source="-", source_hash=f"{i:064x}", specs=DEFAULT_SPECS, out_dir=str(out))
        )
        for i in range(n)
    ]
    for future in futures:
        future.result()
    return n / (time.perf_counter() - started)


#: Times each step of a coordinator's start on a cluster, in a fresh process.
_START = """
import json, sys, time
from pathlib import Path
t0 = time.perf_counter()
import derivo.cli
t1 = time.perf_counter()
import distributed
t2 = time.perf_counter()
from derivo import DaskExecutor
executor = DaskExecutor(sys.argv[1])
t3 = time.perf_counter()
executor.check(out_dir=Path(sys.argv[2]))
t4 = time.perf_counter()
executor.close()
steps = ("import_derivo", "import_distributed", "connect", "check")
print(json.dumps(dict(zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)))))
"""


def starts(address: str, work: Path, n: int) -> dict[str, float]:
    """Median seconds of each step before a coordinator can send its first render to a
    cluster: what ``derivo process --scheduler`` spends beyond the local pool's start."""
    out = work / "start-out"
    runs = []
    for _ in range(n):
        done = subprocess.run(
            [sys.executable, "-c", _START, address, str(out)],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(done.stdout))
    medians = {k: statistics.median(run[k] for run in runs) for k in runs[0]}
    print(
        f"coordinator start, median of {n} fresh processes: "
        + ", ".join(f"{k.replace('_', ' ')} {1000 * v:.0f} ms" for k, v in medians.items()),
        flush=True,
    )
    return medians


def ceiling(address: str, cores: int, n: int, runs: int, work: Path) -> dict[str, Any]:
    from derivo import DaskExecutor, WorkerPool

    photos = tiny_library(work / "tiny", n)
    out = work / "tiny-out"
    rates: dict[str, list[float]] = {
        "pool": [],
        "pool_per_cpu_s": [],
        "dask": [],
        "dask_per_cpu_s": [],
        "dask_executor_only": [],
    }
    for i in range(runs):
        with WorkerPool(cores, func=noop_render, initializer=None) as pool:
            wall, cpu = feed(pool, photos, out)
            rates["pool"].append(wall)
            rates["pool_per_cpu_s"].append(cpu)
        with DaskExecutor(address, func=noop_render) as dask:
            dask.check(out_dir=out)
            wall, cpu = feed(dask, photos, out)
            rates["dask"].append(wall)
            rates["dask_per_cpu_s"].append(cpu)
            rates["dask_executor_only"].append(dask_only(dask, n, out))
        print(
            "  run {}: pool {:.0f}/s ({:.0f} per CPU s), dask {:.0f}/s ({:.0f} per CPU s), "
            "dask executor only {:.0f}/s".format(
                i + 1,
                rates["pool"][-1],
                rates["pool_per_cpu_s"][-1],
                rates["dask"][-1],
                rates["dask_per_cpu_s"][-1],
                rates["dask_executor_only"][-1],
            ),
            flush=True,
        )
    medians = {f"{k}_photos": statistics.median(v) for k, v in rates.items()}
    return medians | {"runs": rates}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dask", description=__doc__)
    parser.add_argument("--n", type=int, default=100, help="photos in the corpus (default 100)")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each side (default 3)")
    parser.add_argument(
        "--feed", type=int, default=10_000, help="photos for the ceiling (default 10000)"
    )
    parser.add_argument("--skip-corpus", action="store_true", help="only measure the ceiling")
    parser.add_argument(
        "--skip-ceiling", action="store_true", help="only compare renders of the corpus"
    )
    parser.add_argument(
        "--stock-config",
        action="store_true",
        help="start the cluster with Dask's default settings, not the recommended ones",
    )
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=WORKER_NICE,
        help=f"niceness of the Dask workers (default {WORKER_NICE}, as the docs and the pool)",
    )
    parser.add_argument(
        "--starts", type=int, default=5, help="fresh client starts to time (default 5)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    from derivo.executors import available_cores

    cores = available_cores()
    results: dict[str, Any] = {"cores": cores, "feed_photos": args.feed}
    with tempfile.TemporaryDirectory(prefix="derivo-bench-dask-") as tmp:
        work = Path(tmp)
        with local_cluster(cores, work, stock=args.stock_config, nice=args.worker_nice) as cluster:
            address = cluster.address
            settings = "Dask's default" if args.stock_config else "recommended"
            print(
                f"Dask cluster at {address}: {cores} workers x 1 thread at nice "
                f"{args.worker_nice}, {settings} settings"
            )
            if args.starts:
                results["start"] = starts(address, work, args.starts)
            if not args.skip_corpus:
                corpus = corpus_mod.ensure(args.n, args.seed)
                print(f"corpus: {corpus_mod.describe(corpus)}")
                corpus_mod.warm(corpus)
                results["render"] = compare(corpus.directory, cluster, cores, args.runs, work)
                r = results["render"]
                print(
                    f"{args.n} photos: pool {r['pool_median_s']:.2f} s, "
                    f"Dask {r['dask_median_s']:.2f} s, ratio {r['ratio']:.3f} "
                    f"(target <= 1.15; median of the pairs' ratios "
                    f"{r['ratio_per_pair_median']:.3f}); render "
                    f"{r['render_core_s_per_photo'] * 1000:.0f} core-ms per photo"
                )
                for name, parts in r["cpu_ms_per_photo"].items():
                    print(
                        f"  {name}: CPU ms per photo {sum(parts.values()):.1f} ("
                        + ", ".join(f"{k} {v:.1f}" for k, v in parts.items())
                        + ")"
                    )
                print(f"  CPU per photo, Dask / pool: {r['cpu_ratio']:.3f}")
            if not args.skip_ceiling:
                results["ceiling"] = ceiling(address, cores, args.feed, args.runs, work)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if "ceiling" not in results:
        return 0
    c = results["ceiling"]
    print(
        f"coordinator, no-op render, {args.feed} photos: pool {c['pool_photos']:.0f}/s "
        f"({c['pool_per_cpu_s_photos']:.0f} per CPU s), Dask {c['dask_photos']:.0f}/s "
        f"({c['dask_per_cpu_s_photos']:.0f} per CPU s); "
        f"Dask executor alone {c['dask_executor_only_photos']:.0f} tasks/s"
    )
    if "render" in results:
        cost = results["render"]["render_core_s_per_photo"]
        busy = c["dask_photos"] * cost, c["dask_per_cpu_s_photos"] * cost
        results["worker_cores_kept_busy"] = {"measured": busy[0], "coordinator_on_a_core": busy[1]}
        print(
            f"one coordinator keeps {busy[0]:.0f} worker cores busy through Dask as measured, "
            f"{busy[1]:.0f} with a core of its own"
        )
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
