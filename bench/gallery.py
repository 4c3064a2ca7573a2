"""Gallery benchmark: first paint and time to visible thumbnails with a big library.

Seeds a data directory with ``--n`` done photos (rows in SQLite and real thumbnail
files, made from ``samples/``), starts ``derivo serve`` on it, and loads the gallery
in headless Chromium at desktop (1280x800) and phone (375x812) size, ``--runs``
times each, alternating. Reported per size, median of the runs:

- first contentful paint (the browser's own ``paint`` timing);
- time until every thumbnail inside the first screen has loaded;
- the cards in the page then (the gallery pages through the API as one scrolls).

Run from the repository root::

    python -m bench.gallery                # 5,000 photos, 5 runs per size
    python -m bench.gallery --n 500 --runs 1
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import blake3
import httpx

from derivo.cache import DerivativeCache, PhotoStatus
from derivo.capture import Captured
from derivo.render import render
from derivo.specs import DEFAULT_SPECS
from derivo.tasks import RenderTask

if TYPE_CHECKING:
    from playwright.sync_api import Browser

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
TOKEN = "bench-gallery-token-0123456789"
SIZES = {"desktop": (1280, 800), "phone": (375, 812)}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]

VISIBLE_LOADED = """() => {
  const imgs = [...document.querySelectorAll('#grid img.thumb')].filter((img) => {
    const r = img.getBoundingClientRect();
    return r.bottom > 0 && r.top < innerHeight;
  });
  return imgs.length > 0 && imgs.every((img) => img.complete && img.naturalWidth > 0)
    ? performance.now() : null;
}"""

FIRST_PAINT = """() => {
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  return fcp ? fcp.startTime : null;
}"""


def seed_library(data_dir: Path, count: int, *, sources: list[Path] | None = None) -> list[str]:
    """Record ``count`` done photos in ``data_dir`` as ``derivo serve`` would; returns their ids.

    Every photo gets its own hash, name and capture time (one hour apart, newest
    first as ids go), and derivative rows pointing at a few real files made from
    ``sources`` (default: the sample JPEGs), with their ThumbHash.
    """
    sources = sources or sorted(SAMPLES.glob("*.jpg"))
    out = data_dir / "derivatives"
    made = []
    for source in sources:
        task = RenderTask(
            source=str(source),
            source_hash=blake3.blake3(source.read_bytes()).hexdigest(),
            specs=DEFAULT_SPECS,
            out_dir=str(out.resolve()),
        )
        made.append(render(task).derivatives)
    ids = []
    start = time.time() - 3600
    with DerivativeCache(data_dir / "derivo.db", root=out) as cache:
        for n in range(count):
            photo_id = secrets.token_urlsafe(9)
            source_hash = blake3.blake3(f"seed-{n}".encode()).hexdigest()
            cache.put_photo(
                photo_id,
                source=str(data_dir / "originals" / source_hash),
                stat=None,
                source_hash=source_hash,
                status=PhotoStatus.DONE,
                name=f"IMG_{n:05d}.JPG",
                captured=Captured(at=start - n * 3600, offset=0, source="exif"),
            )
            cache.set_status(photo_id, PhotoStatus.DONE, size=(4000, 3000))
            cache.record(source_hash, DEFAULT_SPECS, made[n % len(made)])
            ids.append(photo_id)
    return ids


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DERIVO_")}
    env["DERIVO_TOKEN"] = TOKEN
    log = open(data_dir.parent / "server.log", "wb")  # noqa: SIM115 (kept open for the server)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "derivo",
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            "0",
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = (data_dir.parent / "server.log").read_text(errors="replace")
        if "listening on " in text:
            url = text.split("listening on ", 1)[1].split("/ ", 1)[0].rstrip("/")
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    return proc, url
            except httpx.TransportError:
                pass
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    raise SystemExit("the server did not start:\n" + text)


def load_once(browser: Browser, url: str, size: str) -> dict[str, float]:
    """One cold page load (new browser context: empty cache) at ``size``."""
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(url + "/")
    done = page.wait_for_function(VISIBLE_LOADED, timeout=60_000, polling=16)
    visible = float(done.json_value())
    page.wait_for_function(FIRST_PAINT, timeout=10_000)
    result = {
        "first_paint_ms": float(page.evaluate(FIRST_PAINT)),
        "visible_thumbs_ms": visible,
        "cards": float(page.locator("#grid .card").count()),
    }
    context.close()
    return result


def measure(url: str, runs: int) -> dict[str, dict[str, float]]:
    """Medians per size over ``runs`` loads, sizes alternating (A B A B)."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    seen: dict[str, list[dict[str, float]]] = {size: [] for size in SIZES}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        for _ in range(runs):
            for size in SIZES:
                seen[size].append(load_once(browser, url, size))
        browser.close()
    return {
        size: {key: statistics.median(r[key] for r in loads) for key in loads[0]}
        for size, loads in seen.items()
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gallery", description=__doc__)
    parser.add_argument("--n", type=int, default=5000, help="photos in the library (5000)")
    parser.add_argument("--runs", type=int, default=5, help="page loads per size (5)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="derivo-gallery-") as tmp:
        data_dir = Path(tmp) / "data"
        started = time.perf_counter()
        seed_library(data_dir, args.n)
        print(f"seeded {args.n} photos in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        proc, url = start_server(data_dir)
        try:
            report = measure(url, args.runs)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(20)
    print(json.dumps({"photos": args.n, "runs": args.runs, **report}, indent=2))


if __name__ == "__main__":
    main()
