"""``python -m bench.library``: a large generated library, where per-photo overhead is what costs.

Many small distinct JPEGs in nested folders (20,000 by default, ``--photos 1000000`` on
request). Each photo is one of a few 64x48 JPEGs encoded once by libvips, with a comment
segment holding its number inserted after the start marker: every file is a valid JPEG
with its own hash, and a million of them are written in about a minute.

``--distinct K`` makes photo ``i`` a copy of photo ``i % K``: the files stay distinct
files (each its own inode) but only K contents exist, so a first run renders K
photos and records the rest as sharing their derivatives. That keeps a first run of
``--photos 1000000`` to the coordinator's own work (stat, read, hash, record 1,000,000
photos) instead of an hour of renders; re-runs then stat, look up and check every
photo and its derivative files as for a library of distinct photos (those files are
fewer, so the kernel's caches hold them more easily).

Per derivo checkout (``--repo``, alternated A B A B when several are given), from a
fresh output folder: the first run, a re-run over unchanged files (``--json``, every
photo's result printed), the same re-run in one process through :class:`Pipeline`
with unchanged photos only counted (as ``derivo process`` without ``--json`` does),
and a re-run after the modification time of 1 % of the files changed; each timed as
a whole process (``wall``) and from derivo's own summary (``inner``: discovery to
last result, no interpreter start-up), with CPU use of 2 cores and the coordinator's
peak RSS.
``--original`` adds the original design (see :mod:`bench.contenders`), walking the same tree.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench import measure

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = Path(__file__).resolve().parent / ".library"
GENERATOR_VERSION = 1
PER_FOLDER = 100
BASES = 16
STEPS = ("first", "unchanged", "unchanged, counted in-process", "touched 1 %")
#: A re-run in one process, as a program using derivo would make it, without the CLI: the
#: unchanged photos only counted where the checkout can (``Pipeline.run(unchanged=...)``).
IN_PROCESS = """
import inspect, json, sys
from pathlib import Path
from derivo.cache import DerivativeCache
from derivo.discover import scan
from derivo.executors.pool import WorkerPool
from derivo.pipeline import Pipeline
from derivo.summary import Summary
library, out = Path(sys.argv[1]), Path(sys.argv[2])
summary = Summary()
summary.start()
with (
    DerivativeCache(out / "derivo.db", root=out) as cache,
    WorkerPool() as pool,
    Pipeline(cache=cache, executor=pool, out_dir=out) as pipeline,
):
    counted = {}
    if "unchanged" in inspect.signature(pipeline.run).parameters:
        counted["unchanged"] = summary.count_cached
    for result in pipeline.run(scan([library], exclude=[out]), **counted):
        summary.add(result)
summary.finish()
print(json.dumps(summary.as_dict()))
"""


def photo_path(root: Path, index: int) -> Path:
    """``<root>/<thousands of folders>/<folder>/IMG_<index>.jpg``, 100 photos per folder."""
    folder = index // PER_FOLDER
    return root / f"{folder // 100:04d}" / f"{folder % 100:02d}" / f"IMG_{index:07d}.jpg"


def base_jpegs(count: int, seed: int) -> list[bytes]:
    """A few small JPEGs, each a different smooth gradient with noise."""
    import pyvips

    rng = random.Random(seed)
    images = []
    for _ in range(count):
        xy = pyvips.Image.xyz(64, 48)
        r = xy[0] * rng.uniform(1, 4) + rng.uniform(0, 60)
        g = xy[1] * rng.uniform(1, 5) + rng.uniform(0, 60)
        b = (xy[0] + xy[1]) * rng.uniform(0.5, 2) + pyvips.Image.gaussnoise(64, 48, sigma=20)
        image = r.bandjoin([g, b]).cast("uchar")
        images.append(bytes(image.jpegsave_buffer(Q=85, keep="none")))
    return images


def distinct(base: bytes, index: int) -> bytes:
    """``base`` with a JPEG comment (COM) segment naming ``index``: same pixels, new hash."""
    payload = f"derivo bench photo {index}".encode()
    return base[:2] + b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload + base[2:]


def generate(photos: int, seed: int, root: Path, contents: int | None = None) -> Path:
    """The library of ``photos`` photos under ``root``, generated once and kept; with
    ``contents``, photo ``i`` has the bytes of photo ``i % contents``."""
    directory = root / (f"{photos}-{seed}" + (f"-d{contents}" if contents else ""))
    stamp = directory / ".complete"
    if stamp.is_file() and stamp.read_text() == str(GENERATOR_VERSION):
        return directory
    shutil.rmtree(directory, ignore_errors=True)
    started = time.perf_counter()
    bases = base_jpegs(BASES, seed)
    old = time.time() - 86_400  # an existing library: older than any record of it
    for index in range(photos):
        path = photo_path(directory, index)
        if index % PER_FOLDER == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            number = index % contents if contents else index
            os.write(fd, distinct(bases[number % BASES], number))
            os.utime(fd, (old, old))
        finally:
            os.close(fd)
    stamp.write_text(str(GENERATOR_VERSION))
    print(f"generated {photos} photos in {time.perf_counter() - started:.1f} s: {directory}")
    return directory


def touch(directory: Path, photos: int, share: float, seed: int) -> int:
    """Change the modification time of ``share`` of the photos (content unchanged)."""
    rng = random.Random(seed)
    chosen = rng.sample(range(photos), max(1, round(photos * share)))
    later = time.time() - 3600
    for index in chosen:
        os.utime(photo_path(directory, index), (later, later))
    return len(chosen)


def reset_times(directory: Path, photos: int) -> None:
    old = time.time() - 86_400
    for index in range(photos):
        os.utime(photo_path(directory, index), (old, old))


def derivo_command(library: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "derivo", "process", str(library), "--out", str(out), "--json"]


def in_process_command(library: Path, out: Path) -> list[str]:
    return [sys.executable, "-c", IN_PROCESS, str(library), str(out)]


def original_command(library: Path, out: Path) -> list[str]:
    code = (
        "import sys; from pathlib import Path; import bench.contenders as c; "
        "c.list_photos = lambda root: sorted(Path(root).rglob('*.jpg')); "
        "sys.exit(c.main(['original', sys.argv[1], sys.argv[2]]))"
    )
    return [sys.executable, "-c", code, str(library), str(out)]


def figures(run: measure.Run, cores: int) -> dict[str, Any]:
    summary = run.summary
    return {
        "wall": round(run.wall, 3),
        "inner": run.inner_wall,
        "inner_cpu": summary.get("cpu_seconds"),
        "cpu": round(run.utilisation(cores), 3),
        "coordinator_mb": summary.get("coordinator_peak_rss_mb"),
        "max_rss_mb": round(run.max_rss_mb, 1),
        "rendered": summary.get("rendered"),
        "cached": summary.get("cached"),
        "failed": summary.get("failed"),
        "ok": run.ok,
        "other_load": round(run.other_load(cores), 2),
    }


def one_round(
    name: str, repo: Path, library: Path, photos: int, out: Path, original: bool, seed: int
) -> dict[str, dict[str, Any]]:
    cores = len(os.sched_getaffinity(0))
    shutil.rmtree(out, ignore_errors=True)
    command = original_command if original else derivo_command
    results = {}
    reset_times(library, photos)
    for step in STEPS:
        if step == "touched 1 %":
            touch(library, photos, 0.01, seed)
        elif step == "unchanged, counted in-process":
            if original:
                continue
            command_now = in_process_command
        else:
            command_now = command
        run = measure.run(name, command_now(library, out), cwd=repo)
        results[step] = figures(run, cores)
        if not run.ok and run.summary.get("failed") is None:
            print(f"{name} {step} failed:\n{run.stderr_tail}", file=sys.stderr)
        print(f"  {name:>12} {step:<29} {json.dumps(results[step])}", flush=True)
    shutil.rmtree(out, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.library", description=__doc__)
    parser.add_argument("--photos", type=int, default=20_000, help="photos (default 20000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--distinct",
        type=int,
        metavar="K",
        help="only K distinct contents, repeated (default: every photo distinct)",
    )
    parser.add_argument("--runs", type=int, default=1, help="rounds per checkout (default 1)")
    parser.add_argument(
        "--repo",
        type=Path,
        action="append",
        help="derivo checkout to run, repeatable (default: this one)",
    )
    parser.add_argument("--original", action="store_true", help="also run the original design")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="where libraries are kept")
    parser.add_argument("--work", type=Path, default=REPO / "bench" / ".runs" / "library")
    args = parser.parse_args(argv)
    if args.photos < 1 or args.runs < 1:
        parser.error("--photos and --runs must be at least 1")
    if args.distinct is not None and args.distinct < 1:
        parser.error("--distinct must be at least 1")
    library = generate(args.photos, args.seed, args.root, args.distinct)
    repos = [repo.resolve() for repo in args.repo or [REPO]]
    contenders = [(str(repo), repo, False) for repo in repos]
    if args.original:
        contenders.append(("original", REPO, True))
    collected: dict[str, list[dict[str, dict[str, Any]]]] = {name: [] for name, _, _ in contenders}
    # Each round writes into a folder of its own, and all are removed at the end: a first
    # run right after tens of thousands of files were deleted is slower on ext4 without
    # a journal (its inode allocator passes over recently freed inodes), which is not the
    # state a library's first run meets.
    outs = []
    try:
        for round_no in range(args.runs):
            for name, repo, original in contenders:
                outs.append(args.work / f"{name.replace('/', '_')}-{round_no}")
                collected[name].append(
                    one_round(name, repo, library, args.photos, outs[-1], original, args.seed)
                )
    finally:
        for out in outs:
            shutil.rmtree(out, ignore_errors=True)
    contents = f", {args.distinct} distinct contents" if args.distinct else ""
    print(f"\n{args.photos} photos{contents}, medians of {args.runs} round(s):")
    print(
        f"{'checkout':<40} {'step':<29} {'wall s':>8} {'inner s':>8} {'inner CPU s':>11} "
        f"{'CPU':>5} {'coord MB':>9}"
    )
    for name, rounds in collected.items():
        for step in STEPS:
            rows = [r[step] for r in rounds if step in r]
            if not rows:
                continue
            wall = statistics.median(r["wall"] for r in rows)
            inner = [r["inner"] for r in rows if r["inner"] is not None]
            mem = [r["coordinator_mb"] for r in rows if r["coordinator_mb"] is not None]
            cpu = statistics.median(r["cpu"] for r in rows)
            spent = [r["inner_cpu"] for r in rows if r.get("inner_cpu") is not None]
            print(
                f"{name[-40:]:<40} {step:<29} {wall:>8.2f} "
                f"{statistics.median(inner) if inner else float('nan'):>8.2f} "
                f"{statistics.median(spent) if spent else float('nan'):>11.2f} {cpu:>5.0%} "
                f"{statistics.median(mem) if mem else float('nan'):>9.1f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
