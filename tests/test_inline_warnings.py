"""In-process renders read a damaged EXIF block as a worker does: quietly, on the fast path."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

#: An EXIF block Pillow warns about: five entries said, one there.
DAMAGED_EXIF = b"II*\0\x08\0\0\0\x05\0" + struct.pack("<HHII", 0x010F, 2, 4, 0)

#: Two renders through the in-process executor (``derivo.thumbnail``) in a fresh
#: interpreter, whose warning filters are the command line's alone; prints what
#: decoded each photo and whether the second render changed the warning filters.
SCRIPT = """
import importlib, json, sys, warnings
import derivo

renderer = importlib.import_module("derivo.render")
decoders = []
decode = renderer.decode
def noting(*args, **kwargs):
    decoded = decode(*args, **kwargs)
    decoders.append(decoded.decoder)
    return decoded
renderer.decode = noting

first = derivo.thumbnail(sys.argv[1], "32x32", out=sys.argv[3])
filters = list(warnings.filters)
second = derivo.thumbnail(sys.argv[2], "32x32", out=sys.argv[3])
print(json.dumps({
    "sizes": [[first.width, first.height], [second.width, second.height]],
    "decoders": decoders,
    "filters_changed": warnings.filters != filters,
}))
"""


def _render_twice(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    photos = []
    for index, shade in enumerate((40, 200)):  # two photos: the second is no cache hit
        path = tmp_path / f"damaged-exif-{index}.jpg"
        Image.new("RGB", (64, 48), (shade, shade, shade)).save(
            path, "JPEG", exif=b"Exif\0\0" + DAMAGED_EXIF
        )
        photos.append(str(path))
    return subprocess.run(
        [sys.executable, *options, "-c", SCRIPT, *photos, str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )


@pytest.mark.slow
def test_an_in_process_render_prints_no_pillow_warning_for_a_damaged_exif_block(
    tmp_path: Path,
) -> None:
    run = _render_twice(tmp_path)
    assert "Warning" not in run.stderr, run.stderr
    report = json.loads(run.stdout)
    assert report["sizes"] == [[32, 24], [32, 24]]
    assert report["decoders"] == ["libjpeg-turbo", "libjpeg-turbo"]


@pytest.mark.slow
def test_with_warnings_as_errors_a_damaged_exif_block_still_takes_the_scaled_path(
    tmp_path: Path,
) -> None:
    """As in a worker: the header's warnings are silenced, not turned into a detour to libvips;
    and only once, so later renders leave the process's warning filters as they are."""
    report = json.loads(_render_twice(tmp_path, "-W", "error").stdout)
    assert report["sizes"] == [[32, 24], [32, 24]]
    assert report["decoders"] == ["libjpeg-turbo", "libjpeg-turbo"]
    assert report["filters_changed"] is False
