"""A library of many small photos: bulk re-runs, batched recording, bounded memory."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from bench.library import base_jpegs, distinct
from derivo import DerivativeCache, Pipeline, SpecSet, WorkerPool
from derivo import pipeline as pipeline_module
from derivo import recorder as recorder_module
from derivo.discover import find_photos
from derivo.outcomes import PhotoResult
from derivo.pipeline import FIRST_WINDOW, WINDOW, _windows
from derivo.summary import SHOWN_PER_KIND, Summary
from tests.conftest import SAMPLES, CountingExecutor

PHOTOS = WINDOW + 44  # more than one window of the real size
#: A window size for properties that hold for any size: a small library still spans
#: several windows, and reading ahead is bounded in hundreds of photos, not thousands.
SMALL_WINDOW = 16
SMALL_PHOTOS = 2 * SMALL_WINDOW + 7


def make_library(root: Path, photos: int) -> Path:
    """``photos`` distinct small JPEGs in nested folders, older than any record of them."""
    bases = base_jpegs(4, seed=7)
    old = time.time() - 86_400
    for index in range(photos):
        path = root / f"{index // 100}" / f"{index % 7}" / f"{index}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(distinct(bases[index % 4], index))
        os.utime(path, (old, old))
    return root


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_library(tmp_path_factory.mktemp("library"), PHOTOS)


@pytest.fixture(scope="module")
def small_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_library(tmp_path_factory.mktemp("small"), SMALL_PHOTOS)


@pytest.fixture
def small_windows(monkeypatch: pytest.MonkeyPatch) -> int:
    """Pipelines work in windows of ``SMALL_WINDOW`` photos and hold 16 windows ahead."""
    monkeypatch.setattr(pipeline_module, "WINDOW", SMALL_WINDOW)
    monkeypatch.setattr(pipeline_module, "_AHEAD", 16 * SMALL_WINDOW)
    return SMALL_WINDOW


def listing(folder: Path) -> list[tuple[str, Path]]:
    return [(found.photo_id, found.path) for found in find_photos([folder])]


class Traced:
    """A real SQLite connection that remembers every statement it runs."""

    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.statements: list[str] = []
        self.connection.set_trace_callback(self.statements.append)

    def since(self, start: int, *verbs: str) -> list[str]:
        return [s for s in self.statements[start:] if s.lstrip().upper().startswith(verbs)]


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[Traced]:
    db = Traced(tmp_path / "derivo.db")
    yield db
    db.connection.close()


def test_an_unchanged_library_is_answered_in_bulk_without_writing(
    library: Path, tmp_path: Path, traced: Traced, executor: CountingExecutor
) -> None:
    with DerivativeCache(traced.connection, root=tmp_path / "out") as cache:
        first = list(
            Pipeline(cache=cache, executor=executor, out_dir=tmp_path / "out").run(listing(library))
        )
        assert {r.outcome for r in first} == {"rendered"} and len(first) == PHOTOS
        submitted, start = executor.submitted, len(traced.statements)
        again = list(
            Pipeline(cache=cache, executor=executor, out_dir=tmp_path / "out").run(listing(library))
        )
    assert {r.outcome for r in again} == {"cached"} and len(again) == PHOTOS
    assert executor.submitted == submitted
    assert traced.since(start, "INSERT", "UPDATE", "DELETE", "BEGIN") == []
    windows = len(list(_windows(range(PHOTOS))))  # type: ignore[arg-type]
    assert len(traced.since(start, "SELECT")) == windows  # records with their derivatives
    assert {r.derivatives["thumbnail"].path for r in again} == {
        r.derivatives["thumbnail"].path for r in first
    }


def test_touched_files_are_hashed_and_recorded_in_one_transaction_per_window(
    small_library: Path, small_windows: int, tmp_path: Path, traced: Traced,
    executor: CountingExecutor,
) -> None:  # fmt: skip
    library = small_library
    with DerivativeCache(traced.connection, root=tmp_path / "out") as cache:
        make = lambda: Pipeline(cache=cache, executor=executor, out_dir=tmp_path / "out")  # noqa: E731
        list(make().run(listing(library)))
        assert len(listing(library)) > 2 * small_windows
        touched = [path for _, path in listing(library)[:FIRST_WINDOW]]
        later = time.time() - 3600
        for path in touched:
            os.utime(path, (later, later))
        start = len(traced.statements)
        outcomes = {r.photo_id: r.outcome for r in make().run(listing(library))}
        assert set(outcomes.values()) == {"cached"}
        assert len(traced.since(start, "BEGIN")) == 1  # the touched ones sit in one window
        for path in touched:
            record = cache.photo(str(path))
            assert record is not None and record.stat is not None
            assert record.stat.mtime_ns == path.stat().st_mtime_ns


def test_a_render_is_recorded_only_after_its_files_are_made_durable(
    tmp_path: Path, cache: DerivativeCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[tuple[list[Path], bool]] = []
    real = recorder_module.make_durable

    def spy(files: object) -> None:
        paths = [Path(f) for f in files]  # type: ignore[attr-defined]
        recorded = any(cache.derivatives_of([p.parent.name for p in paths], SpecSet()).values())
        synced.append((paths, recorded))
        real(paths)

    monkeypatch.setattr(recorder_module, "make_durable", spy)
    with WorkerPool(workers=1) as pool:  # workers on this machine leave the sync to the recorder
        pipeline = Pipeline(cache=cache, executor=pool, out_dir=tmp_path / "out")
        result = pipeline.submit("jolla", SAMPLES / "jolla.jpg").result(timeout=120)
    assert result.outcome == "rendered"
    made = {Path(d.path) for d in result.derivatives.values()}
    assert [(set(paths), recorded) for paths, recorded in synced] == [(made, False)]
    assert all(path.is_file() for path in made)


def test_run_reads_its_input_only_a_bounded_window_ahead(
    small_library: Path, small_windows: int, tmp_path: Path, cache: DerivativeCache,
    executor: CountingExecutor,
) -> None:  # fmt: skip
    photos = listing(small_library)
    list(Pipeline(cache=cache, executor=executor, out_dir=tmp_path / "out").run(photos))
    window, ahead = small_windows, pipeline_module._AHEAD
    pulled = 0
    rounds = -(-(2 * ahead + window) // len(photos))

    def repeated() -> Iterator[tuple[str, Path]]:
        nonlocal pulled
        for _ in range(rounds):  # longer than the window: only the window bounds what is read
            for photo in photos:
                pulled += 1
                yield photo

    pipeline = Pipeline(cache=cache, executor=executor, out_dir=tmp_path / "out")
    taken = 0
    for result in pipeline.run(repeated()):
        assert result.outcome == "cached"
        taken += 1
        assert pulled <= taken + ahead + window
    assert taken == pulled == rounds * len(photos)


def test_a_linked_photo_is_recorded_under_its_target(
    tmp_path: Path, make_pipeline, cache: DerivativeCache
) -> None:
    link = tmp_path / "link.jpg"
    link.symlink_to(SAMPLES / "jolla.jpg")
    result = make_pipeline().submit("linked", link).result(timeout=120)
    assert result.ok and result.source == str((SAMPLES / "jolla.jpg").resolve())
    assert cache.photo("linked").source == result.source  # type: ignore[union-attr]


def test_overlapping_paths_yield_each_photo_once(library: Path, tmp_path: Path) -> None:
    note = library / "0" / "note.txt"
    note.write_text("not a photo")
    try:
        inner = library / "1"
        named = next(inner.rglob("*.jpg"))
        found = [f.path for f in find_photos([inner, library, named, note])]
    finally:
        note.unlink()
    assert len(found) == len(set(found)) == PHOTOS + 1
    assert found[-1] == note.resolve()


def test_ten_thousand_failures_print_as_counts_by_kind_and_a_few_of_each() -> None:
    summary = Summary(db="out/derivo.db", wall=1.0)
    for index in range(10_000):
        kind, error = ("corrupt", "truncated JPEG") if index % 4 else ("limit", "too many pixels")
        summary.add(PhotoResult.failed(f"p{index}", f"/photos/{index}.jpg", None, error, kind=kind))
    console = Console(record=True, width=200)
    summary.print(console)
    text = console.export_text()
    lines = text.splitlines()
    assert len(lines) == 1 + 2 * (1 + SHOWN_PER_KIND) + 2
    assert "7500 failed (corrupt), for example:" in text
    assert "2500 failed (limit), for example:" in text
    assert "All 10000 failures: derivo status --db out/derivo.db" in text
    assert summary.as_dict()["failed_by_kind"] == {"corrupt": 7500, "limit": 2500}


def test_the_service_queries_use_indexes_not_scans(traced: Traced) -> None:
    with DerivativeCache(traced.connection) as cache:
        start = len(traced.statements)
        cache.photos(status="pending", after="m", limit=100)
        cache.photos(after="m", limit=100)
        cache.photo("x")
        cache.photo_by_hash("ab" * 32)
        cache.photos_by_id(["a", "b"])
        cache.derivatives_of(["ab" * 32], SpecSet())
        cache.derivatives("ab" * 32, SpecSet())
        queries = traced.since(start, "SELECT")
        assert len(queries) == 7
        for sql in queries:
            plan = " | ".join(
                row[3] for row in traced.connection.execute(f"EXPLAIN QUERY PLAN {sql}")
            )
            assert "SCAN" not in plan, f"{sql} -> {plan}"


def test_windows_start_small_and_double_up_to_the_full_size() -> None:
    sizes = [len(batch) for batch in _windows(range(3 * WINDOW))]  # type: ignore[arg-type]
    assert sizes[0] == FIRST_WINDOW
    assert all(b == min(2 * a, WINDOW) for a, b in zip(sizes, sizes[1:-1], strict=False))
    assert sum(sizes) == 3 * WINDOW and max(sizes) == WINDOW
