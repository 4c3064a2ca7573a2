"""The contenders, each run as its own process: ``python -m bench.contenders NAME CORPUS OUT``.

Every contender prints one JSON object on stdout (``rendered``, ``cached``, ``failed``,
``wall_seconds``), like ``derivo process --json`` does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# (spec name, box width, box height, JPEG quality)
SPECS: tuple[tuple[str, int, int, int], ...] = (
    ("thumbnail", 200, 200, 80),
    ("preview", 1200, 1200, 85),
)
ORIGINAL_WORKERS = 4


@dataclass(frozen=True)
class Contender:
    name: str
    summary: str
    layout: str  # "derivo" (content-addressed), "stem" (<out>/<stem>/<spec>.jpg) or "none"
    derivo_args: tuple[str, ...] | None = None  # set for contenders that run the derivo CLI
    rerun_of: str | None = None  # re-run contenders reuse this contender's output dir
    notes: list[str] = field(default_factory=list)
    node_script: str | None = None  # bench/node/<script>, run with node

    @property
    def needs_node(self) -> bool:
        return self.node_script is not None

    def command(self, corpus: Path, out: Path) -> list[str]:
        if self.node_script is not None:
            from bench import node

            extra = [str(node.APP)] if self.node_script == "original.js" else []
            script = str(node.SCRIPTS / self.node_script)
            return [shutil.which("node") or "node", script, str(corpus), str(out), *extra]
        if self.name == "workfloor":
            return [sys.executable, "-m", "bench.workfloor", str(corpus), str(out)]
        if self.derivo_args is not None:
            return [
                sys.executable,
                "-m",
                "derivo",
                "process",
                str(corpus),
                "--out",
                str(out),
                "--db",
                str(out / "derivo.db"),
                "--json",
                *self.derivo_args,
            ]
        base = self.rerun_of or self.name
        return [sys.executable, "-m", "bench.contenders", base, str(corpus), str(out)]


CONTENDERS: dict[str, Contender] = {
    c.name: c
    for c in (
        Contender(
            "sequential",
            "Pillow, one process, full decode per derivative, no cache",
            "stem",
            notes=[
                "orients by EXIF (ImageOps.exif_transpose) so its output matches the others",
            ],
        ),
        Contender(
            "original",
            "original design re-created in Python: pool of 4, one libvips thumbnail call "
            "per derivative, MD5 cache by photo id",
            "stem",
            notes=[
                "no size='down': would upscale photos smaller than a box "
                "(none in this corpus, all are larger than 1200 px)",
                "libvips thread pool left at its defaults in every worker",
            ],
        ),
        Contender(
            "derivo",
            "derivo process, defaults",
            "derivo",
            derivo_args=(),
            notes=[
                "its workers run at nice 10 (derivo's default): no effect on a quiet "
                "machine, a handicap whenever anything else wants the CPU",
            ],
        ),
        Contender(
            "derivo-cpu50", "derivo process --cpu 0.5", "derivo", derivo_args=("--cpu", "0.5")
        ),
        Contender(
            "floor",
            "decode floor: libvips shrink-on-load to 1200 px, one worker per core, "
            "nothing encoded or written",
            "none",
        ),
        Contender(
            "workfloor",
            "work floor: libjpeg-turbo decode at the smallest M/8 at or above 1200 px, "
            "Lanczos3 to 1200 and 200 px, both progressive JPEGs encoded to memory, "
            "nothing else, one process per core (bench/workfloor.py)",
            "none",
            notes=["no EXIF orientation, no colour management, nothing hashed or written"],
        ),
        Contender(
            "original-node",
            "original design run as written: its JavaScript (Node, sharp, better-sqlite3, "
            "pool of 4 worker threads, one sharp call per derivative, MD5 cache by photo id)",
            "stem",
            node_script="original.js",
            notes=[
                "only stand-ins added for what the plan leaves out: a logger, the db "
                "module, derivative paths, and exporting generateDerivatives",
                "never applies EXIF orientation, so the output check flags portrait photos",
            ],
        ),
        Contender(
            "sharp-well",
            "sharp written well: one decode per photo to preview-sized raw pixels, both "
            "progressive encodes from them, auto-orient, never upscale, photos in flight = "
            "cores (bench/node/sharp_well.js)",
            "stem",
            node_script="sharp_well.js",
            notes=["no hashing, no cache, no atomic writes; sharp's default colour handling"],
        ),
    )
}

RERUNS: dict[str, Contender] = {
    c.name: c
    for c in (
        Contender(
            "derivo re-run", "derivo, second run, quick check", "derivo", (), rerun_of="derivo"
        ),
        Contender(
            "derivo --verify re-run",
            "derivo --verify, second run, hashing every source",
            "derivo",
            ("--verify",),
            rerun_of="derivo",
        ),
        Contender(
            "original-node re-run",
            "original design as written, second run: MD5 of every source + cache by photo id",
            "stem",
            rerun_of="original-node",
            node_script="original.js",
        ),
        Contender(
            "original re-run",
            "original design, second run: MD5 of every source + cache lookup by photo id",
            "stem",
            rerun_of="original",
        ),
    )
}


def list_photos(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))


# --- sequential -------------------------------------------------------------------------


def _pillow_derivative(src: Path, dst: Path, width: int, height: int, quality: int) -> None:
    from PIL import Image, ImageOps

    with Image.open(src) as im:
        im.load()
        orientation = im.getexif().get(0x0112, 1)
        box = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
        scale = min(box[0] / im.width, box[1] / im.height, 1.0)
        size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
        small = im.resize(size, Image.Resampling.LANCZOS) if size != im.size else im.copy()
    small = ImageOps.exif_transpose(small)
    small.convert("RGB").save(dst, "JPEG", quality=quality, progressive=True, optimize=True)


def run_sequential(corpus: Path, out: Path) -> dict[str, Any]:
    rendered = failed = 0
    for photo in list_photos(corpus):
        target = out / photo.stem
        target.mkdir(parents=True, exist_ok=True)
        try:
            for spec, w, h, q in SPECS:
                _pillow_derivative(photo, target / f"{spec}.jpg", w, h, q)
            rendered += 1
        except Exception as exc:
            print(f"{photo.name}: {exc}", file=sys.stderr)
            failed += 1
    return {"rendered": rendered, "cached": 0, "failed": failed}


# --- original design --------------------------------------------------------------------


def _original_render(args: tuple[str, str]) -> tuple[str, str | None]:
    import pyvips

    path, target = args
    try:
        os.makedirs(target, exist_ok=True)
        for spec, w, h, q in SPECS:
            im = pyvips.Image.thumbnail(path, w, height=h)
            im.jpegsave(
                os.path.join(target, f"{spec}.jpg"),
                Q=q,
                interlace=True,
                optimize_coding=True,
                keep="none",
            )
    except Exception as exc:
        return path, str(exc)
    return path, None


def run_original(corpus: Path, out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(out / "original.db")
    db.execute("CREATE TABLE IF NOT EXISTS derivative_cache (photo_id TEXT PRIMARY KEY, md5 TEXT)")
    cached = rendered = failed = 0
    pending = []
    pool = None
    for photo in list_photos(corpus):
        digest = hashlib.md5(photo.read_bytes()).hexdigest()
        row = db.execute(
            "SELECT md5 FROM derivative_cache WHERE photo_id = ?", (photo.stem,)
        ).fetchone()
        if row is not None and row[0] == digest:
            cached += 1
            continue
        if pool is None:
            pool = multiprocessing.get_context("fork").Pool(ORIGINAL_WORKERS)
        job = pool.apply_async(_original_render, ((str(photo), str(out / photo.stem)),))
        pending.append((photo.stem, digest, job))
    for stem, digest, job in pending:
        path, error = job.get()
        if error is None:
            rendered += 1
            db.execute("INSERT OR REPLACE INTO derivative_cache VALUES (?, ?)", (stem, digest))
        else:
            print(f"{path}: {error}", file=sys.stderr)
            failed += 1
    db.commit()
    db.close()
    if pool is not None:
        pool.close()
        pool.join()
    return {"rendered": rendered, "cached": cached, "failed": failed}


# --- decode floor -----------------------------------------------------------------------


def _floor_init() -> None:
    os.environ["VIPS_CONCURRENCY"] = "1"
    import pyvips

    pyvips.concurrency_set(1)


def _floor_decode(path: str) -> str | None:
    import pyvips

    try:
        pyvips.Image.thumbnail(path, 1200, height=1200, size="down").copy_memory()
    except Exception as exc:
        return f"{path}: {exc}"
    return None


def run_floor(corpus: Path, out: Path) -> dict[str, Any]:
    paths = [str(p) for p in list_photos(corpus)]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(os.cpu_count() or 1, initializer=_floor_init) as pool:
        errors = [e for e in pool.imap_unordered(_floor_decode, paths) if e is not None]
    for e in errors:
        print(e, file=sys.stderr)
    return {"rendered": len(paths) - len(errors), "cached": 0, "failed": len(errors)}


RUNNERS: dict[str, Callable[[Path, Path], dict[str, Any]]] = {
    "sequential": run_sequential,
    "original": run_original,
    "floor": run_floor,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.contenders", description="Run one in-process contender."
    )
    parser.add_argument("name", choices=sorted(RUNNERS))
    parser.add_argument("corpus", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    summary = RUNNERS[args.name](args.corpus, args.out)
    summary["wall_seconds"] = round(time.perf_counter() - started, 4)
    print(json.dumps(summary))
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
