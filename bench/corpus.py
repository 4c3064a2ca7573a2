"""Deterministic, camera-like JPEG corpus generated from the bundled sample photos.

Every photo is a random crop of one of ``samples/*.jpg``, resized to a camera resolution,
given per-pixel Gaussian sensor noise, saved as a quality-92 4:2:0 JPEG and tagged with a
random EXIF orientation. Photo ``i`` depends only on ``(seed, i)``, so a corpus is
identical on every machine with the same libvips version.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
SOURCES = ("jolla.jpg", "canon_hdr_NO.jpg", "Reconyx_HC500_Hyperfire.jpg")
DEFAULT_ROOT = Path(__file__).resolve().parent / ".corpus"
GENERATOR_VERSION = 1

# (kind, share of the corpus, width, height)
KINDS: tuple[tuple[str, float, int, int], ...] = (
    ("phone12mp", 0.6, 4000, 3000),
    ("dslr24mp", 0.3, 6000, 4000),
    ("old3mp", 0.1, 2048, 1536),
)
QUALITY = 92
NOISE_SIGMA = (3.5, 6.0)
BPP_BOUNDS = (1.8, 3.5)
NOISE_BANK = 2560
NOISE_TILE = 2048


@dataclass(frozen=True)
class PhotoSpec:
    index: int
    name: str
    kind: str
    width: int
    height: int
    source: str
    crop: tuple[int, int, int, int]
    sigma: float
    orientation: int
    noise_offset: tuple[int, int]


@dataclass(frozen=True)
class Corpus:
    directory: Path
    photos: list[dict[str, Any]]

    @property
    def paths(self) -> list[Path]:
        return [self.directory / p["name"] for p in self.photos]

    @property
    def total_bytes(self) -> int:
        return sum(int(p["bytes"]) for p in self.photos)


def kind_counts(n: int) -> list[int]:
    """Split ``n`` photos across KINDS proportionally (largest remainder)."""
    raw = [n * share for _, share, _, _ in KINDS]
    counts = [int(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - counts[i], reverse=True)
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def source_sizes() -> dict[str, tuple[int, int]]:
    import pyvips

    sizes: dict[str, tuple[int, int]] = {}
    for name in SOURCES:
        im = pyvips.Image.new_from_file(str(SAMPLES / name))
        sizes[name] = (im.width, im.height)
    return sizes


def plan(n: int, seed: int) -> list[PhotoSpec]:
    sizes = source_sizes()
    kinds: list[tuple[str, int, int]] = []
    for (kind, _, w, h), count in zip(KINDS, kind_counts(n), strict=True):
        kinds += [(kind, w, h)] * count
    random.Random(seed).shuffle(kinds)
    specs = []
    for i, (kind, w, h) in enumerate(kinds):
        rng = random.Random(f"{seed}:{i}")
        source = rng.choice(SOURCES)
        sw, sh = sizes[source]
        # Largest crop with the target aspect ratio, then shrink it by a random factor.
        aspect = w / h
        cw, ch = (sw, round(sw / aspect)) if sw / sh < aspect else (round(sh * aspect), sh)
        frac = rng.uniform(0.55, 1.0)
        cw, ch = max(64, round(cw * frac)), max(48, round(ch * frac))
        x, y = rng.randint(0, sw - cw), rng.randint(0, sh - ch)
        specs.append(
            PhotoSpec(
                index=i,
                name=f"IMG_{i + 1:04d}.jpg",
                kind=kind,
                width=w,
                height=h,
                source=source,
                crop=(x, y, cw, ch),
                sigma=round(rng.uniform(*NOISE_SIGMA), 2),
                orientation=rng.randint(1, 8),
                noise_offset=(
                    rng.randint(0, NOISE_BANK - NOISE_TILE),
                    rng.randint(0, NOISE_BANK - NOISE_TILE),
                ),
            )
        )
    return specs


_bank: Any = None


def _init_worker(seed: int) -> None:
    global _bank
    import pyvips

    pyvips.concurrency_set(1)
    _bank = pyvips.Image.gaussnoise(
        NOISE_BANK, NOISE_BANK, sigma=1.0, mean=0.0, seed=seed & 0x7FFFFFFF
    ).copy_memory()


def _render(args: tuple[PhotoSpec, str]) -> tuple[str, int]:
    import pyvips

    spec, directory = args
    target = Path(directory) / spec.name
    if target.exists():
        return spec.name, target.stat().st_size
    src = pyvips.Image.new_from_file(str(SAMPLES / spec.source))
    x, y, cw, ch = spec.crop
    im = src.crop(x, y, cw, ch).resize(spec.width / cw, vscale=spec.height / ch, kernel="linear")
    ox, oy = spec.noise_offset
    tile = _bank.crop(ox, oy, NOISE_TILE, NOISE_TILE)
    across = -(-spec.width // NOISE_TILE)
    down = -(-spec.height // NOISE_TILE)
    noise = tile.replicate(across, down).crop(0, 0, spec.width, spec.height)
    out = (im + noise * spec.sigma).cast("uchar").copy()
    for field in out.get_fields():
        if field.startswith("exif-") or field in (
            "xmp-data",
            "iptc-data",
            "icc-profile-data",
            "jpeg-thumbnail-data",
            "orientation",
        ):
            out.remove(field)
    out.set_type(pyvips.GValue.gint_type, "orientation", spec.orientation)
    tmp = target.with_suffix(".tmp")
    out.jpegsave(str(tmp), Q=QUALITY, subsample_mode="on", keep="exif")
    os.replace(tmp, target)
    return spec.name, target.stat().st_size


def _load_manifest(directory: Path) -> Corpus | None:
    manifest = directory / "manifest.json"
    try:
        data = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return None
    if data.get("generator_version") != GENERATOR_VERSION:
        return None
    photos = data.get("photos", [])
    for p in photos:
        path = directory / p["name"]
        if not path.is_file() or path.stat().st_size != p["bytes"]:
            return None
    return Corpus(directory, photos)


def bpp_stats(photos: list[dict[str, Any]]) -> dict[str, float]:
    bpp = [p["bytes"] * 8 / (p["width"] * p["height"]) for p in photos]
    return {"min": min(bpp), "median": statistics.median(bpp), "max": max(bpp)}


def ensure(n: int, seed: int, root: Path = DEFAULT_ROOT, workers: int | None = None) -> Corpus:
    """Return the corpus for ``(n, seed)``, generating missing files first."""
    directory = root / f"{n}-{seed}"
    existing = _load_manifest(directory)
    if existing is not None and len(existing.photos) == n:
        print(f"corpus: {n} photos cached in {directory}")
        return existing
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "manifest.json").unlink(missing_ok=True)
    version_file = directory / ".generator-version"
    if not version_file.exists() or version_file.read_text().strip() != str(GENERATOR_VERSION):
        for stale in directory.glob("IMG_*"):
            stale.unlink()
        version_file.write_text(f"{GENERATOR_VERSION}\n")
    for partial in directory.glob("*.tmp"):
        partial.unlink()
    specs = plan(n, seed)
    workers = workers or os.cpu_count() or 1
    print(f"corpus: generating {n} photos in {directory} with {workers} processes ...")
    started = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(seed,)) as pool:
        sizes = dict(pool.imap_unordered(_render, [(s, str(directory)) for s in specs]))
    photos = []
    for s in specs:
        entry = asdict(s)
        entry["bytes"] = sizes[s.name]
        photos.append(entry)
    stats = bpp_stats(photos)
    lo, hi = BPP_BOUNDS
    if not lo <= stats["median"] <= hi:
        raise RuntimeError(
            f"corpus median {stats['median']:.2f} bits/pixel is outside [{lo}, {hi}]; "
            "tune NOISE_SIGMA"
        )
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "n": n,
        "seed": seed,
        "quality": QUALITY,
        "subsampling": "4:2:0",
        "bits_per_pixel": stats,
        "photos": photos,
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"corpus: generated in {time.perf_counter() - started:.1f} s")
    return Corpus(directory, photos)


def describe(corpus: Corpus) -> str:
    stats = bpp_stats(corpus.photos)
    counts: dict[str, int] = {}
    for p in corpus.photos:
        counts[p["kind"]] = counts.get(p["kind"], 0) + 1
    kinds = ", ".join(f"{counts.get(k, 0)} x {k} ({w}x{h})" for k, _, w, h in KINDS)
    return (
        f"{len(corpus.photos)} JPEGs, {corpus.total_bytes / 1e6:.0f} MB: {kinds}; "
        f"bits/pixel min {stats['min']:.2f} median {stats['median']:.2f} "
        f"max {stats['max']:.2f}"
    )


def warm(corpus: Corpus) -> float:
    """Read every corpus file once so all contenders start with a warm page cache."""
    started = time.perf_counter()
    for path in corpus.paths:
        with path.open("rb") as f:
            while f.read(1 << 22):
                pass
    return time.perf_counter() - started


def by_class(corpus: Corpus) -> dict[str, Path]:
    """One folder of hard links per size class, in KINDS order.

    Beside the corpus (``<corpus>-by-class/<kind>/``), not in it: derivo recurses.
    """
    folders: dict[str, Path] = {}
    for kind, *_ in KINDS:
        names = [p["name"] for p in corpus.photos if p["kind"] == kind]
        if not names:
            continue
        folder = corpus.directory.with_name(corpus.directory.name + "-by-class") / kind
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            link = folder / name
            if not link.exists():
                os.link(corpus.directory / name, link)
        folders[kind] = folder
    return folders
