"""Re-runs that only count unchanged photos, beyond what they share with re-runs that make
a result for each (``test_rerun_rows``): the brief rows they read, the CLI without
``--json``, and the bench's in-process re-run."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench import library as bench_library
from derivo import DerivativeCache, Pipeline
from derivo.cli import main
from derivo.discover import scan
from derivo.specs import PREVIEW, THUMBNAIL
from tests.conftest import CountingExecutor


def test_a_brief_row_holds_each_derivative_path_and_size_only(
    nested_library: Path, tmp_path: Path, executor: CountingExecutor
) -> None:
    out = tmp_path / "out"
    specs = (THUMBNAIL, PREVIEW)
    with DerivativeCache(out / "derivo.db") as cache:
        with Pipeline(cache=cache, executor=executor, out_dir=out) as pipeline:
            first = {Path(r.photo_id).name: r for r in pipeline.run(scan([nested_library]))}
        photo = str(nested_library / "a.jpg")
        full = cache.recorded_state([photo], specs)[photo]
        brief = cache.recorded_state([photo], specs, brief=True)[photo]
        made = first["a.jpg"].derivatives
        assert brief[:10] == full[:10]
        root = str(cache.root) + "/"
        assert [root + p for p in brief[10::2]] == [made[s].path for s in ("thumbnail", "preview")]
        assert list(brief[11::2]) == [made[s].bytes for s in ("thumbnail", "preview")]
        assert cache.files_in_place(brief, specs)
        assert cache.files_in_place(full, specs)
        # a row read for other specs, or a brief row read as a full one, is refused, not misread
        with pytest.raises(ValueError, match="row of 14 columns was not read for 1 specs"):
            cache.files_in_place(brief, specs[:1])
        with pytest.raises(ValueError, match="row of 24 columns was not read for 3 specs"):
            cache.files_in_place(full, (*specs, THUMBNAIL))
        with pytest.raises(ValueError, match="row of 14 columns is no full row for 2 specs"):
            cache.recorded_derivatives(brief, specs)
        os.truncate(made["preview"].path, 10)
        assert not cache.files_in_place(brief, specs)
        assert not cache.files_in_place(full, specs)


@pytest.mark.usefixtures("cli_renders_inline")
def test_the_cli_counts_unchanged_photos_and_remakes_a_deleted_derivative(
    nested_library: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    runner = CliRunner()
    command = ["process", str(nested_library), "--out", str(out), "--progress", "none"]
    first = runner.invoke(main, [*command, "--json"])
    assert first.exit_code == 0, first.output
    made = {Path(r["id"]).name: r for r in json.loads(first.output)["results"]}
    again = runner.invoke(main, command)
    assert again.exit_code == 0, again.output
    assert "0 rendered, 3 cached, 0 failed" in again.output
    Path(made["c.jpg"]["derivatives"][0]["path"]).unlink()
    third = runner.invoke(main, [*command, "--json"])
    summary = json.loads(third.output)
    assert (summary["rendered"], summary["cached"]) == (1, 2)
    assert {Path(r["id"]).name: r["outcome"] for r in summary["results"]} == {
        "a.jpg": "cached",
        "b.jpg": "cached",
        "c.jpg": "rendered",
    }
    Path(made["a.jpg"]["derivatives"][1]["path"]).unlink()
    fourth = runner.invoke(main, command)
    assert "1 rendered, 2 cached, 0 failed" in fourth.output


@pytest.mark.usefixtures("cli_renders_inline")
def test_the_benchs_in_process_rerun_counts_an_unchanged_library(
    nested_library: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = CliRunner().invoke(main, ["process", str(nested_library), "--out", str(out), "--json"])
    assert first.exit_code == 0, first.output
    done = subprocess.run(
        bench_library.in_process_command(nested_library, out),
        cwd=Path(bench_library.__file__).parent.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(done.stdout)
    assert (summary["photos"], summary["cached"], summary["rendered"]) == (3, 3, 0)
    assert summary["wall_seconds"] > 0 and summary["coordinator_peak_rss_mb"] > 0
