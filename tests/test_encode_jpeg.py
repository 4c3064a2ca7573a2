"""JPEG derivatives are encoded through Pillow: the same pixels as libvips' jpegsave."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import pyvips
from PIL import Image, JpegImagePlugin

from derivo.decode import decode
from derivo.limits import Limits
from derivo.render import encode, fit
from derivo.specs import DEFAULT_SPECS, Spec, parse_inline

SAMPLES = sorted((Path(__file__).parent.parent / "samples").glob("*.jpg"))


def _vips_jpeg(image: pyvips.Image, spec: Spec) -> bytes:
    return bytes(
        image.jpegsave_buffer(
            Q=spec.quality, interlace=spec.progressive, optimize_coding=True, keep="none"
        )
    )


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


@pytest.mark.parametrize("sample", SAMPLES[:3], ids=lambda p: p.name)
@pytest.mark.parametrize("spec", DEFAULT_SPECS, ids=lambda s: s.name)
def test_same_pixels_and_sizes_as_jpegsave(sample: Path, spec: Spec) -> None:
    image = fit(decode(sample, DEFAULT_SPECS, Limits()).image, spec)
    ours, theirs = encode(image, spec), _vips_jpeg(image, spec)
    picture = Image.open(io.BytesIO(ours))
    assert picture.size == (image.width, image.height)
    assert picture.info.get("progressive") == 1
    assert "exif" not in picture.info and "icc_profile" not in picture.info
    assert np.array_equal(_pixels(ours), _pixels(theirs))
    # the only extra bytes are the 18 of the JFIF header
    assert len(ours) - len(theirs) == 18


@pytest.mark.parametrize(("quality", "sampling"), [(85, 2), (89, 2), (90, 0), (95, 0)])
def test_chroma_subsampling_follows_quality_as_in_jpegsave(quality: int, sampling: int) -> None:
    image = pyvips.Image.new_from_file(str(SAMPLES[0])).thumbnail_image(120)
    spec = parse_inline(f"t=120x120,quality={quality}")
    data = encode(image, spec)
    assert JpegImagePlugin.get_sampling(Image.open(io.BytesIO(data))) == sampling
    assert np.array_equal(_pixels(data), _pixels(_vips_jpeg(image, spec)))


def test_grey_stays_one_channel_and_baseline_when_asked() -> None:
    grey = pyvips.Image.new_from_file(str(SAMPLES[0])).thumbnail_image(64).colourspace("b-w")
    spec = parse_inline("g=64x64,progressive=no")
    data = encode(grey, spec)
    picture = Image.open(io.BytesIO(data))
    assert picture.mode == "L"
    assert "progressive" not in picture.info
    assert np.array_equal(_pixels(data), _pixels(_vips_jpeg(grey, spec)))


def test_other_pixel_formats_stay_with_libvips() -> None:
    wide = pyvips.Image.new_from_file(str(SAMPLES[0])).thumbnail_image(64).cast("ushort")
    data = encode(wide, parse_inline("w=64x64"))
    assert Image.open(io.BytesIO(data)).size == (wide.width, wide.height)
