"""Decode a source once, at the smallest size every spec can still be made from.

JPEG goes through libjpeg-turbo's scaled decode (:mod:`derivo.jpeg`) and a
Lanczos3 resize in libvips; what that binding declines (CMYK, 12-bit, any warning
of damaged data) and PNG, WebP, GIF and TIFF go through libvips ``thumbnail``
(shrink-on-load, EXIF auto-rotation), whose damage reports :mod:`derivo.damage`
judges. HEIF goes through pillow-heif, since the libvips wheel has no HEVC
decoder, and its pixels are handed to libvips. Limits are checked from the file
size and header before any pixel is decoded.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyvips

from derivo import jpeg
from derivo.damage import Pixels, missing_blocks, missing_pixels, watch_vips
from derivo.errors import (
    CorruptImage,
    InputError,
    LimitExceeded,
    RenderFailed,
    SourceMissing,
    UnsupportedFormat,
)
from derivo.formats import sniff_file
from derivo.specs import Spec
from derivo.tasks import MB, Limits

_ROTATED = {5, 6, 7, 8}


@dataclass(frozen=True)
class Decoded:
    """The sRGB, 8-bit, alpha-free pixels in memory, plus the source size (as shown).

    ``orientation`` is the EXIF orientation still to apply to ``image``: 1 (none)
    unless :func:`decode` was asked to leave it to the caller.
    """

    image: Any
    source_width: int
    source_height: int
    format: str
    decoder: str = "libvips"
    orientation: int = 1


def decode(
    path: Path,
    specs: Iterable[Spec],
    limits: Limits,
    *,
    scaled_jpeg: bool = True,
    leave_orientation: bool = False,
) -> Decoded:
    """Decode ``path`` once, shrunk on load to what the largest spec needs.

    ``scaled_jpeg=False`` decodes JPEG with libvips alone, to compare the two paths.
    With ``leave_orientation`` the scaled JPEG path does not rotate the pixels but
    says how in :attr:`Decoded.orientation`: the renderer turns them while it
    encodes, where it costs a third of a rotation in libvips.
    """
    _check_file_size(path, limits)
    # libvips keeps warnings of earlier, successful decodes in its error buffer, and a
    # later error's reason would be read from them: start each photo with it empty.
    pyvips.vips_lib.vips_error_clear()
    try:
        fmt = sniff_file(path)
    except OSError as exc:  # may pass (permissions, a flaky share): not a verdict on the photo
        raise RenderFailed(f"cannot read source: {exc.strerror}") from None
    if fmt is None:
        raise UnsupportedFormat("not an image (unrecognised file contents)")
    try:
        if fmt == "heif":
            return _decode_heif(path, tuple(specs), limits)
        if fmt == "jpeg" and scaled_jpeg:
            decoded = _decode_jpeg(_read(path), tuple(specs), limits, leave_orientation)
            if decoded is not None:
                return decoded
        return _decode_vips(path, fmt, tuple(specs), limits)
    except pyvips.Error as exc:
        raise classify_vips_error(fmt, exc) from None


def _check_file_size(path: Path, limits: Limits) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise SourceMissing("source file not found") from None
    if not stat.S_ISREG(st.st_mode):
        raise UnsupportedFormat("not a regular file")
    size = st.st_size
    if size > limits.max_bytes:
        raise LimitExceeded(
            f"file of {size / MB:.0f} MB exceeds the {limits.max_bytes / MB:.0f} MB limit"
            " (--max-mb)"
        )
    if size == 0:
        raise UnsupportedFormat("empty file")


def _read(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise RenderFailed(f"cannot read source: {exc.strerror}") from None


def _check_pixels(width: int, height: int, limits: Limits) -> None:
    if width * height > limits.max_pixels:
        raise LimitExceeded(
            f"{width}x{height} exceeds the {limits.max_pixels / 1e6:g} MP limit (--max-pixels)"
        )


def target_box(width: int, height: int, specs: Iterable[Spec]) -> tuple[int, int]:
    """Smallest size (never above the source) from which every spec can be made."""
    scale = 0.0
    for spec in specs:
        sx, sy = spec.width / width, spec.height / height
        scale = max(scale, max(sx, sy) if spec.fit == "cover" else min(sx, sy))
    scale = min(scale, 1.0)
    return max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))


def fitted_size(width: int, height: int, box_w: int, box_h: int) -> tuple[int, int]:
    """Size of ``width`` x ``height`` fitted inside the box, never up: libvips' own rounding.

    The same arithmetic as libvips ``thumbnail``, so both decode paths make
    derivatives of exactly the same size.
    """
    shrink = max(width / box_w, height / box_h, 1.0)
    return int(width / min(shrink, width) + 0.5), int(height / min(shrink, height) + 0.5)


def _decode_jpeg(
    data: bytes, specs: tuple[Spec, ...], limits: Limits, leave_orientation: bool = False
) -> Decoded | None:
    """Scaled libjpeg-turbo decode, Lanczos3 to the box, then orientation and colour.

    None when the binding declines the file: libvips then decodes it from the file,
    exactly as if this path did not exist, and its damage check gives the verdict.
    """
    header = jpeg.read_header(data)
    if header is None:
        return None
    width, height = header.width, header.height
    _check_pixels(width, height, limits)
    rotated = header.orientation in _ROTATED
    if rotated:
        width, height = height, width
    out_w, out_h = fitted_size(width, height, *target_box(width, height, specs))
    if rotated:  # the decoder works before orientation is applied
        out_w, out_h = out_h, out_w
    pixels = jpeg.decode_scaled(data, out_w, out_h, gray=header.gray, lenient=limits.lenient)
    if pixels is None:
        return None
    image = jpeg.to_vips(pixels)
    if (image.width, image.height) != (out_w, out_h):
        image = image.resize(out_w / image.width, vscale=out_h / image.height, kernel="lanczos3")
    image = image.copy()
    if header.icc is not None:
        image.set_type(pyvips.GValue.blob_type, "icc-profile-data", header.icc)
    if leave_orientation:
        return Decoded(
            _finish(image), width, height, "jpeg", "libjpeg-turbo", orientation=header.orientation
        )
    if header.orientation != 1:
        image.set_type(pyvips.GValue.gint_type, "orientation", header.orientation)
        image = image.autorot()
    return Decoded(_finish(image), width, height, "jpeg", decoder="libjpeg-turbo")


def _decode_vips(path: Path, fmt: str, specs: tuple[Spec, ...], limits: Limits) -> Decoded:
    # Read through a descriptor: pyvips cannot open file names that are not UTF-8.
    fd = os.open(path, os.O_RDONLY)
    try:
        source = pyvips.Source.new_from_descriptor(fd)
        header = pyvips.Image.new_from_source(source, "", access="sequential")
        width, height = header.width, header.height
        _check_pixels(width, height, limits)
        if header.get_typeof("orientation") and header.get("orientation") in _ROTATED:
            width, height = height, width
        box_w, box_h = target_box(width, height, specs)
        del header
        if limits.lenient:
            image = pyvips.Image.thumbnail_source(source, box_w, height=box_h, size="down")
            return Decoded(_finish(image), width, height, fmt)
        with watch_vips() as reports:
            # Loader options go in option_string: as a keyword, thumbnail_source drops fail_on.
            image = pyvips.Image.thumbnail_source(
                source, box_w, height=box_h, size="down", option_string="fail_on=truncated"
            )
            reports.snapshot()
            pixels = _finish(image)
            del image, source  # the JPEG loader reports its warning count when freed
        refuse_missing_pixels(fmt, reports.messages)
        return Decoded(pixels, width, height, fmt)
    finally:
        os.close(fd)


def refuse_missing_pixels(fmt: str, reports: list[str]) -> None:
    """Raise :class:`CorruptImage` if a decoder said pixels are missing (see derivo.damage)."""
    damage = missing_pixels(reports)
    if damage is not None:
        raise CorruptImage(f"truncated or damaged {fmt.upper()} ({damage})")


def _decode_heif(path: Path, specs: tuple[Spec, ...], limits: Limits) -> Decoded:
    import pillow_heif

    try:
        with open(path, "rb") as f:
            heif = pillow_heif.open_heif(f, convert_hdr_to_8bit=True)
            if not len(heif):
                raise CorruptImage("corrupt HEIF: no image in the file")
            width, height = heif.size
            if width < 1 or height < 1:
                raise CorruptImage(f"corrupt HEIF: a {width}x{height} image")
            _check_pixels(width, height, limits)
            data, stride, mode = heif.data, heif.stride, heif.mode
    except (ValueError, RuntimeError, OSError, EOFError, SyntaxError) as exc:
        # pillow-heif raises SyntaxError, as Pillow's plugins do, for features it lacks,
        # and EOFError when the decoder runs out of data.
        detail = _first_line(str(exc))
        if detail.startswith("Unsupported feature"):
            raise UnsupportedFormat(f"unsupported HEIF variant ({detail})") from None
        raise CorruptImage(f"corrupt HEIF: {detail}") from None
    bands = len(mode)
    image = pyvips.Image.new_from_memory(data, stride // bands, height, bands, "uchar")
    if stride != width * bands:
        image = image.crop(0, 0, width, height)
    if not limits.lenient and bands >= 3:
        missing = missing_blocks(Pixels(data, stride, width, height, bands))
        if missing:
            raise CorruptImage(f"truncated or damaged HEIF ({missing} blocks not decoded)")
    image = image.copy(interpretation="srgb")
    icc = heif.info.get("icc_profile")
    if icc:
        image.set_type(pyvips.GValue.blob_type, "icc-profile-data", icc)
    # libheif has applied the container's rotation; its EXIF orientation is not re-applied.
    box_w, box_h = target_box(width, height, specs)
    image = image.thumbnail_image(box_w, height=box_h, size="down")
    return Decoded(_finish(image), width, height, "heif")


def _to_srgb(image: Any) -> Any:
    """Convert from the embedded profile (or CMYK) to sRGB, on the already shrunk image.

    Asking ``thumbnail`` for ``export_profile`` instead costs shrink-on-load
    (measured: 272 ms against 101 ms a 12 MP JPEG), so the transform runs here.
    """
    if image.get_typeof("icc-profile-data"):
        try:
            return image.icc_transform("srgb", embedded=True, intent="perceptual")
        except pyvips.Error:
            pass  # an unusable profile (e.g. a few stray bytes): fall back to the colourspace
    if image.interpretation == "cmyk":
        return image.icc_transform("srgb", input_profile="cmyk", intent="perceptual")
    return image


def _finish(image: Any) -> Any:
    """8-bit sRGB, alpha flattened onto white, computed once into memory."""
    image = _to_srgb(image)
    if image.interpretation not in ("srgb", "b-w") or image.format != "uchar":
        image = image.colourspace("srgb")
    if image.hasalpha():
        image = image.flatten(background=[255.0])
    if image.bands < 3:
        image = image.colourspace("srgb")
    if image.format != "uchar":
        image = image.cast("uchar")
    return image.copy_memory()


def _first_line(text: str) -> str:
    """The most specific line of a decoder's message, without library prefixes."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith("unable to ")]
    if not useful:
        return "cannot read the image data"
    return useful[0].removeprefix("VipsJpeg: ").removeprefix("vipspng: ")


def classify_vips_error(fmt: str, exc: pyvips.Error) -> InputError:
    """Turn a libvips error into a typed, one-line, human reason."""
    detail = _first_line(f"{exc.message}\n{exc.detail or ''}")
    low = detail.lower()
    name = fmt.upper()
    if any(s in low for s in ("premature end", "truncated", "read error", "unexpected end")):
        return CorruptImage(f"truncated or damaged {name} ({detail}; --lenient accepts it)")
    if any(s in low for s in ("unsupported", "not supported", "not been built")):
        return UnsupportedFormat(f"unsupported {name} variant ({detail})")
    return CorruptImage(f"corrupt {name} ({detail})")
