"""``python -m bench.fuzz``: damaged copies of real photos through a real worker pool.

Each mutant of a real JPEG, PNG, WebP or HEIF file (cut short with or without
its end marker, bytes zeroed, flipped or repeated, header bytes overwritten)
is rendered by a :class:`~derivo.WorkerPool` with the default specs. It must
end as a clean input error with a one-line reason, or as derivatives that pass
the flat-band oracle of ``tests/oracle.py``; a crash, a hang, a lost worker or
a grey band is a failure. Prints the counts; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import random
import shutil
import struct
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pillow_heif
import pyvips

from derivo import DerivoError, InputError, RenderTask, WorkerPool
from derivo.specs import DEFAULT_SPECS
from tests.oracle import check_file

REPO = Path(__file__).resolve().parent.parent
CAMERA_JPEGS = (
    REPO / "samples" / "orientation" / "landscape_1.jpg",
    REPO / "samples" / "orientation" / "landscape_6.jpg",  # EXIF-rotated
)
#: Full-size camera files, for the long run only.
LARGE = (
    ("jpeg", REPO / "samples" / "Reconyx_HC500_Hyperfire.jpg"),
    ("heif", REPO / "samples" / "IMG_5195.HEIC"),
)
BAD = ("flat", "multiline", "crashed", "timeout", "failed")

_END = {"jpeg": b"\xff\xd9", "png": b"\x00\x00\x00\x00IEND\xaeB`\x82"}


def make_seeds(folder: Path, *, large: bool = True) -> list[tuple[str, Path]]:
    """Real camera JPEGs, PNG, WebP and HEIF files encoded from one, and :data:`LARGE`."""
    folder.mkdir(parents=True, exist_ok=True)
    photo = pyvips.Image.new_from_file(str(CAMERA_JPEGS[0])).autorot()
    seeds = [("jpeg", path) for path in CAMERA_JPEGS]
    png, webp, heif = folder / "seed.png", folder / "seed.webp", folder / "seed.heic"
    photo.pngsave(str(png))
    photo.webpsave(str(webp), Q=85)
    pixels = photo.write_to_memory()
    pillow_heif.from_bytes(mode="RGB", size=(photo.width, photo.height), data=pixels).save(
        str(heif), quality=85
    )
    seeds += [("png", png), ("webp", webp), ("heif", heif)]
    return seeds + list(LARGE) if large else seeds


# Mutations: each takes the original bytes, the format and a seeded generator.


def truncate(data: bytes, fmt: str, rng: random.Random) -> bytes:
    return data[: rng.randrange(1, len(data))]


def truncate_with_end(data: bytes, fmt: str, rng: random.Random) -> bytes:
    """Cut short, then closed as a complete file would be (end marker, RIFF length)."""
    cut = bytearray(data[: rng.randrange(16, len(data))])
    if fmt == "webp":
        cut[4:8] = struct.pack("<I", len(cut) - 8)
    return bytes(cut) + _END.get(fmt, b"")


def zero(data: bytes, fmt: str, rng: random.Random) -> bytes:
    start = rng.randrange(len(data))
    size = rng.choice((1, 4, 16, 64, 256, 4096))
    return data[:start] + bytes(min(size, len(data) - start)) + data[start + size :]


def flip(data: bytes, fmt: str, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice((1, 2, 8, 32))):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def repeat(data: bytes, fmt: str, rng: random.Random) -> bytes:
    start = rng.randrange(len(data))
    chunk = data[start : start + rng.choice((2, 16, 256, 4096))]
    return data[: start + len(chunk)] + chunk * rng.randrange(1, 4) + data[start + len(chunk) :]


def header(data: bytes, fmt: str, rng: random.Random) -> bytes:
    """Overwrite a few bytes among the first 600, where sizes and tables live."""
    out = bytearray(data)
    for _ in range(rng.randrange(1, 5)):
        out[rng.randrange(min(600, len(out)))] = rng.randrange(256)
    return bytes(out)


MUTATIONS: dict[str, Callable[[bytes, str, random.Random], bytes]] = {
    f.__name__: f for f in (truncate, truncate_with_end, zero, flip, repeat, header)
}


@dataclass(frozen=True)
class Mutant:
    name: str
    fmt: str
    data: bytes


def mutants(seeds: list[tuple[str, Path]], count: int, seed: int) -> Iterator[Mutant]:
    """``count`` mutants, the same ones for the same seed, spread evenly over the seeds."""
    rng = random.Random(seed)
    originals = [(fmt, path.stem, path.read_bytes()) for fmt, path in seeds]
    names = sorted(MUTATIONS)
    for i in range(count):
        fmt, stem, data = originals[i % len(originals)]
        how = names[(i // len(originals)) % len(names)]
        mutated = MUTATIONS[how](data, fmt, rng)
        while mutated == data:  # e.g. zeroes written over zeroes: draw again
            mutated = MUTATIONS[how](data, fmt, rng)
        yield Mutant(f"{i:05d}-{stem}-{how}", fmt, mutated)


@dataclass
class Counts:
    mutants: int = 0
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    by_format: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)
    lost_workers: int = 0

    @property
    def bad(self) -> int:
        return sum(self.outcomes[k] for k in BAD) + self.lost_workers


def _outcome(future_result: Callable[[], object], out: Path) -> tuple[str, str]:
    """(outcome, detail): ``ok``, a refusal's kind, or one of :data:`BAD`."""
    try:
        result = future_result()
    except InputError as exc:
        if "\n" in str(exc) or not str(exc):
            return "multiline", repr(str(exc))
        return f"refused:{exc.kind}", str(exc)
    except DerivoError as exc:
        return (exc.kind if exc.kind in BAD else "failed"), str(exc)
    for derivative in result.derivatives:  # type: ignore[attr-defined]
        band = check_file(derivative.path)
        if band is not None:
            return "flat", f"{derivative.spec}: {band}"
    return "ok", ""


def run(
    seeds: list[tuple[str, Path]],
    count: int,
    seed: int,
    work: Path,
    *,
    workers: int = 2,
    timeout: float = 60.0,
) -> Counts:
    """Render ``count`` mutants in a real pool; failing mutants are kept in ``work/failed``."""
    counts = Counts()
    kept = work / "failed"
    with WorkerPool(workers=workers, task_timeout=timeout, max_attempts=1) as pool:
        pending = collections.deque()
        for mutant in mutants(seeds, count, seed):
            source = work / "in" / mutant.name
            source.parent.mkdir(parents=True, exist_ok=True)
            source.write_bytes(mutant.data)
            out = work / "out" / mutant.name
            task = RenderTask(
                source=str(source),
                source_hash=hashlib.blake2b(mutant.data, digest_size=32).hexdigest(),
                specs=DEFAULT_SPECS,
                out_dir=str(out),
            )
            pending.append((mutant, source, out, pool.submit(task)))
            while pending and (len(pending) > 4 * workers or pending[0][3].done()):
                _settle(counts, kept, *pending.popleft())
        while pending:
            _settle(counts, kept, *pending.popleft())
        counts.lost_workers = pool.stats().restarts
    return counts


def _settle(counts: Counts, kept: Path, mutant: Mutant, source: Path, out: Path, future) -> None:  # type: ignore[no-untyped-def]
    outcome, detail = _outcome(future.result, out)
    counts.mutants += 1
    counts.outcomes[outcome] += 1
    counts.by_format[(mutant.fmt, outcome)] += 1
    if outcome.split(":")[0] in BAD:
        kept.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, kept / mutant.name)
        counts.failures.append(f"{mutant.name}: {outcome} {detail}")
    source.unlink()
    shutil.rmtree(out, ignore_errors=True)


def report(counts: Counts) -> str:
    formats = sorted({fmt for fmt, _ in counts.by_format})
    outcomes = sorted(counts.outcomes)
    lines = [f"{'outcome':<22}" + "".join(f"{f:>8}" for f in formats) + f"{'total':>8}"]
    for outcome in outcomes:
        row = "".join(f"{counts.by_format[(f, outcome)]:>8}" for f in formats)
        lines.append(f"{outcome:<22}{row}{counts.outcomes[outcome]:>8}")
    lines.append(f"mutants {counts.mutants}, lost workers {counts.lost_workers}, bad {counts.bad}")
    lines.extend(counts.failures[:20])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__)
    parser.add_argument("--n", type=int, default=3000, help="mutants (default 3000)")
    parser.add_argument("--seed", type=int, default=1, help="mutation seed (default 1)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per mutant")
    parser.add_argument("--work", type=Path, help="keep mutants and failures here")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="derivo-fuzz-"))
    seeds = make_seeds(work / "seeds")
    counts = run(seeds, args.n, args.seed, work, workers=args.workers, timeout=args.timeout)
    print(report(counts))
    if counts.failures:
        print(f"failing mutants kept in {work / 'failed'}")
    elif args.work is None:
        shutil.rmtree(work)
    return 1 if counts.bad else 0


if __name__ == "__main__":
    sys.exit(main())
