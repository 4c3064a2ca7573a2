"""The scaled JPEG path against the libvips path: same sizes, same verdicts, same look."""

from __future__ import annotations

import gc
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import pyvips
from hypothesis import given
from hypothesis import strategies as st

from derivo import CorruptImage, DerivoError, LimitExceeded, Limits, RenderTask, Spec, render
from derivo.decode import Decoded, decode, fitted_size
from derivo.render import fit
from derivo.specs import DEFAULT_SPECS
from tests.conftest import BADINPUT, ORIENTATION, SAMPLES

HASH = "cd" * 32
SPECS = (
    *DEFAULT_SPECS,
    Spec(name="square", width=256, height=256, fit="cover"),
    Spec(name="odd", width=333, height=171, quality=70),
)
SAMPLE_JPEGS = sorted(SAMPLES.glob("*.jpg")) + sorted(ORIENTATION.glob("*.jpg"))
BAD_JPEGS = sorted(BADINPUT.rglob("*.jp*g"))
LAPLACE = pyvips.Image.new_from_array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]])


@pytest.fixture(autouse=True)
def _as_in_a_worker() -> Iterator[None]:
    """No libvips operation cache, as in a worker: a cached JPEG loader of another test,
    freed later, reports its warnings then, in the middle of some other decode."""
    before = pyvips.cache_get_max()
    pyvips.cache_set_max(0)
    gc.collect()
    yield
    gc.collect()
    pyvips.cache_set_max(before)


def both(
    path: Path, specs: tuple[Spec, ...] = DEFAULT_SPECS, **limits: bool
) -> tuple[Decoded, Decoded]:
    fast = decode(path, specs, Limits(**limits))
    vips = decode(path, specs, Limits(**limits), scaled_jpeg=False)
    return fast, vips


def sizes(decoded: Decoded, specs: tuple[Spec, ...]) -> list[tuple[int, int]]:
    made = [fit(decoded.image, spec) for spec in specs]
    return [(decoded.source_width, decoded.source_height)] + [(i.width, i.height) for i in made]


# Quality: the scaled path must look like the libvips path.


def psnr(a: pyvips.Image, b: pyvips.Image) -> float:
    diff = a.cast("float") - b.cast("float")
    mse = (diff * diff).avg()
    return 99.0 if mse == 0 else 10 * math.log10(255**2 / mse)


def sharpness(image: pyvips.Image) -> float:
    """Mean absolute Laplacian of the grey image: falls sharply when an image is softened."""
    return float(image.colourspace("b-w").cast("float").conv(LAPLACE).abs().avg())


def looks_the_same(made: pyvips.Image, reference: pyvips.Image) -> list[str]:
    """What is visibly wrong with ``made`` against ``reference`` (same size), if anything."""
    problems = []
    if (made.width, made.height, made.bands) != (reference.width, reference.height, 3):
        return [f"size {made.width}x{made.height}x{made.bands}"]
    if (db := psnr(made, reference)) < 42:
        problems.append(f"PSNR {db:.1f} dB")
    shift = max(abs(made[i].avg() - reference[i].avg()) for i in range(3))
    if shift > 1.0:
        problems.append(f"colour shift {shift:.2f}")
    ratio = sharpness(made) / max(sharpness(reference), 1e-9)
    if not 0.9 <= ratio <= 1.15:
        problems.append(f"sharpness ratio {ratio:.2f}")
    return problems


@pytest.mark.parametrize("path", SAMPLE_JPEGS, ids=lambda p: p.name)
def test_the_scaled_path_looks_like_the_libvips_path(path: Path) -> None:
    fast, vips = both(path)
    assert fast.decoder == "libjpeg-turbo" and vips.decoder == "libvips"
    assert looks_the_same(fast.image, vips.image) == []


def test_the_quality_check_catches_blur_and_colour_shift() -> None:
    _, vips = both(SAMPLES / "jolla.jpg")
    reference = vips.image
    blurred = reference.gaussblur(0.8).cast("uchar")
    shifted = (reference + [0, 0, 4]).cast("uchar")
    assert any(p.startswith("sharpness") for p in looks_the_same(blurred, reference))
    assert any(p.startswith("colour shift") for p in looks_the_same(shifted, reference))
    assert looks_the_same(reference, reference) == []


# Sizes: exactly what the libvips path makes, for every spec.


@pytest.mark.parametrize("path", SAMPLE_JPEGS, ids=lambda p: p.name)
def test_derivative_sizes_match_the_libvips_path(path: Path) -> None:
    fast, vips = both(path, SPECS)
    assert sizes(fast, SPECS) == sizes(vips, SPECS)


@given(
    w=st.integers(1, 30_000),
    h=st.integers(1, 30_000),
    bw=st.integers(1, 4000),
    bh=st.integers(1, 4000),
)
def test_fitted_size_is_libvips_thumbnail_geometry(w: int, h: int, bw: int, bh: int) -> None:
    """Inside the box, never up, and libvips' size but where the exact size ends in .5:
    libvips reaches its size through a chain of shrinks whose rounding can fall the
    other way on such a tie (400x800 into 35x69 is 34.5 wide: libvips makes 34)."""
    made = pyvips.Image.black(w, h).thumbnail_image(bw, height=bh, size="down")
    fit_w, fit_h = fitted_size(w, h, bw, bh)
    assert 1 <= fit_w <= max(min(bw, w), 1) and 1 <= fit_h <= max(min(bh, h), 1)
    for got, vips, side, exact in (
        (fit_w, made.width, w, w * min(bw / w, bh / h, 1.0)),
        (fit_h, made.height, h, h * min(bw / w, bh / h, 1.0)),
    ):
        if got != vips:
            assert abs(got - vips) == 1 and abs(exact % 1 - 0.5) < 1e-6, (got, vips, side, exact)


@pytest.mark.parametrize(("w", "h", "bw", "bh"), [(400, 800, 35, 69), (70, 21, 45, 169)])
def test_fitted_size_rounds_a_half_up(w: int, h: int, bw: int, bh: int) -> None:
    """The two ties found against libvips: derivo rounds them up, libvips down."""
    made = pyvips.Image.black(w, h).thumbnail_image(bw, height=bh, size="down")
    ours = fitted_size(w, h, bw, bh)
    assert sorted(abs(a - b) for a, b in zip(ours, (made.width, made.height), strict=True)) == [
        0,
        1,
    ]


# Orientation, including scaled sizes that are odd.


def oriented_copy(orientation: int, width: int, height: int, folder: Path) -> Path:
    """landscape_<n>.jpg resized to an odd size, re-encoded with its EXIF orientation."""
    stored = pyvips.Image.new_from_file(str(ORIENTATION / f"landscape_{orientation}.jpg"))
    image = stored.resize(width / stored.width, vscale=height / stored.height).copy()
    image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    path = folder / f"odd_{orientation}.jpg"
    image.jpegsave(str(path), Q=95, keep="exif")
    return path


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_at_odd_scaled_sizes(orientation: int, tmp_path: Path) -> None:
    rotated = orientation >= 5
    # 2401x1601 decodes at 5/8 to 1501x1001, then 1200x800 (stored rotated: 1001x1501)
    path = oriented_copy(orientation, *((1601, 2401) if rotated else (2401, 1601)), tmp_path)
    upright = oriented_copy(1, 2401, 1601, tmp_path)
    fast, vips = both(path, SPECS)
    assert fast.decoder == "libjpeg-turbo"
    assert (fast.source_width, fast.source_height) == (2401, 1601)
    assert sizes(fast, SPECS) == sizes(vips, SPECS)
    assert (fast.image.width, fast.image.height) == (1200, 800)
    assert psnr(fast.image, vips.image) > 35
    reference = decode(upright, DEFAULT_SPECS, Limits()).image
    # ~22 dB: the eight files are separate encodes; a mirror or a turn is near 11 dB
    assert psnr(fast.image, reference) > 18, "not upright"
    assert psnr(fast.image.fliphor(), reference) < 15, "the check cannot tell a mirror"


# Colour: embedded profiles, CMYK, grey.


def test_an_embedded_profile_is_converted_to_srgb(tmp_path: Path) -> None:
    p3 = tmp_path / "p3.jpg"
    pyvips.Image.new_from_file(str(SAMPLES / "jolla.jpg")).icc_transform("p3").jpegsave(
        str(p3), Q=95, keep="icc"
    )
    fast, vips = both(p3)
    assert fast.decoder == "libjpeg-turbo"
    assert looks_the_same(fast.image, vips.image) == []
    untagged = decode(SAMPLES / "jolla.jpg", DEFAULT_SPECS, Limits()).image
    # Ignoring the profile would leave P3 numbers, washed out as sRGB.
    assert psnr(fast.image, untagged) > 30
    raw_p3 = tmp_path / "raw.jpg"
    p3_pixels = pyvips.Image.new_from_file(str(p3))
    p3_pixels.jpegsave(str(raw_p3), Q=95, keep="none")
    assert any(
        "colour" in p or "PSNR" in p
        for p in looks_the_same(decode(raw_p3, DEFAULT_SPECS, Limits()).image, fast.image)
    )


@pytest.mark.parametrize(
    "name", ["icc/Pillow__icc_profile_big.jpg", "gray16/Pillow__hopper_gray.jpg"]
)
def test_grey_and_big_profiles_take_the_scaled_path(name: str) -> None:
    fast, vips = both(BADINPUT / name, SPECS)
    assert fast.decoder == "libjpeg-turbo"
    assert fast.image.bands == 3 and fast.image.interpretation == "srgb"
    assert sizes(fast, SPECS) == sizes(vips, SPECS)
    assert psnr(fast.image, vips.image) > 40


@pytest.mark.parametrize(
    "name",
    [
        "cmyk/sharp__Channel_digital_image_CMYK_color.jpg",
        "cmyk/Pillow__pil_sample_cmyk.jpg",
        "icc/Pillow__icc-after-SOF.jpg",  # the binding stops at its bad ICC marker
    ],
)
def test_what_the_binding_declines_falls_back_to_libvips(name: str) -> None:
    fast, vips = both(BADINPUT / name, SPECS)
    assert fast.decoder == "libvips"
    assert fast.image.interpretation == "srgb" and fast.image.bands == 3
    assert sizes(fast, SPECS) == sizes(vips, SPECS)
    assert psnr(fast.image, vips.image) == 99.0


# Damaged data: the same verdict as the libvips path, unless lenient.


def outcome(
    path: Path, *, scaled: bool, lenient: bool = False
) -> tuple[str, str] | tuple[int, int]:
    try:
        image = decode(path, DEFAULT_SPECS, Limits(lenient=lenient), scaled_jpeg=scaled).image
    except DerivoError as exc:
        return type(exc).__name__, str(exc)
    return image.width, image.height


def damaged_copies(folder: Path) -> list[Path]:
    data = (SAMPLES / "jolla.jpg").read_bytes()
    cut = folder / "cut.jpg"
    cut.write_bytes(data[: len(data) * 2 // 3])
    garbled = bytearray(data)
    middle = len(data) // 2
    garbled[middle : middle + 64] = bytes(range(64))
    scrambled = folder / "scrambled.jpg"
    scrambled.write_bytes(bytes(garbled))
    no_end = folder / "no_end.jpg"
    no_end.write_bytes(data[:-2])
    return [cut, scrambled, no_end]


def test_damaged_jpegs_get_the_libvips_verdict(tmp_path: Path) -> None:
    for path in [*BAD_JPEGS, *damaged_copies(tmp_path)]:
        assert outcome(path, scaled=True) == outcome(path, scaled=False), path.name
    cut = tmp_path / "cut.jpg"
    kind, reason = outcome(cut, scaled=True)  # type: ignore[misc]
    assert kind == "CorruptImage" and reason.startswith("truncated or damaged JPEG")


def test_a_truncated_jpeg_renders_on_the_scaled_path_when_lenient(tmp_path: Path) -> None:
    cut = damaged_copies(tmp_path)[0]
    with pytest.raises(CorruptImage, match="truncated"):
        decode(cut, DEFAULT_SPECS, Limits())
    fast = decode(cut, DEFAULT_SPECS, Limits(lenient=True))
    assert fast.decoder == "libjpeg-turbo"
    assert (fast.image.width, fast.image.height) == (1200, 900)


def test_twelve_bit_is_refused_as_on_the_libvips_path() -> None:
    path = BADINPUT / "misc" / "libjpeg-turbo__monkey12.jpg"
    assert outcome(path, scaled=True) == outcome(path, scaled=False)
    assert outcome(path, scaled=True)[0] == "UnsupportedFormat"


# Limits, names, what is recorded.


def test_limits_come_from_the_header_before_any_decode(tmp_path: Path) -> None:
    data = bytearray((SAMPLES / "jolla.jpg").read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (60000).to_bytes(2, "big") * 2  # claims 60000x60000
    bomb = tmp_path / "bomb.jpg"
    bomb.write_bytes(bytes(data))
    with pytest.raises(LimitExceeded, match="60000x60000 exceeds the 200 MP limit"):
        decode(bomb, DEFAULT_SPECS, Limits())


def test_non_utf8_names_and_the_true_size_are_recorded(tmp_path: Path) -> None:
    name = os.fsdecode(b"caf\xe9-\xff.jpg")
    source = tmp_path / name
    shutil.copy(SAMPLES / "canon_hdr_NO.jpg", source)
    task = RenderTask(
        source=str(source), source_hash=HASH, specs=DEFAULT_SPECS, out_dir=str(tmp_path / "out")
    )
    result = render(task)
    header = pyvips.Image.new_from_file(str(SAMPLES / "canon_hdr_NO.jpg"))
    assert header.get("orientation") in (5, 6, 7, 8)
    assert (result.width, result.height) == (header.height, header.width)
    made = {d.spec: (d.width, d.height) for d in result.derivatives}
    assert made == {"thumbnail": (150, 200), "preview": (900, 1200)}
    assert decode(source, DEFAULT_SPECS, Limits()).decoder == "libjpeg-turbo"
