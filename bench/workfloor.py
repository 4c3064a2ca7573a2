"""The work floor: the least work that makes both default derivatives of every photo.

Per photo: read the bytes, decode with libjpeg-turbo at the smallest M/8 scale at
or above the preview box, Lanczos3 to 1200 px and from that to 200 px, encode both
as progressive JPEG into memory. Nothing else: no EXIF orientation, no colour
management, no hashing, no cache, nothing written. One process per core.

    python -m bench.workfloor CORPUS [OUT]      # prints {"rendered": ..., "wall_seconds": ...}
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

# (box, JPEG quality): the preview first, the thumbnail made from it
PREVIEW = (1200, 85)
THUMBNAIL = (200, 80)


def _init() -> None:
    import pyvips

    pyvips.concurrency_set(1)
    pyvips.cache_set_max(0)


def _fit(width: int, height: int, box: int) -> tuple[int, int]:
    scale = min(box / width, box / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _work(path: str) -> int:
    import pyvips
    import simplejpeg

    data = Path(path).read_bytes()
    height, width, _, _ = simplejpeg.decode_jpeg_header(data)
    pw, ph = _fit(width, height, PREVIEW[0])
    pixels = simplejpeg.decode_jpeg(data, min_width=pw, min_height=ph)
    image = pyvips.Image.new_from_memory(pixels.data, pixels.shape[1], pixels.shape[0], 3, "uchar")
    preview = image.resize(pw / image.width, vscale=ph / image.height, kernel="lanczos3")
    preview = preview.copy_memory()
    tw, th = _fit(pw, ph, THUMBNAIL[0])
    thumb = preview.resize(tw / pw, vscale=th / ph, kernel="lanczos3")
    written = 0
    for im, quality in ((preview, PREVIEW[1]), (thumb, THUMBNAIL[1])):
        written += len(im.jpegsave_buffer(Q=quality, interlace=True, keep="none"))
    return written


def main(argv: list[str]) -> int:
    corpus = Path(argv[0])
    paths = sorted(str(p) for p in corpus.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1, _init) as pool:
        sizes = pool.map(_work, paths, chunksize=1)
    wall = time.perf_counter() - started
    print(json.dumps({"rendered": len(sizes), "cached": 0, "failed": 0, "wall_seconds": wall}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
