"""The renderer turns JPEG pixels by their EXIF orientation while it encodes, not in libvips.

Every derivative (inside and cover, JPEG and WebP, and the placeholder) must come out
as the libvips path makes it: the same size, the same pixels within rounding.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import pyvips
import thumbhash

from derivo import Limits, RenderTask, Spec, render
from derivo.decode import decode
from derivo.placeholder import thumbhash_of_pixels
from derivo.render import encode, fit, init_worker
from derivo.specs import DEFAULT_SPECS
from tests.conftest import ORIENTATION

SPECS = (
    *DEFAULT_SPECS,
    Spec(name="square", width=120, height=120, fit="cover"),
    Spec(name="tall", width=90, height=200, fit="cover"),
    Spec(name="small", width=150, height=150, format="webp", quality=80),
)


@pytest.fixture(scope="module", autouse=True)
def _worker_settings() -> None:
    init_worker()


def pixels(data: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "")


def mean_difference(a: pyvips.Image, b: pyvips.Image) -> float:
    assert (a.width, a.height) == (b.width, b.height)
    return float((a.cast("float") - b.cast("float")).abs().avg())


def reference(path: Path, spec: Spec) -> pyvips.Image:
    """The derivative as the libvips path makes it: rotated by ``autorot``, then fitted."""
    image = fit(decode(path, SPECS, Limits()).image, spec).copy_memory()
    return pixels(encode(image, spec))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_derivative_matches_the_libvips_rotation(orientation: int, tmp_path: Path) -> None:
    path = ORIENTATION / f"landscape_{orientation}.jpg"
    task = RenderTask(source=str(path), source_hash="cd" * 32, specs=SPECS, out_dir=str(tmp_path))
    made = {d.spec: d for d in render(task).derivatives}
    for spec in SPECS:
        expected = reference(path, spec)
        derivative = made[spec.name]
        image = pixels(Path(derivative.path).read_bytes())
        assert (derivative.width, derivative.height) == (expected.width, expected.height)
        assert (image.width, image.height) == (expected.width, expected.height)
        # within rounding: a quarter turn swaps which way each pass of the resize goes
        assert mean_difference(image, expected) < 4.0, spec.name


@pytest.mark.parametrize("orientation", [2, 5, 6, 7, 8])
def test_the_placeholder_is_of_the_turned_pixels(orientation: int, tmp_path: Path) -> None:
    path = ORIENTATION / f"landscape_{orientation}.jpg"
    task = RenderTask(
        source=str(path), source_hash="ef" * 32, specs=DEFAULT_SPECS, out_dir=str(tmp_path)
    )
    made = {d.spec: d for d in render(task).derivatives}
    assert made["thumbnail"].thumbhash is not None
    upright = fit(decode(path, DEFAULT_SPECS, Limits()).image, DEFAULT_SPECS[0]).copy_memory()
    made_hash = base64.b64decode(made["thumbnail"].thumbhash)
    width, height, rgba = thumbhash.thumb_hash_to_rgba(made_hash)
    expected = thumbhash.thumb_hash_to_rgba(base64.b64decode(thumbhash_of_pixels(upright)))
    assert (width, height) == expected[:2]
    assert sum(abs(a - b) for a, b in zip(rgba, expected[2], strict=True)) / len(rgba) < 3
    assert thumbhash.thumb_hash_to_approximate_aspect_ratio(made_hash) > 1  # landscape, turned


def test_the_comparison_sees_a_wrong_turn(tmp_path: Path) -> None:
    """The check above can fail: the upright photo against its mirror image."""
    path = ORIENTATION / "landscape_1.jpg"
    upright = reference(path, DEFAULT_SPECS[1])
    assert mean_difference(upright.fliphor(), upright) > 10
    assert mean_difference(upright.flipver(), upright) > 10
