"""``python -m bench``: generate the corpus, run every contender, print and save a report."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from bench import corpus as corpus_mod
from bench import measure, node, report
from bench.contenders import CONTENDERS, RERUNS, SPECS, Contender

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WORK = Path(__file__).resolve().parent / ".runs"
NOISY = 0.1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark derivo against a sequential Pillow loop, the original design "
        "(as written in Node when node is on the PATH, and re-created in Python), sharp "
        "written well, the work floor and the decode floor on a generated, camera-like "
        "JPEG corpus.",
    )
    parser.add_argument("--n", type=int, default=100, help="photos in the corpus (default 100)")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    parser.add_argument("--runs", type=int, default=3, help="runs per contender (default 3)")
    parser.add_argument(
        "--only",
        default=",".join(CONTENDERS),
        help=f"comma-separated contenders (default: all of {','.join(CONTENDERS)})",
    )
    parser.add_argument(
        "--classes",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run every contender but sequential on each size class (3, 12, 24 MP) "
        "alone (default: yes)",
    )
    parser.add_argument(
        "--report",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write docs/benchmarks.md and docs/benchmarks.png (default: yes)",
    )
    parser.add_argument(
        "--docs", type=Path, default=REPO / "docs", help="where the report goes (default docs/)"
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=DEFAULT_WORK,
        help="scratch space for outputs (default bench/.runs/)",
    )
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in args.only if name not in CONTENDERS]
    if unknown:
        parser.error(f"unknown contender(s) {', '.join(unknown)}; known: {', '.join(CONTENDERS)}")
    if args.n < 1 or args.runs < 1:
        parser.error("--n and --runs must be at least 1")
    return args


def derivo_problem() -> str | None:
    """Why the derivo CLI cannot be benchmarked, or None if it can."""
    cmd = [sys.executable, "-m", "derivo", "process", "--help"]
    try:
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return lines[-1] if lines else f"exit {done.returncode}"
    return None


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def describe_run(run: measure.Run, cores: int) -> str:
    line = (
        f"{run.wall:7.2f} s wall, {run.cpu:6.1f} s CPU ({100 * run.utilisation(cores):.0f} %), "
        f"max RSS {run.max_rss_mb:.0f} MB, other load {100 * run.other_load(cores):.0f} %"
    )
    if run.inner_wall is not None:
        line += f", in-process {run.inner_wall:.3f} s"
    if not run.ok:
        line += f"  FAILED (exit {run.returncode})\n{run.stderr_tail}"
    return line


def execute(contender: Contender, label: str, corpus: Path, out: Path, cores: int) -> measure.Run:
    os.sync()
    print(f"  {label:<24}", end="", flush=True)
    run = measure.run(contender.name, contender.command(corpus, out), REPO)
    print(describe_run(run, cores), flush=True)
    return run


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)])
    corpus = corpus_mod.ensure(args.n, args.seed)
    print(f"corpus: {corpus_mod.describe(corpus)}")

    selected = [CONTENDERS[name] for name in args.only]
    skipped: dict[str, str] = {}
    if any(c.derivo_args is not None for c in selected):
        problem = derivo_problem()
        if problem:
            for c in selected:
                if c.derivo_args is not None:
                    skipped[c.name] = f"`python -m derivo process --help` failed: {problem}"
            selected = [c for c in selected if c.derivo_args is None]
    if any(c.needs_node for c in selected):
        setup, why = node.ensure(REPO)
        for c in selected:
            if c.needs_node and setup is None:
                skipped[c.name] = why
            elif c.node_script == "original.js" and setup is not None and setup.app is None:
                skipped[c.name] = "the original design's plan (shared/origin/*.txt) was not found"
        selected = [c for c in selected if c.name not in skipped]
    for name, why in skipped.items():
        print(f"skipping {name}: {why}")

    res = report.Results(
        n=args.n,
        seed=args.seed,
        runs=args.runs,
        command=command,
        corpus=corpus_mod.describe(corpus),
        warm_seconds=corpus_mod.warm(corpus),
        skipped=skipped,
    )
    derivo_src = REPO / "derivo"
    fingerprint = measure.source_fingerprint(derivo_src) if derivo_src.is_dir() else ""
    boxes = {spec: (w, h) for spec, w, h, _ in SPECS}
    work = args.work
    for r in range(args.runs):
        print(f"fresh runs, round {r + 1}/{args.runs}:")
        order = selected[r % len(selected) :] + selected[: r % len(selected)]
        for c in order:
            out = fresh_dir(work / c.name)
            run = execute(c, c.name, corpus.directory, out, res.cores)
            res.fresh.setdefault(c.name, []).append(run)
            if r == 0 and c.layout != "none":
                res.checks[c.name] = measure.check_outputs(out, corpus.photos, boxes)
    res.fresh = {c.name: res.fresh[c.name] for c in selected}

    reruns = [
        c for c in RERUNS.values() if c.rerun_of in res.fresh and res.fresh[c.rerun_of][-1].ok
    ]
    for r in range(args.runs if reruns else 0):
        print(f"re-runs over unchanged files, round {r + 1}/{args.runs}:")
        for c in reruns:
            run = execute(c, c.name, corpus.directory, work / str(c.rerun_of), res.cores)
            res.reruns.setdefault(c.name, []).append(run)

    for kind in {p["kind"] for p in corpus.photos}:
        shapes = [(p["width"], p["height"]) for p in corpus.photos if p["kind"] == kind]
        res.class_sizes[kind] = f"{len(shapes)} x {shapes[0][0]}x{shapes[0][1]}"
    per_class = [c for c in selected if c.name not in ("sequential", "derivo-cpu50")]
    for kind, folder in (corpus_mod.by_class(corpus) if args.classes else {}).items():
        for r in range(args.runs):
            print(f"size class {kind}, round {r + 1}/{args.runs}:")
            order = per_class[r % len(per_class) :] + per_class[: r % len(per_class)]
            for c in order:
                out = fresh_dir(work / "class" / c.name)
                run = execute(c, c.name, folder, out, res.cores)
                res.classes.setdefault(kind, {}).setdefault(c.name, []).append(run)

    if fingerprint and measure.source_fingerprint(derivo_src) != fingerprint:
        res.warnings.append("derivo's source changed while the benchmark ran; run it again")
    noisy = [
        r.name
        for runs in (*res.fresh.values(), *res.reruns.values())
        for r in runs
        if r.other_load(res.cores) > NOISY
    ]
    if noisy:
        res.warnings.append(
            f"{len(noisy)} run(s) shared the machine with other work using over "
            f"{NOISY:.0%} of the CPU ({', '.join(sorted(set(noisy)))}); numbers are noisy"
        )
    print(report.console(res))
    work.mkdir(parents=True, exist_ok=True)
    raw = {
        "command": command,
        "fresh": {k: [asdict(r) for r in v] for k, v in res.fresh.items()},
        "reruns": {k: [asdict(r) for r in v] for k, v in res.reruns.items()},
        "checks": {k: asdict(v) for k, v in res.checks.items()},
        "classes": {
            kind: {k: [asdict(r) for r in v] for k, v in runs.items()}
            for kind, runs in res.classes.items()
        },
    }
    (work / "results.json").write_text(json.dumps(raw, indent=1) + "\n")
    if args.report:
        md, png = report.write(res, args.docs)
        print(f"\nwrote {md} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
