"""Re-runs that only count unchanged photos (``Pipeline.run(unchanged=...)``, the CLI
without ``--json``): no result is made for a photo that needs nothing, and the shortcut
still re-renders exactly what it must."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench import library as bench_library
from derivo import DerivativeCache, PhotoResult, Pipeline, Spec, SpecSet
from derivo import pipeline as pipeline_module
from derivo.cli import main
from derivo.discover import scan
from derivo.specs import PREVIEW, THUMBNAIL
from tests.conftest import SAMPLES, CountingExecutor

NAMES = ("a.jpg", "b.jpg", "c.jpg")


def old(path: Path, age: float = 86_400) -> None:
    then = time.time() - age
    os.utime(path, (then, then))


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """Three photos in nested folders, older than any record of them."""
    root = tmp_path / "lib"
    (root / "x" / "y").mkdir(parents=True)
    sources = ("jolla.jpg", "canon_hdr_NO.jpg", "Reconyx_HC500_Hyperfire.jpg")
    folders = (root, root / "x", root / "x" / "y")
    for name, sample, folder in zip(NAMES, sources, folders, strict=True):
        shutil.copy(SAMPLES / sample, folder / name)
        old(folder / name)
    return root


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Names of the sources the pipeline reads to hash (those the quick check did not vouch for)."""
    read: list[str] = []
    real = pipeline_module.hash_file

    def counted(path: Path) -> str:
        read.append(path.name)
        return real(path)

    monkeypatch.setattr(pipeline_module, "hash_file", counted)
    yield read


def counted_run(
    cache: DerivativeCache,
    executor: CountingExecutor,
    library: Path,
    out: Path,
    specs: SpecSet | None = None,
) -> tuple[dict[str, PhotoResult], list[int]]:
    """The results a counting run yields, by file name, and the counts it was told."""
    counts: list[int] = []
    with Pipeline(cache=cache, executor=executor, out_dir=out, specs=specs) as pipeline:
        results = {
            Path(r.photo_id).name: r for r in pipeline.run(scan([library]), unchanged=counts.append)
        }
    return results, counts


def test_an_unchanged_library_is_counted_with_no_result_made(
    library: Path, tmp_path: Path, executor: CountingExecutor, hashed: list[str]
) -> None:
    out = tmp_path / "out"
    with DerivativeCache(out / "derivo.db") as cache:
        first, first_counts = counted_run(cache, executor, library, out)
        hashed.clear()
        again, counts = counted_run(cache, executor, library, out)
    assert {r.outcome for r in first.values()} == {"rendered"} and first_counts == []
    assert again == {}
    assert sum(counts) == 3 and all(count > 0 for count in counts)
    assert hashed == []
    assert executor.submitted == 3


@pytest.mark.parametrize("damage", ["deleted", "cut short", "replaced by another size"])
def test_a_damaged_derivative_is_made_again_while_the_rest_are_counted(
    library: Path, tmp_path: Path, executor: CountingExecutor, hashed: list[str], damage: str
) -> None:
    out = tmp_path / "out"
    with DerivativeCache(out / "derivo.db") as cache:
        first, _ = counted_run(cache, executor, library, out)
        target = Path(first["b.jpg"].derivatives["thumbnail"].path)
        size = target.stat().st_size
        if damage == "deleted":
            target.unlink()
        elif damage == "cut short":
            os.truncate(target, size // 2)
        else:
            replacement = target.with_suffix(".new")
            replacement.write_bytes(target.read_bytes() + b"\0")
            os.replace(replacement, target)
        hashed.clear()
        again, counts = counted_run(cache, executor, library, out)
    assert {n: r.outcome for n, r in again.items()} == {"b.jpg": "rendered"}
    assert sum(counts) == 2
    assert target.stat().st_size == again["b.jpg"].derivatives["thumbnail"].bytes
    assert hashed == []  # the source is unchanged: its recorded hash still holds
    assert executor.submitted == 4


def test_a_touched_and_a_changed_source_are_not_counted(
    library: Path, tmp_path: Path, executor: CountingExecutor, hashed: list[str]
) -> None:
    out = tmp_path / "out"
    touched, changed = library / "x" / "b.jpg", library / "x" / "y" / "c.jpg"
    with DerivativeCache(out / "derivo.db") as cache:
        first, _ = counted_run(cache, executor, library, out)
        old(touched, age=3600)
        shutil.copy(SAMPLES / "orientation" / "landscape_3.jpg", changed)
        old(changed)
        hashed.clear()
        again, counts = counted_run(cache, executor, library, out)
    assert {n: r.outcome for n, r in again.items()} == {"b.jpg": "cached", "c.jpg": "rendered"}
    assert again["b.jpg"].derivatives == first["b.jpg"].derivatives
    assert sum(counts) == 1
    assert sorted(hashed) == ["b.jpg", "c.jpg"]


def test_a_source_no_older_than_its_record_is_hashed_not_counted(
    library: Path, tmp_path: Path, executor: CountingExecutor, hashed: list[str]
) -> None:
    out = tmp_path / "out"
    # an mtime not clearly older than the record: an edit in the same tick could go unseen
    old(library / "a.jpg", age=-86_400)
    with DerivativeCache(out / "derivo.db") as cache:
        counted_run(cache, executor, library, out)
        hashed.clear()
        again, counts = counted_run(cache, executor, library, out)
    assert {n: r.outcome for n, r in again.items()} == {"a.jpg": "cached"}
    assert sum(counts) == 2 and hashed == ["a.jpg"]


def test_a_changed_spec_is_rendered_for_every_photo_and_none_counted(
    library: Path, tmp_path: Path, executor: CountingExecutor
) -> None:
    out = tmp_path / "out"
    sharper = Spec(name="thumbnail", width=200, height=200, quality=90)
    with DerivativeCache(out / "derivo.db") as cache:
        counted_run(cache, executor, library, out)
        again, counts = counted_run(cache, executor, library, out, SpecSet((sharper, PREVIEW)))
    assert {r.outcome for r in again.values()} == {"rendered"} and len(again) == 3
    assert counts == []


def test_a_brief_row_holds_each_derivative_path_and_size_only(
    library: Path, tmp_path: Path, executor: CountingExecutor
) -> None:
    out = tmp_path / "out"
    with DerivativeCache(out / "derivo.db") as cache:
        first, _ = counted_run(cache, executor, library, out)
        photo = str(library / "a.jpg")
        full = cache.recorded_state([photo], (THUMBNAIL, PREVIEW))[photo]
        brief = cache.recorded_state([photo], (THUMBNAIL, PREVIEW), brief=True)[photo]
        made = first["a.jpg"].derivatives
        assert brief[:10] == full[:10]
        root = str(cache.root) + "/"
        assert [root + p for p in brief[10::2]] == [made[s].path for s in ("thumbnail", "preview")]
        assert list(brief[11::2]) == [made[s].bytes for s in ("thumbnail", "preview")]
        assert cache.files_in_place(brief, 2, brief=True)
        assert cache.files_in_place(full, 2)
        os.truncate(made["preview"].path, 10)
        assert not cache.files_in_place(brief, 2, brief=True)
        assert not cache.files_in_place(full, 2)


@pytest.mark.usefixtures("cli_renders_inline")
def test_the_cli_counts_unchanged_photos_and_remakes_a_deleted_derivative(
    library: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    runner = CliRunner()
    command = ["process", str(library), "--out", str(out), "--progress", "none"]
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
    library: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = CliRunner().invoke(main, ["process", str(library), "--out", str(out), "--json"])
    assert first.exit_code == 0, first.output
    done = subprocess.run(
        bench_library.in_process_command(library, out),
        cwd=Path(bench_library.__file__).parent.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(done.stdout)
    assert (summary["photos"], summary["cached"], summary["rendered"]) == (3, 3, 0)
    assert summary["wall_seconds"] > 0 and summary["coordinator_peak_rss_mb"] > 0
