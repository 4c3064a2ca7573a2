"""How close the scaled JPEG path is to the libvips path and to a full decode, on the corpus.

    python -m bench.quality [--n 30]

For each photo, the preview-sized image of both decode paths is compared with a
reference (full-size decode, Lanczos3 straight to the same size): PSNR, the largest
shift of a channel's mean, and sharpness (mean absolute Laplacian) relative to the
reference. Printed per size class: the median and the worst photo.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from typing import Any

from bench import corpus as corpus_mod


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__)
    parser.add_argument("--n", type=int, default=30, help="photos per size class (default 30)")
    args = parser.parse_args(argv)

    import pyvips

    from derivo.decode import decode
    from derivo.render import init_worker
    from derivo.specs import DEFAULT_SPECS
    from derivo.tasks import Limits

    init_worker()
    laplace = pyvips.Image.new_from_array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]])

    def psnr(a: Any, b: Any) -> float:
        diff = a.cast("float") - b.cast("float")
        mse = (diff * diff).avg()
        return 99.0 if mse == 0 else 10 * math.log10(255**2 / mse)

    def sharpness(image: Any) -> float:
        return float(image.colourspace("b-w").cast("float").conv(laplace).abs().avg())

    def compare(made: Any, ref: Any) -> tuple[float, float, float]:
        shift = max(abs(made[i].avg() - ref[i].avg()) for i in range(3))
        return psnr(made, ref), shift, sharpness(made) / sharpness(ref)

    corpus = corpus_mod.ensure(100, 1)
    print("class      path     PSNR dB median/worst  mean shift max  sharpness min-max")
    for kind, folder in corpus_mod.by_class(corpus).items():
        rows: dict[str, list[tuple[float, float, float]]] = {"scaled": [], "libvips": []}
        for path in sorted(folder.iterdir())[: args.n]:
            full = pyvips.Image.new_from_file(str(path)).autorot().copy_memory()
            fast = decode(path, DEFAULT_SPECS, Limits()).image
            ref = full.resize(fast.width / full.width, vscale=fast.height / full.height)
            rows["scaled"].append(compare(fast, ref))
            vips = decode(path, DEFAULT_SPECS, Limits(), scaled_jpeg=False).image
            rows["libvips"].append(compare(vips, ref))
        for name, values in rows.items():
            dbs = [v[0] for v in values]
            shifts = [v[1] for v in values]
            sharp = [v[2] for v in values]
            print(
                f"{kind:<10} {name:<8} {statistics.median(dbs):6.1f} / {min(dbs):5.1f}"
                f"          {max(shifts):5.2f}        {min(sharp):.3f}-{max(sharp):.3f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
