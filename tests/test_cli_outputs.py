"""Finding the outputs: ``derivo ls``, per-photo JSON from ``process``, one failure shape."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from derivo.cli import main
from tests.conftest import BADINPUT, ORIENTATION

pytestmark = pytest.mark.usefixtures("cli_renders_inline")

TRUNCATED = BADINPUT / "truncated" / "sharp__truncated.jpg"


@pytest.fixture
def library(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(ORIENTATION / "landscape_1.jpg", folder / "IMG_0001.jpg")
    shutil.copy(TRUNCATED, folder / "broken.jpg")
    return folder


def process(library: Path, out: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["process", str(library), "--out", str(out), "--workers", "1", *extra]
    )
    return result.exit_code, result.stdout


def test_ls_names_every_derivative_with_size_bytes_and_path(
    library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    assert process(library, out)[0] == 1
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["ls", "--out", "out"])
    assert result.exit_code == 0, result.output
    files = {p.name.split("-")[0]: p for p in out.rglob("*.jpg")}
    assert sorted(files) == ["preview", "thumbnail"]
    rel = {name: p.relative_to(tmp_path) for name, p in files.items()}
    size = {name: p.stat().st_size for name, p in files.items()}
    broken = json.loads(CliRunner().invoke(main, ["status", "--out", "out", "--json"]).stdout)
    reason = broken["failures"][0]["error"]
    assert result.stdout == (
        f"photos/IMG_0001.jpg  done  600x450\n"
        f"  preview      600x450  {size['preview']:>11,} bytes  {rel['preview']}\n"
        f"  thumbnail    200x150  {size['thumbnail']:>11,} bytes  {rel['thumbnail']}\n"
        f"photos/broken.jpg  failed  corrupt: {reason}\n"
    )


def test_ls_json_and_path_filter(library: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    process(library, out)
    result = CliRunner().invoke(
        main, ["ls", "--out", str(out), "--json", str(library / "IMG_0001.jpg")]
    )
    assert result.exit_code == 0
    [photo] = json.loads(result.stdout)
    assert photo["source"] == str(library / "IMG_0001.jpg") and photo["status"] == "done"
    assert (photo["width"], photo["height"], photo["failure"]) == (600, 450, None)
    by_spec = {d["spec"]: d for d in photo["derivatives"]}
    thumb = by_spec["thumbnail"]
    assert (thumb["width"], thumb["height"], thumb["format"]) == (200, 150, "jpeg")
    assert Path(thumb["path"]).stat().st_size == thumb["bytes"]
    assert Path(thumb["path"]).is_relative_to(out)

    folder = CliRunner().invoke(main, ["ls", "--out", str(out), "--json", str(library)])
    assert len(json.loads(folder.stdout)) == 2
    (library / "IMG_0001.jpg").unlink()
    gone = CliRunner().invoke(main, ["ls", "--out", str(out), str(library / "IMG_0001.jpg")])
    assert (
        gone.stdout.splitlines()[0] == f"{library / 'IMG_0001.jpg'}  done  600x450  (source gone)"
    )
    nothing = CliRunner().invoke(main, ["ls", "--out", str(out), str(tmp_path / "elsewhere")])
    assert nothing.exit_code == 1
    assert nothing.stderr == f"no recorded photo under {tmp_path / 'elsewhere'}\n"


def test_ls_without_a_cache_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["ls", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert f"Error: no cache database at {tmp_path / 'derivo.db'}" in result.output


def test_process_json_lists_each_photo_and_failures_match_status(
    library: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code, stdout = process(library, out, "--json")
    assert code == 1
    summary = json.loads(stdout)
    by_source = {Path(r["source"]).name: r for r in summary["results"]}
    good, bad = by_source["IMG_0001.jpg"], by_source["broken.jpg"]
    assert good["outcome"] == "rendered" and good["failure"] is None
    assert {d["spec"] for d in good["derivatives"]} == {"thumbnail", "preview"}
    assert all(Path(d["path"]).is_file() for d in good["derivatives"])
    assert bad["outcome"] == "failed" and bad["derivatives"] == []
    status = json.loads(CliRunner().invoke(main, ["status", "--out", str(out), "--json"]).stdout)
    assert summary["failures"] == status["failures"] == [bad["failure"]]
    assert set(bad["failure"]) == {"id", "source", "kind", "error"}
    assert bad["failure"]["kind"] == "corrupt"


def test_progress_jsonl_prints_one_line_per_finished_photo(library: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, stdout = process(library, out, "--progress", "jsonl", "--json")
    assert code == 1
    *photos, last = [json.loads(line) for line in stdout.splitlines()]
    assert sorted(Path(p["source"]).name for p in photos) == ["IMG_0001.jpg", "broken.jpg"]
    assert last["summary"]["photos"] == 2 and last["summary"]["failed"] == 1
    code, stdout = process(library, out, "--progress", "jsonl")
    outcomes = sorted(json.loads(line)["outcome"] for line in stdout.splitlines())
    assert outcomes == ["cached", "failed"]
