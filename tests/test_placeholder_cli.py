"""The ThumbHash where the command line lists photos: ``derivo ls --json``, ``process --json``."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
import thumbhash
from click.testing import CliRunner

from derivo.cli import main
from tests.conftest import ORIENTATION

pytestmark = pytest.mark.usefixtures("cli_renders_inline")


def test_ls_and_process_json_carry_the_thumbnails_thumbhash(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(ORIENTATION / "landscape_1.jpg", photos / "IMG_0001.jpg")
    out = tmp_path / "out"
    processed = CliRunner().invoke(
        main, ["process", str(photos), "--out", str(out), "--workers", "1", "--json"]
    )
    assert processed.exit_code == 0, processed.output
    listed = CliRunner().invoke(main, ["ls", "--out", str(out), "--json"])
    assert listed.exit_code == 0, listed.output
    [photo] = json.loads(listed.stdout)
    by_spec = {d["spec"]: d for d in photo["derivatives"]}
    assert by_spec["preview"]["thumbhash"] is None  # made from the smallest derivative only
    assert photo["thumbhash"] == by_spec["thumbnail"]["thumbhash"]
    ratio = thumbhash.thumb_hash_to_approximate_aspect_ratio(base64.b64decode(photo["thumbhash"]))
    assert abs(ratio - 600 / 450) < 0.4
    assert photo["thumbhash"] in processed.stdout
