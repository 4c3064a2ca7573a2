"""Damaged input: decoder reports of missing pixels are refused, harmless ones are not."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pillow_heif
import pytest
import pyvips
from click.testing import CliRunner

from derivo import CorruptImage, Limits, RenderTask, UnsupportedFormat, render
from derivo.cli import main
from derivo.damage import Pixels, is_harmless, missing_blocks, missing_pixels
from derivo.specs import DEFAULT_SPECS
from tests.conftest import ORIENTATION, SAMPLES
from tests.oracle import check_file, flat_band

HASH = "cd" * 32
HEIF_BLOCKS = r"truncated or damaged HEIF \(\d+ blocks not decoded\)"


def run(source: Path, out: Path, *, lenient: bool = False) -> list[str | None]:
    """Render with the default specs; the oracle's verdict on each derivative."""
    task = RenderTask(
        source=str(source),
        source_hash=HASH,
        specs=DEFAULT_SPECS,
        out_dir=str(out),
        limits=Limits(lenient=lenient),
    )
    return [check_file(d.path) for d in render(task).derivatives]


def half_with_end_marker(folder: Path) -> Path:
    """The first half of a real photo closed with an end-of-image marker."""
    data = (SAMPLES / "jolla.jpg").read_bytes()
    path = folder / "half.jpg"
    path.write_bytes(data[: len(data) // 2] + b"\xff\xd9")
    return path


def huge_header_jpeg(folder: Path) -> Path:
    """507 bytes declaring 14000x14000: a few coded blocks and an end marker."""
    small = pyvips.Image.new_from_file(str(ORIENTATION / "landscape_1.jpg")).thumbnail_image(64)
    data = bytearray(small.jpegsave_buffer(Q=60, keep="none", optimize_coding=True))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 14000, 14000)
    path = folder / "huge.jpg"
    path.write_bytes(bytes(data[:505]) + b"\xff\xd9")
    return path


@pytest.mark.parametrize("make", [half_with_end_marker, huge_header_jpeg])
def test_a_jpeg_with_missing_data_and_an_end_marker_is_refused(make, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = make(tmp_path)
    with pytest.raises(CorruptImage) as caught:
        run(source, tmp_path / "out")
    assert str(caught.value) == (
        "truncated or damaged JPEG (Corrupt JPEG data: premature end of data segment)"
    )
    assert not list((tmp_path / "out").rglob("*.jpg"))


@pytest.mark.parametrize("make", [half_with_end_marker, huge_header_jpeg])
def test_lenient_renders_it_and_the_oracle_sees_the_grey(make, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    verdicts = run(make(tmp_path), tmp_path / "out", lenient=True)
    assert len(verdicts) == 2 and all(v is not None and "rows flat" in v for v in verdicts)


@pytest.mark.parametrize("make", [half_with_end_marker, huge_header_jpeg])
@pytest.mark.usefixtures("cli_renders_inline")
def test_the_cli_fails_the_photo_with_the_reason(make, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = make(tmp_path)
    result = CliRunner().invoke(
        main, ["process", str(source), "--out", str(tmp_path / "out"), "--json"]
    )
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert (summary["rendered"], summary["failed"]) == (0, 1)
    assert summary["failures"][0]["error"] == (
        "truncated or damaged JPEG (Corrupt JPEG data: premature end of data segment)"
    )


def test_padding_between_segments_is_a_harmless_warning(tmp_path: Path) -> None:
    """Bytes before a marker draw libjpeg's 'extraneous bytes' warning; every pixel is there."""
    data = (ORIENTATION / "landscape_1.jpg").read_bytes()
    dqt = data.index(b"\xff\xdb")
    padded = tmp_path / "padded.jpg"
    padded.write_bytes(data[:dqt] + b"\x00\x00\x00" + data[dqt:])
    assert run(padded, tmp_path / "out") == [None, None]


def test_a_png_cut_and_closed_with_iend_is_refused(tmp_path: Path) -> None:
    data = bytes(pyvips.Image.new_from_file(str(ORIENTATION / "landscape_1.jpg")).pngsave_buffer())
    cut = tmp_path / "cut.png"
    cut.write_bytes(data[: len(data) // 2] + b"\x00\x00\x00\x00IEND\xaeB`\x82")
    with pytest.raises(CorruptImage, match=r"^truncated or damaged PNG \("):
        run(cut, tmp_path / "out")
    assert all(v is not None for v in run(cut, tmp_path / "lenient", lenient=True))


def test_a_real_heic_cut_short_is_refused(tmp_path: Path) -> None:
    """libheif fills the grid tiles it lost; pillow-heif does not say so."""
    data = (SAMPLES / "IMG_5195.HEIC").read_bytes()
    cut = tmp_path / "cut.heic"
    cut.write_bytes(data[: len(data) * 6 // 10])
    with pytest.raises(CorruptImage, match=HEIF_BLOCKS):
        run(cut, tmp_path / "out")
    assert all(v is not None for v in run(cut, tmp_path / "lenient", lenient=True))


def small_heif(folder: Path) -> Path:
    """A one-image HEIF (no grid) encoded from a real photo."""
    photo = pyvips.Image.new_from_file(str(ORIENTATION / "landscape_1.jpg"))
    heif = pillow_heif.from_bytes(
        mode="RGB", size=(photo.width, photo.height), data=photo.write_to_memory()
    )
    path = folder / "whole.heic"
    heif.save(str(path), quality=85)
    return path


def test_a_single_image_heif_with_a_damaged_slice_is_refused(tmp_path: Path) -> None:
    whole = small_heif(tmp_path)
    assert pillow_heif.open_heif(str(whole)).info.get("tiling") is None
    assert run(whole, tmp_path / "out") == [None, None]
    data = whole.read_bytes()
    refused = []
    for tenth in range(1, 10):  # 512 bytes repeated in the coded data: the rest of a slice is lost
        at = len(data) * tenth // 10
        damaged = tmp_path / f"damaged-{tenth}.heic"
        damaged.write_bytes(data[:at] + data[at : at + 256] * 2 + data[at:])
        try:
            assert run(damaged, tmp_path / "out") == [None, None]
        except CorruptImage as exc:
            refused.append(str(exc))
    assert refused
    assert all(re.fullmatch(HEIF_BLOCKS, reason) for reason in refused)


@pytest.mark.parametrize(
    "photo",
    [
        *sorted(SAMPLES.glob("*.jpg")),
        SAMPLES / "IMG_5195.HEIC",
        *sorted(ORIENTATION.glob("*.jpg")),
    ],
    ids=lambda p: p.name,
)
def test_every_real_photo_renders_and_passes_the_oracle(photo: Path, tmp_path: Path) -> None:
    assert run(photo, tmp_path) == [None, None]


# The classifier, on libjpeg-turbo's own messages (jerror.h) as libvips relays them.


@pytest.mark.parametrize(
    "message",
    [
        "VipsJpeg: Corrupt JPEG data: 3 extraneous bytes before marker 0xdb",
        "VIPS: VipsJpeg: Warning: unknown JFIF revision number 3.01",
        "VipsJpeg: Unknown Adobe color transform code 7",
        "VipsJpeg: Corrupt JPEG data: bad ICC marker",
        "VipsJpeg: Invalid SOS parameters for sequential JPEG",
        "VIPS: read gave 1 warnings",
        "VIPS: iCCP: bad compression method",
        "VIPS: profile incompatible with image",
        "",
    ],
)
def test_harmless_reports(message: str) -> None:
    assert is_harmless(message)


@pytest.mark.parametrize(
    "message",
    [
        "VipsJpeg: Corrupt JPEG data: premature end of data segment",
        "VipsJpeg: Corrupt JPEG data: bad Huffman code",
        "VipsJpeg: Corrupt JPEG data: bad arithmetic code",
        "VipsJpeg: Corrupt JPEG data: found marker 0xd9 instead of RST3",
        "VipsJpeg: Premature end of JPEG file",
        "VipsJpeg: Inconsistent progression sequence for component 0 coefficient 1",
        "VIPS: read gave 2 warnings",
        "VIPS: vipspng: libpng read error",
        "VIPS: Not enough image data",
        "a message nobody has seen before",
    ],
)
def test_reports_of_missing_pixels(message: str) -> None:
    assert not is_harmless(message)


def test_missing_pixels_names_the_first_damaging_line() -> None:
    reports = [
        "VIPS: read gave 1 warnings",
        "VipsJpeg: Corrupt JPEG data: 3 extraneous bytes before marker 0xdb\n"
        "VipsJpeg: Corrupt JPEG data: bad Huffman code\n",
    ]
    assert missing_pixels(reports) == "Corrupt JPEG data: bad Huffman code"
    assert missing_pixels(reports[:1] + ["VipsJpeg: Corrupt JPEG data: bad ICC marker"]) is None


def test_a_counted_warning_whose_text_was_lost_is_not_trusted() -> None:
    assert missing_pixels(["VIPS: read gave 1 warnings", "VIPS: ", ""]) == "read gave 1 warnings"


def test_missing_blocks_finds_the_decoder_fill_anchored_at_either_corner() -> None:
    width, height, fill = 200, 150, b"\x00\x88\x00"
    rows = [bytes((x * 7 + y * 3) % 256 for x in range(width * 3)) for y in range(height)]
    clean = Pixels(b"".join(rows), width * 3, width, height, 3)
    assert missing_blocks(clean) == 0
    # a lost 64x64 block against the bottom-right corner, as after a rotation
    for y in range(height - 64, height):
        rows[y] = rows[y][: (width - 64) * 3] + fill * 64
    damaged = Pixels(b"".join(rows), width * 3, width, height, 3)
    assert missing_blocks(damaged) == 1
    grey = Pixels(b"\x80" * (width * 3 * height), width * 3, width, height, 3)
    assert missing_blocks(grey) == 0  # flat, but not the decoder's fill


def test_the_oracle_sees_flat_columns_as_well_as_rows() -> None:
    noise = pyvips.Image.gaussnoise(64, 64, mean=128, sigma=30).cast("uchar")
    assert flat_band(noise) is None
    left = noise.insert(pyvips.Image.black(8, 64) + 128, 0, 0).cast("uchar")
    assert flat_band(left) == "8 of 64 columns flat"
    top = noise.insert(pyvips.Image.black(64, 7) + 128, 0, 0).cast("uchar")
    assert flat_band(top) is None  # under an eighth


def test_a_heif_with_a_garbled_box_version_is_a_clean_error(tmp_path: Path) -> None:
    """pillow-heif raises SyntaxError for what it lacks; that is an input error, not a crash."""
    data = bytearray((SAMPLES / "IMG_5195.HEIC").read_bytes())
    pitm = data.index(b"pitm")
    data[pitm + 4] = 82  # the box's version
    garbled = tmp_path / "garbled.heic"
    garbled.write_bytes(bytes(data))
    with pytest.raises(UnsupportedFormat, match=r"^unsupported HEIF variant \(Unsupported "):
        run(garbled, tmp_path / "out")


@pytest.mark.parametrize(
    ("patches", "reason"),
    [  # (offset, byte before, byte after), as found by bench.fuzz
        (
            [(377, 100, 26), (382, 243, 84), (448, 234, 180), (559, 166, 121)],
            "corrupt HEIF: Decoder plugin generated an error: Unexpected end of file",
        ),
        ([(62, 0, 62), (357, 0, 1), (422, 238, 249)], "corrupt HEIF: no image in the file"),
    ],
)
def test_heif_headers_garbled_by_the_fuzzer_are_clean_errors(
    patches: list[tuple[int, int, int]], reason: str, tmp_path: Path
) -> None:
    data = bytearray(small_heif(tmp_path).read_bytes())
    for offset, before, after in patches:
        assert data[offset] == before, "the encoder's output changed: find new offsets"
        data[offset] = after
    garbled = tmp_path / "garbled.heic"
    garbled.write_bytes(bytes(data))
    with pytest.raises(CorruptImage) as caught:
        run(garbled, tmp_path / "out")
    assert str(caught.value) == reason
