"""Formats and placeholders: bytes per derivative in JPEG, WebP and AVIF, and their costs.

On the bench corpus (``bench/.corpus``, real-size camera-like JPEGs), each photo is
decoded once as derivo does, and each default derivative (thumbnail, preview)
encoded as derivo's JPEG and as the service's WebP and AVIF variants at their
qualities (:data:`derivo.service.variants.QUALITY`). Reported: total and median
bytes per format and derivative, bytes saved against JPEG, median encode CPU time;
and the ThumbHash CPU cost per photo (from the thumbnail's bytes, as the worker
does). CPU time, not wall time, so a busy machine does not inflate the costs.

With ``--cold``, also the time to the first byte of a cold AVIF preview from a
running ``derivo serve`` (the variant rendered on request) against a warm one.

Run from the repository root::

    python -m bench.variants              # 100 photos (AVIF: several minutes)
    python -m bench.variants --photos 30 --cold
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pyvips

from bench import corpus as corpus_mod
from derivo.decode import decode
from derivo.placeholder import thumbhash_of_picture
from derivo.render import encode, fit, init_worker, to_picture
from derivo.service.variants import QUALITY
from derivo.specs import DEFAULT_SPECS
from derivo.tasks import Limits

TOKEN = "bench-variants-token-0123456789"


def encoders(spec: Any) -> dict[str, Any]:
    """Each format's encoder for ``spec``, with the settings the service uses."""
    return {
        "jpeg": lambda image: encode(image, spec),
        "webp": lambda image: bytes(image.webpsave_buffer(Q=QUALITY["webp"], keep="none")),
        "avif": lambda image: bytes(
            image.heifsave_buffer(Q=QUALITY["avif"], compression="av1", keep="none")
        ),
    }


def measure_formats(paths: list[Path], formats: tuple[str, ...]) -> dict[str, Any]:
    init_worker()
    sizes: dict[tuple[str, str], list[int]] = {}
    seconds: dict[tuple[str, str], list[float]] = {}
    placeholder_ms: list[float] = []
    for path in paths:
        decoded = decode(path, DEFAULT_SPECS, Limits())
        for spec in DEFAULT_SPECS:
            image = fit(decoded.image, spec).copy_memory()
            for fmt, encoder in encoders(spec).items():
                if fmt not in formats:
                    continue
                started = time.process_time()
                data = encoder(image)
                seconds.setdefault((spec.name, fmt), []).append(time.process_time() - started)
                sizes.setdefault((spec.name, fmt), []).append(len(data))
                if spec.name == "thumbnail" and fmt == "jpeg":
                    runs = []
                    for _ in range(5):
                        started = time.process_time()
                        thumbhash_of_picture(to_picture(image))
                        runs.append(time.process_time() - started)
                    placeholder_ms.append(min(runs) * 1000)
    report: dict[str, Any] = {"photos": len(paths), "thumbhash_ms_median": 0.0, "derivatives": {}}
    report["thumbhash_ms_median"] = round(statistics.median(placeholder_ms), 3)
    report["thumbhash_ms_p95"] = round(sorted(placeholder_ms)[int(0.95 * len(placeholder_ms))], 3)
    for spec in DEFAULT_SPECS:
        jpeg_total = sum(sizes[(spec.name, "jpeg")])
        rows = {}
        for fmt in formats:
            total = sum(sizes[(spec.name, fmt)])
            rows[fmt] = {
                "quality": spec.quality if fmt == "jpeg" else QUALITY[fmt],
                "total_bytes": total,
                "median_bytes": int(statistics.median(sizes[(spec.name, fmt)])),
                "saved_vs_jpeg": round(1 - total / jpeg_total, 3),
                "encode_ms_median": round(statistics.median(seconds[(spec.name, fmt)]) * 1000, 1),
            }
        report["derivatives"][spec.name] = rows
    return report


def cold_avif(photo: Path) -> dict[str, float]:
    """Time to first byte of the AVIF preview: cold (made on request), then warm, and JPEG."""
    with tempfile.TemporaryDirectory(prefix="derivo-variants-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DERIVO_")}
        env.update(DERIVO_TOKEN=TOKEN, DERIVO_FORMATS="avif,webp")
        log = Path(tmp) / "server.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "derivo",
                    "serve",
                    "--data-dir",
                    f"{tmp}/data",
                    "--port",
                    "0",
                    "--workers",
                    "1",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        try:
            url = _wait_listening(log)
            headers = {"Authorization": f"Bearer {TOKEN}"}
            with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
                photo_id = client.post("/photos", content=photo.read_bytes()).json()["id"]
                while client.get(f"/photos/{photo_id}").json()["status"] != "done":
                    time.sleep(0.05)
                result = {}
                for label, accept in (
                    ("avif_cold_ms", "image/avif,*/*"),
                    ("avif_warm_ms", "image/avif,*/*"),
                    ("jpeg_ms", "image/jpeg"),
                ):
                    started = time.perf_counter()
                    with client.stream(
                        "GET", f"/photos/{photo_id}/preview", headers={"Accept": accept}
                    ) as answer:
                        next(answer.iter_raw(1))
                        result[label] = round((time.perf_counter() - started) * 1000, 1)
                        assert answer.headers["content-type"] == (
                            "image/jpeg" if label == "jpeg_ms" else "image/avif"
                        ), answer.headers["content-type"]
                return result
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)


def _wait_listening(log: Path) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if "listening on " in text:
            url = text.split("listening on ", 1)[1].split("/ ", 1)[0].rstrip("/")
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    return url
            except httpx.TransportError:
                pass
        time.sleep(0.1)
    raise SystemExit("the server did not start:\n" + log.read_text(errors="replace"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.variants", description=__doc__)
    parser.add_argument("--n", type=int, default=100, help="photos in the corpus (100)")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (1)")
    parser.add_argument(
        "--photos", type=int, default=None, help="use only the first PHOTOS of the corpus"
    )
    parser.add_argument(
        "--formats", default="jpeg,webp,avif", help="formats to encode (jpeg first; default all)"
    )
    parser.add_argument("--cold", action="store_true", help="also time a cold AVIF request")
    args = parser.parse_args(argv)
    corpus = corpus_mod.ensure(args.n, args.seed)
    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    report = measure_formats(corpus.paths[: args.photos], formats)
    if args.cold:
        report["first_byte"] = cold_avif(corpus.paths[0])
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    pyvips.cache_set_max(0)
    main()
