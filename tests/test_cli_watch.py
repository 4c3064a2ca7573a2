"""``derivo watch``: renders what is there, then what appears; waits for copies to finish."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from derivo.watch import Settler
from tests.conftest import ORIENTATION, SAMPLES
from tests.watching import DEADLINE, watching


def test_a_file_is_ready_once_it_stops_changing(tmp_path: Path) -> None:
    growing, still = tmp_path / "growing.jpg", tmp_path / "still.jpg"
    growing.write_bytes(b"half")
    still.write_bytes(b"whole")
    settler = Settler(settle=2.0)
    settler.saw(growing, now=0.0)
    settler.saw(still, now=0.0)
    assert settler.ready(now=1.0) == []
    with open(growing, "ab") as f:
        f.write(b" and more")
    assert settler.ready(now=2.5) == [still]  # growing changed: its clock starts again
    assert settler.ready(now=4.0) == []
    assert settler.ready(now=4.5) == [growing]
    assert len(settler) == 0
    gone = tmp_path / "gone.jpg"
    gone.write_bytes(b"x")
    settler.saw(gone, now=5.0)
    gone.unlink()
    assert settler.ready(now=10.0) == [] and len(settler) == 0


@pytest.mark.slow  # a real command-line process
def test_watch_renders_existing_then_new_photos_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    lib, out = tmp_path / "lib", tmp_path / "out"
    lib.mkdir()
    (lib / "first.jpg").write_bytes((ORIENTATION / "landscape_1.jpg").read_bytes())
    with watching(lib, out) as watch:
        first = json.loads(watch.lines.get(timeout=DEADLINE))
        assert (Path(first["source"]).name, first["outcome"]) == ("first.jpg", "rendered")

        (lib / "notes.txt").write_text("not a photo")
        data = (SAMPLES / "jolla.jpg").read_bytes()
        (lib / "2024").mkdir()
        with open(lib / "2024" / "second.jpg", "wb") as f:  # copied in two parts
            f.write(data[: len(data) // 2])
            f.flush()
            f.write(data[len(data) // 2 :])
        # the text file came first: were it submitted, its line would be this one
        second = json.loads(watch.lines.get(timeout=DEADLINE))
        assert second["source"] == str(lib / "2024" / "second.jpg")
        assert second["outcome"] == "rendered"
        assert {d["spec"] for d in second["derivatives"]} == {"thumbnail", "preview"}
        assert all(Path(d["path"]).is_file() for d in second["derivatives"])
    assert watch.returncode == 0, watch.stderr
    assert watch.stderr == (
        f"Watching {lib} (Ctrl-C stops)\n"
        "Stopped: photos not finished stay pending for the next run.\n"
    )
    assert watch.lines.empty()
