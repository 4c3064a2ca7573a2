"""``render(task)``: the only code that touches pixels.

Decode once (see :mod:`derivo.decode`), make every spec from that one image,
encode, and write atomically to the content-addressed paths. No database, no
configuration, no globals: it runs the same in a worker process or on a Dask node.
"""

from __future__ import annotations

import ctypes
import io
import resource
import time
from pathlib import Path
from typing import Any

import blake3
import pyvips
from PIL import Image

from derivo import jpeg
from derivo.atomic import write_atomically
from derivo.decode import classify_vips_error, decode
from derivo.formats import FORMATS
from derivo.placeholder import thumbhash_of_picture
from derivo.specs import Spec
from derivo.tasks import Derivative, RenderResult, RenderTask, derivative_path

# Pillow imports its common readers and writers on the first save; done on import, the
# fork server does it once instead of every worker (about 10 ms each).
Image.preinit()


def render(task: RenderTask) -> RenderResult:
    """Render every spec of ``task``; raises an :class:`~derivo.errors.InputError` on bad input."""
    started = time.perf_counter()
    source = Path(task.source)
    decoded = decode(source, task.specs, task.limits, leave_orientation=True)
    out_dir = Path(task.out_dir)
    files: dict[str, bytes] = {}
    derivatives = []
    try:
        # Each image is turned upright while it is encoded (``turns``), but a centre crop
        # is taken upright, so that it falls on exactly the pixels the libvips path takes.
        turns = [1 if spec.fit == "cover" else decoded.orientation for spec in task.specs]
        upright = _turned(decoded.image, decoded.orientation)
        images = [  # lazy: sizes, no pixels
            fit(decoded.image, spec, turn) if turn != 1 else fit(upright, spec)
            for spec, turn in zip(task.specs, turns, strict=True)
        ]
        # the placeholder is made from the smallest one's pixels: computed once, used twice
        smallest = min(
            range(len(images)), key=lambda i: images[i].width * images[i].height, default=-1
        )
        if images:
            images[smallest] = images[smallest].copy_memory()
        for index, (spec, image, turn) in enumerate(zip(task.specs, images, turns, strict=True)):
            placeholder = None
            if _by_pillow(image, spec):
                picture = to_picture(image, turn)
                data = save_jpeg(picture, spec)
                if index == smallest:
                    placeholder = thumbhash_of_picture(picture)
            else:
                data = encode(image, spec, turn)
                if index == smallest:
                    placeholder = thumbhash_of_picture(to_picture(image, turn))
            width, height = _shown_size(image, turn)
            path = derivative_path(out_dir, task.source_hash, spec)
            files[path.name] = data
            derivatives.append(
                Derivative(
                    spec=spec.name,
                    path=str(path),
                    width=width,
                    height=height,
                    bytes=len(data),
                    format=spec.format,
                    thumbhash=placeholder,
                    blake3=blake3.blake3(data).hexdigest(),
                )
            )
    except pyvips.Error as exc:
        raise classify_vips_error(decoded.format, exc) from None
    if derivatives:
        write_atomically(Path(derivatives[0].path).parent, files, sync=task.sync)
    return RenderResult(
        width=decoded.source_width,
        height=decoded.source_height,
        derivatives=tuple(derivatives),
        seconds=time.perf_counter() - started,
        peak_rss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    )


#: EXIF orientations that swap width and height.
_TRANSPOSED = {5, 6, 7, 8}
#: Pillow's turn for each EXIF orientation (as ``ImageOps.exif_transpose`` does it).
_TURNS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def fit(image: Any, spec: Spec, orientation: int = 1) -> Any:
    """Resize into the spec's box, never up; ``cover`` crops the centre to fill it.

    ``image`` is shown turned by the EXIF ``orientation``: a quarter turn swaps the box.
    """
    box_w, box_h = spec.width, spec.height
    if orientation in _TRANSPOSED:
        box_w, box_h = box_h, box_w
    if spec.fit == "cover":
        return image.thumbnail_image(box_w, height=box_h, size="down", crop="centre")
    if image.width <= box_w and image.height <= box_h:
        return image
    return image.thumbnail_image(box_w, height=box_h, size="down")


def _turned(image: Any, orientation: int) -> Any:
    """``image`` turned upright by libvips (lazily: nothing is computed until used)."""
    if orientation == 1:
        return image
    image = image.copy()
    image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    return image.autorot()


def _shown_size(image: Any, orientation: int) -> tuple[int, int]:
    if orientation in _TRANSPOSED:
        return image.height, image.width
    return image.width, image.height


def encode(image: Any, spec: Spec, orientation: int = 1) -> bytes:
    """Encode to the spec's format (its encoder and options in the format table), no
    metadata, turned by the EXIF ``orientation``."""
    if _by_pillow(image, spec):
        return save_jpeg(to_picture(image, orientation), spec)
    image = _turned(image, orientation)
    fmt = FORMATS[spec.format]
    assert fmt.encoder is not None, f"{fmt.name} is not an output format"
    save = getattr(image, fmt.encoder)
    return bytes(save(**fmt.options(spec.quality, spec.progressive), keep="none"))


_PILLOW_MODES = {1: "L", 3: "RGB"}


def _by_pillow(image: Any, spec: Spec) -> bool:
    return spec.format == "jpeg" and image.format == "uchar" and image.bands in _PILLOW_MODES


def to_picture(image: Any, orientation: int = 1) -> Image.Image:
    """The pixels of a libvips image (8-bit, grey or RGB) as a Pillow image, turned by the
    EXIF ``orientation``.

    The resize runs here, as it would inside ``jpegsave``. Pillow turns the pixels
    in blocks, on the copy it makes anyway to encode: measured 1.6 ms against 5.3 ms
    for libvips ``autorot`` on a 1200x900 preview.
    """
    mode = _PILLOW_MODES[image.bands]
    pixels = image.write_to_memory()
    picture = Image.frombuffer(mode, (image.width, image.height), pixels, "raw", mode, 0, 1)
    turn = _TURNS.get(orientation)
    return picture if turn is None else picture.transpose(turn)


def encode_jpeg(image: Any, spec: Spec) -> bytes:
    """A libvips image (8-bit, grey or RGB) as JPEG through Pillow (:func:`save_jpeg`)."""
    return save_jpeg(to_picture(image), spec)


def save_jpeg(picture: Image.Image, spec: Spec) -> bytes:
    """JPEG through Pillow: the same libjpeg-turbo as libvips' ``jpegsave``, without its
    pipeline's fixed cost per call (0.56 against 0.07 ms CPU for a 64x48 thumbnail,
    13.3 against 11.1 ms for a 1200x900 preview, one thread).

    Settings match ``jpegsave``'s: optimised Huffman tables, 4:2:0 chroma below
    quality 90 and 4:4:4 from it, nothing but the JFIF header written.
    """
    out = io.BytesIO()
    picture.save(
        out,
        "JPEG",
        quality=spec.quality,
        progressive=spec.progressive,
        optimize=True,
        subsampling="4:2:0" if spec.quality < 90 else "4:4:4",
    )
    return out.getvalue()


def init_worker() -> None:
    """Per-process setup: one libvips thread, no operation cache, freed memory reused,
    Pillow's header warnings silenced.

    One thread keeps N workers at about N cores; the cache is off because it keys
    on file names, and a source may change between two tasks.
    """
    pyvips.concurrency_set(1)
    pyvips.cache_set_max(0)
    reuse_freed_memory()
    jpeg.ignore_header_warnings()


#: glibc ``mallopt`` parameters, and the values a render worker runs with.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_ABOVE = 32 * 2**20  # the most glibc allows; larger buffers still go back at once
_TRIM_ABOVE = 64 * 2**20  # free memory a worker keeps at most, for its next photo


def reuse_freed_memory() -> None:
    """Keep the buffers of one photo for the next instead of giving them back to the kernel.

    glibc returns large freed blocks (the file's bytes, the decoded pixels, the
    encoders' buffers) at once, so every photo faults in ~8 MB of fresh zeroed
    pages again: measured 600-2,200 page faults and 4-7 ms of system CPU per
    12-24 MP photo, against about 80 faults and 2.5-3.3 ms with these settings.
    Elsewhere than glibc (no ``mallopt``) the allocator's own policy stands.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, _MMAP_ABOVE)
    mallopt(_M_TRIM_THRESHOLD, _TRIM_ABOVE)
