"""The renderer on real photos: orientation, colour, alpha, sizes, encoding, metadata."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvips
from hypothesis import given
from hypothesis import strategies as st

from derivo import (
    CorruptImage,
    LimitExceeded,
    Limits,
    RenderTask,
    Spec,
    UnsupportedFormat,
    render,
)
from derivo.decode import target_box
from derivo.specs import DEFAULT_SPECS
from tests.conftest import BADINPUT, ORIENTATION, SAMPLES
from tests.imaging import difference, jpeg_markers, load, metadata_fields

HASH = "ab" * 32


def run(source: Path, out: Path, specs: tuple[Spec, ...] = DEFAULT_SPECS, **limits: int) -> dict:
    task = RenderTask(
        source=str(source), source_hash=HASH, specs=specs, out_dir=str(out), limits=Limits(**limits)
    )
    return {d.spec: d for d in render(task).derivatives}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_comes_out_upright(orientation: int, tmp_path: Path) -> None:
    upright = run(ORIENTATION / "landscape_1.jpg", tmp_path / "ref")["preview"]
    made = run(ORIENTATION / f"landscape_{orientation}.jpg", tmp_path / "out")["preview"]
    assert (made.width, made.height) == (600, 450)
    assert difference(made.path, upright.path) < 8


def test_the_similarity_check_catches_a_mirror(tmp_path: Path) -> None:
    upright = run(ORIENTATION / "landscape_1.jpg", tmp_path)["preview"]
    mirrored = tmp_path / "mirrored.png"
    load(upright.path).fliphor().write_to_file(str(mirrored))
    flipped = tmp_path / "flipped.png"
    load(upright.path).flipver().write_to_file(str(flipped))
    assert difference(mirrored, upright.path) > 15
    assert difference(flipped, upright.path) > 15


def test_display_p3_heic_becomes_srgb_at_the_right_size(tmp_path: Path) -> None:
    made = run(SAMPLES / "IMG_5195.HEIC", tmp_path)
    assert (made["preview"].width, made["preview"].height) == (929, 1200)
    assert (made["thumbnail"].width, made["thumbnail"].height) == (155, 200)
    preview = load(made["preview"].path)
    assert preview.interpretation == "srgb" and preview.bands == 3
    assert "icc-profile-data" not in preview.get_fields()


def test_p3_colours_are_converted_not_copied(tmp_path: Path) -> None:
    made = run(BADINPUT / "icc" / "sharp__p3.png", tmp_path)
    red, green, blue = load(made["preview"].path).getpoint(4, 4)
    # Pure Display P3 red lies outside sRGB: converted, it clips to (255, 0, 0).
    assert red > 240 and green < 30 and blue < 30


def test_cmyk_is_converted_to_srgb(tmp_path: Path) -> None:
    made = run(BADINPUT / "cmyk" / "sharp__Channel_digital_image_CMYK_color.jpg", tmp_path)
    preview = load(made["preview"].path)
    assert preview.bands == 3 and preview.interpretation == "srgb"
    assert (preview.width, preview.height) == (500, 333)


def test_alpha_is_flattened_onto_white(tmp_path: Path) -> None:
    made = run(BADINPUT / "alpha" / "Pillow__rgb_trns.png", tmp_path)
    preview = load(made["preview"].path)
    assert preview.bands == 3
    # (0, 255, 52) is the colour key: transparent in the source, so white here.
    assert min(preview.getpoint(32, 32)) > 235
    assert preview.getpoint(0, 0)[0] > 240 and preview.getpoint(0, 0)[1] < 30


#: A small WebP besides the default JPEGs: the placeholder then comes from a libvips encode.
SMALL_WEBP = Spec(name="tiny", width=32, height=32, format="webp")


@pytest.mark.parametrize(
    ("values", "interpretation", "expected"),
    [
        ((100, 255), "b-w", (100, 100, 100)),  # grey and an opaque alpha
        ((200, 30, 30, 0), "srgb", (255, 255, 255)),  # transparent RGBA: white
        ((200, 30, 30, 90, 255), "multiband", (200, 30, 30)),  # the last band is alpha
    ],
    ids=["grey+alpha", "RGBA", "5 bands"],
)
def test_any_number_of_bands_comes_out_rgb(
    values: tuple[int, ...], interpretation: str, expected: tuple[int, ...], tmp_path: Path
) -> None:
    source = tmp_path / "bands.tif"
    image = (pyvips.Image.black(64, 48) + list(values)).cast("uchar")
    image.copy(interpretation=interpretation).tiffsave(str(source))
    made = run(source, tmp_path / "out", specs=(*DEFAULT_SPECS, SMALL_WEBP))
    assert made["tiny"].thumbhash is not None
    for derivative in made.values():
        derivative_image = load(derivative.path)
        assert derivative_image.bands == 3, derivative.spec
        assert derivative_image.getpoint(8, 8) == pytest.approx(expected, abs=4), derivative.spec


def test_first_page_of_a_multipage_tiff(tmp_path: Path) -> None:
    made = run(BADINPUT / "misc" / "Pillow__multipage.tiff", tmp_path)
    red, green, blue = load(made["preview"].path).getpoint(5, 5)
    assert (made["preview"].width, made["preview"].height) == (10, 10)
    assert green > 100 and red < 60 and blue < 60  # page 1 is green; 2 red, 3 blue


def test_progressive_jpeg_within_box_and_no_metadata(tmp_path: Path) -> None:
    source = SAMPLES / "jolla.jpg"
    assert metadata_fields(source), "the source must carry EXIF for this test to mean anything"
    made = run(source, tmp_path)
    for spec in DEFAULT_SPECS:
        derivative = made[spec.name]
        data = Path(derivative.path).read_bytes()
        assert 0xC2 in jpeg_markers(data), "SOF2 (progressive) marker missing"
        assert derivative.width <= spec.width and derivative.height <= spec.height
        assert max(derivative.width, derivative.height) == max(spec.width, spec.height)
        assert metadata_fields(derivative.path) == []
        assert derivative.bytes == len(data)


def test_small_photos_are_never_upscaled(tmp_path: Path) -> None:
    made = run(ORIENTATION / "landscape_1.jpg", tmp_path)
    assert (made["preview"].width, made["preview"].height) == (600, 450)
    assert (made["thumbnail"].width, made["thumbnail"].height) == (200, 150)


def test_cover_fills_the_box(tmp_path: Path) -> None:
    square = Spec(name="square", width=256, height=256, fit="cover", quality=80)
    made = run(SAMPLES / "jolla.jpg", tmp_path, specs=(square,))
    assert (made["square"].width, made["square"].height) == (256, 256)


def test_derivatives_land_at_content_addressed_paths(tmp_path: Path) -> None:
    made = run(SAMPLES / "jolla.jpg", tmp_path)
    for spec in DEFAULT_SPECS:
        assert Path(made[spec.name].path) == tmp_path / HASH[:2] / HASH / spec.filename
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize(
    ("path", "error", "reason"),
    [
        ("truncated/sharp__truncated.jpg", CorruptImage, "truncated or damaged JPEG"),
        ("truncated/sharp__truncated.png", CorruptImage, "truncated or damaged PNG"),
        ("bomb/sharp__65536-uint32-limit.png", LimitExceeded, "65536x65536 exceeds the 200 MP"),
        ("misc/libjpeg-turbo__monkey12.jpg", UnsupportedFormat, "precision 12"),
        ("corrupt/sharp__corrupt-header.jpg", CorruptImage, "JPEG"),
        ("bomb/Pillow__decompression_bomb.gif", CorruptImage, "GIF"),
    ],
)
def test_bad_inputs_raise_typed_one_line_errors(
    path: str, error: type[Exception], reason: str, tmp_path: Path
) -> None:
    with pytest.raises(error, match=reason) as caught:
        run(BADINPUT / path, tmp_path)
    assert "\n" not in str(caught.value)
    assert not list(tmp_path.rglob("*.jpg"))


def test_lenient_accepts_a_truncated_jpeg(tmp_path: Path) -> None:
    task = RenderTask(
        source=str(BADINPUT / "truncated" / "sharp__truncated.jpg"),
        source_hash=HASH,
        specs=DEFAULT_SPECS,
        out_dir=str(tmp_path),
        limits=Limits(lenient=True),
    )
    assert {d.spec for d in render(task).derivatives} == {"thumbnail", "preview"}


def test_limits_apply_before_decoding(tmp_path: Path) -> None:
    with pytest.raises(LimitExceeded, match="exceeds the 1 MP limit"):
        run(SAMPLES / "jolla.jpg", tmp_path, max_pixels=1_000_000)
    with pytest.raises(LimitExceeded, match="MB limit"):
        run(SAMPLES / "jolla.jpg", tmp_path, max_bytes=100_000)


def test_a_text_file_is_not_an_image(tmp_path: Path) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    with pytest.raises(UnsupportedFormat, match="not an image"):
        run(text, tmp_path)


sides = st.integers(min_value=1, max_value=20_000)


@given(w=sides, h=sides, bw=st.integers(1, 4000), bh=st.integers(1, 4000))
def test_target_box_never_upscales_and_covers_every_spec(w: int, h: int, bw: int, bh: int) -> None:
    inside = Spec(name="inside", width=bw, height=bh)
    cover = Spec(name="cover", width=bw, height=bh, fit="cover")
    tw, th = target_box(w, h, (inside,))
    assert tw <= w and th <= h
    assert (tw >= min(bw, w) - 1) or (th >= min(bh, h) - 1)
    cw, ch = target_box(w, h, (inside, cover))
    assert cw <= w and ch <= h
    assert cw >= min(bw, w) and ch >= min(bh, h)


def test_avif_source_and_webp_output(tmp_path: Path) -> None:
    source = tmp_path / "small.avif"
    load(SAMPLES / "jolla.jpg").resize(0.1).heifsave(str(source), compression="av1", Q=50)
    small = Spec(name="small", width=100, height=100, format="webp", quality=70)
    made = run(source, tmp_path / "out", specs=(small,))["small"]
    assert Path(made.path).suffix == ".webp"
    assert Path(made.path).read_bytes()[8:12] == b"WEBP"
    assert (made.width, made.height) == (100, 75)
