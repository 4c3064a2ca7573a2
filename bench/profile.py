"""Where a ``derivo process`` run spends its time, per photo, step by step, in one process.

    python -m bench.profile [--n 40]       # uses the default corpus (bench/.corpus/100-1)

Steps are timed with ``time.process_time`` (CPU of this process), so other load on
the machine inflates them less than wall time. The renderer's start-up is the wall
time of a fresh interpreter importing it, minus a bare interpreter: a run pays it
once, in the fork server its workers are forked from.
"""

from __future__ import annotations

import argparse
import contextlib
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from bench import corpus as corpus_mod


def startup_seconds(code: str, repeat: int = 5) -> float:
    walls = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        walls.append(time.perf_counter() - started)
    return statistics.median(walls)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--n", type=int, default=40, help="photos to profile (default 40)")
    args = parser.parse_args(argv)

    from derivo.atomic import write_atomically
    from derivo.cache import DerivativeCache, FileStat
    from derivo.decode import decode
    from derivo.hashing import hash_file
    from derivo.jpeg import read_header
    from derivo.placeholder import thumbhash_of_picture
    from derivo.render import encode, fit, init_worker, render, to_picture
    from derivo.specs import DEFAULT_SPECS, SpecSet
    from derivo.tasks import Derivative, Limits, RenderResult, RenderTask

    init_worker()
    corpus = corpus_mod.ensure(100, 1)
    photos = corpus.paths[: args.n]
    steps: dict[str, list[float]] = {}

    @contextlib.contextmanager
    def clock(name: str) -> Iterator[None]:
        started = time.process_time()
        yield
        steps.setdefault(name, []).append(time.process_time() - started)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        cache = DerivativeCache(out / "derivo.db")
        specs = SpecSet()
        for i, path in enumerate(photos):
            with clock("coordinator: BLAKE3 of the file"):
                digest = hash_file(path)
            with clock("worker: read the file"):
                data = path.read_bytes()
            with clock("worker: JPEG header (size, orientation, profile)"):
                read_header(data)
            with clock("worker: libvips decode (the previous path)"):
                decode(path, DEFAULT_SPECS, Limits(), scaled_jpeg=False)
            with clock("worker: decode (header, scaled decode, resize, sRGB)"):
                decoded = decode(path, DEFAULT_SPECS, Limits(), leave_orientation=True)
            turn = decoded.orientation
            files = {}
            made = []
            for spec in sorted(DEFAULT_SPECS, key=lambda s: -s.width):
                with clock(f"worker: resize to {spec.name}"):
                    image = fit(decoded.image, spec, turn).copy_memory()
                with clock(f"worker: turn upright (EXIF orientation) and encode {spec.name}"):
                    data = encode(image, spec, turn)
                files[spec.filename] = data
                if spec.name == "thumbnail":
                    with clock("worker: ThumbHash of the thumbnail's pixels"):
                        thumbhash_of_picture(to_picture(image, turn))
                made.append(
                    Derivative(
                        spec=spec.name,
                        path=str(out / "d" / str(i) / spec.filename),
                        width=image.width,
                        height=image.height,
                        bytes=len(data),
                        format="jpeg",
                    )
                )
            with clock("worker: write both (temp file, fsync, rename)"):
                write_atomically(out / "d" / str(i), files)
            task = RenderTask(
                source=str(path), source_hash=digest, specs=DEFAULT_SPECS, out_dir=str(out)
            )
            result = RenderResult(width=1, height=1, derivatives=tuple(made), seconds=0.1)
            with clock("worker: all of render(task), as a worker runs it"):
                render(replace(task, out_dir=str(out / "r"), sync=False))
            with clock("pickle task and result, both ways"):
                pickle.loads(pickle.dumps(task))
                pickle.loads(pickle.dumps(result))
            with clock("coordinator: SQLite (put, missing, record, status)"):
                photo = f"photo-{i}"
                cache.put_photo(
                    photo,
                    source=str(path),
                    stat=FileStat.of(path),
                    source_hash=digest,
                    status="processing",
                )
                cache.missing(digest, specs)
                cache.record(digest, specs, made)
                cache.set_status(photo, "done", attempts=1, size=(1, 1))
        cache.close()

    bare = startup_seconds("pass")
    worker = startup_seconds("from derivo.render import init_worker; init_worker()")
    cli = startup_seconds("import derivo.cli")
    print(f"{len(photos)} photos of {corpus.directory}; median CPU ms per photo:\n")
    for name, values in steps.items():
        count = len(values) // len(photos)
        totals = [sum(values[j * count : (j + 1) * count]) for j in range(len(photos))]
        print(f"  {name:<52} {1000 * statistics.median(totals):7.1f}")
    print(
        f"\nstart-up (wall, median of 5): bare interpreter {1000 * bare:.0f} ms; "
        f"renderer imports (once, in the fork server) +{1000 * (worker - bare):.0f} ms; "
        f"CLI imports +{1000 * (cli - bare):.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
