"""``process --json`` whose temp folder cannot hold the results spool: one line, exit 2."""

from __future__ import annotations

import multiprocessing
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from derivo.cli import main
from tests.conftest import SAMPLES


def test_a_temp_folder_where_the_spool_cannot_be_made_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = tmp_path / "gone"
    # set directly: through TMPDIR, Python would quietly pass over a missing folder
    # multiprocessing keeps the first temp folder it sees: not this one
    monkeypatch.setitem(multiprocessing.current_process()._config, "tempdir", tempfile.mkdtemp())
    monkeypatch.setattr(tempfile, "tempdir", str(gone))
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.jpg").write_bytes((SAMPLES / "jolla.jpg").read_bytes())
    result = CliRunner().invoke(
        main, ["process", str(photos), "--out", str(tmp_path / "out"), "--json"]
    )
    assert result.exit_code == 2, result.output
    assert result.output.splitlines() == [
        f"Error: cannot write results to the temp folder {gone}: No such file or directory; "
        "set TMPDIR to a writable folder"
    ]
    assert not (tmp_path / "out").exists(), "refused before any photo is touched"
