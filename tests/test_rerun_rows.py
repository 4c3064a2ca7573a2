"""Re-runs answered from one plain row per photo: the shortcut still re-renders exactly
what it must (a derivative deleted, cut short or replaced, a source touched or changed,
a spec changed) and answers the rest with the derivatives the cache records."""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from derivo import DerivativeCache, PhotoResult, Pipeline, Spec, SpecSet
from derivo import pipeline as pipeline_module
from derivo.cache import FileStat
from derivo.discover import scan
from derivo.outcomes import printable
from derivo.specs import PREVIEW, THUMBNAIL
from derivo.tasks import Derivative
from tests.conftest import SAMPLES, CountingExecutor

NAMES = ("a.jpg", "b.jpg", "c.jpg")


def old(path: Path, age: float = 86_400) -> None:
    then = time.time() - age
    os.utime(path, (then, then))


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """Three photos in a nested folder, older than any record of them."""
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


def run(
    cache: DerivativeCache,
    executor: CountingExecutor,
    library: Path,
    out: Path,
    specs: SpecSet | None = None,
) -> dict[str, PhotoResult]:
    pipeline = Pipeline(cache=cache, executor=executor, out_dir=out, specs=specs)
    with pipeline:
        return {Path(r.photo_id).name: r for r in pipeline.run(scan([library]))}


def derivative_of(results: dict[str, PhotoResult], name: str) -> Path:
    return Path(results[name].derivatives["preview"].path)


def test_an_unchanged_rerun_answers_with_exactly_the_recorded_derivatives(
    library: Path, tmp_path: Path, executor: CountingExecutor, hashed: list[str]
) -> None:
    out = tmp_path / "out"
    with DerivativeCache(out / "derivo.db") as cache:
        first = run(cache, executor, library, out)
        hashed.clear()
        again = run(cache, executor, library, out)
        for name, result in again.items():
            assert result.outcome == "cached"
            assert result.source_hash == first[name].source_hash
            assert (result.width, result.height) == (first[name].width, first[name].height)
            recorded = cache.derivatives_of([result.source_hash or ""], SpecSet())
            assert result.derivatives == recorded[result.source_hash or ""]
            assert result.derivatives == first[name].derivatives
    assert hashed == []  # every photo answered by the quick check
    assert executor.submitted == 3


@pytest.mark.parametrize("damage", ["deleted", "cut short", "replaced by another size"])
def test_a_damaged_derivative_is_made_again_and_only_its_photo(
    library: Path, tmp_path: Path, executor: CountingExecutor, hashed: list[str], damage: str
) -> None:
    out = tmp_path / "out"
    with DerivativeCache(out / "derivo.db") as cache:
        first = run(cache, executor, library, out)
        target = derivative_of(first, "b.jpg")
        recorded_size = target.stat().st_size
        if damage == "deleted":
            target.unlink()
        elif damage == "cut short":
            os.truncate(target, recorded_size // 2)
        else:
            replacement = target.with_suffix(".new")
            replacement.write_bytes(target.read_bytes() + b"\0" * 10)
            os.replace(replacement, target)
        hashed.clear()
        again = run(cache, executor, library, out)
    assert {n: r.outcome for n, r in again.items()} == {
        "a.jpg": "cached",
        "b.jpg": "rendered",
        "c.jpg": "cached",
    }
    assert target.stat().st_size == again["b.jpg"].derivatives["preview"].bytes
    assert hashed == []  # the source is unchanged: its recorded hash still holds
    assert executor.submitted == 4


def test_a_touched_source_is_hashed_again_and_recorded_without_a_render(
    library: Path, tmp_path: Path, executor: CountingExecutor, hashed: list[str]
) -> None:
    out = tmp_path / "out"
    touched = library / "x" / "b.jpg"
    with DerivativeCache(out / "derivo.db") as cache:
        run(cache, executor, library, out)
        old(touched, age=3600)
        hashed.clear()
        again = run(cache, executor, library, out)
        record = cache.photo(str(touched))
    assert {r.outcome for r in again.values()} == {"cached"}
    assert hashed == ["b.jpg"]
    assert record is not None and record.stat is not None
    assert record.stat.mtime_ns == touched.stat().st_mtime_ns
    assert executor.submitted == 3


def test_a_changed_source_is_rendered_again(
    library: Path, tmp_path: Path, executor: CountingExecutor
) -> None:
    out = tmp_path / "out"
    changed = library / "x" / "y" / "c.jpg"
    with DerivativeCache(out / "derivo.db") as cache:
        first = run(cache, executor, library, out)
        shutil.copy(SAMPLES / "orientation" / "landscape_3.jpg", changed)
        old(changed)
        again = run(cache, executor, library, out)
    assert {n: r.outcome for n, r in again.items()} == {
        "a.jpg": "cached",
        "b.jpg": "cached",
        "c.jpg": "rendered",
    }
    assert again["c.jpg"].source_hash != first["c.jpg"].source_hash


def test_a_changed_spec_renders_that_spec_for_every_photo(
    library: Path, tmp_path: Path, executor: CountingExecutor, hashed: list[str]
) -> None:
    out = tmp_path / "out"
    sharper = Spec(name="thumbnail", width=200, height=200, quality=90)
    with DerivativeCache(out / "derivo.db") as cache:
        first = run(cache, executor, library, out)
        hashed.clear()
        again = run(cache, executor, library, out, SpecSet((sharper, PREVIEW)))
    assert {r.outcome for r in again.values()} == {"rendered"}
    assert hashed == []
    for name, result in again.items():
        assert result.derivatives["preview"] == first[name].derivatives["preview"]
        assert result.derivatives["thumbnail"].path != first[name].derivatives["thumbnail"].path
    assert executor.submitted == 6


def test_a_recorded_row_holds_each_wanted_derivative_or_none(
    library: Path, tmp_path: Path, executor: CountingExecutor
) -> None:
    out = tmp_path / "out"
    wider = Spec(name="wide", width=400, height=400)
    twin = library / "twin.jpg"
    shutil.copy(library / "a.jpg", twin)
    old(twin)
    with DerivativeCache(out / "derivo.db") as cache:
        run(cache, executor, library, out)
        ids = [str(library / "a.jpg"), str(twin), str(library / "unknown.jpg")]
        rows = cache.recorded_state(ids, (THUMBNAIL, PREVIEW))
        assert sorted(rows) == sorted(ids[:2])  # one row each, an unknown photo none
        for photo_id, row in rows.items():
            record = cache.photo(photo_id)
            assert record is not None and record.hash is not None
            made = cache.recorded_derivatives(row, (PREVIEW, THUMBNAIL)[::-1])
            assert made == cache.derivatives_of([record.hash], SpecSet())[record.hash]
        missing = cache.recorded_state(ids[:1], (THUMBNAIL, wider))
        assert cache.recorded_derivatives(missing[ids[0]], (THUMBNAIL, wider)) is None


def test_scan_goes_depth_first_files_before_subfolders_names_sorted(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    files = ["b.jpg", "a/z.jpg", "a/b/c/d.jpg", "a/b/y.jpg", "a/c/x.jpg", "c.jpg", ".h/e.jpg"]
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")
    found = [os.path.relpath(f.location, root) for f in scan([root])]
    assert found == ["b.jpg", "c.jpg", "a/z.jpg", "a/b/y.jpg", "a/b/c/d.jpg", "a/c/x.jpg"]


def test_printable_keeps_names_and_escapes_only_undecodable_bytes() -> None:
    assert printable("/photos/IMG_0001.jpg") == "/photos/IMG_0001.jpg"
    assert printable("/photos/été.jpg") == "/photos/été.jpg"
    assert printable(os.fsdecode(b"/photos/\xff.jpg")) == "/photos/\\xff.jpg"
    assert printable(Path("/photos/a.jpg")) == "/photos/a.jpg"


def test_a_recorded_row_holds_more_specs_than_sqlite_joins_tables(tmp_path: Path) -> None:
    specs = tuple(Spec(name=f"s{n}", width=10 + n, height=10 + n) for n in range(70))
    with DerivativeCache(tmp_path / "derivo.db") as cache:
        photo = str(tmp_path / "a.jpg")
        cache.put_photo(
            photo, source=photo, stat=FileStat(size=1, mtime_ns=2, inode=3), source_hash="ab" * 32
        )
        made = [
            Derivative(
                spec=s.name,
                path=str(cache.root / f"{s.name}.jpg"),
                width=s.width,
                height=s.height,
                bytes=n,
                format="jpeg",
                blake3=f"{n:064x}",
            )
            for n, s in enumerate(specs)
        ]
        cache.record("ab" * 32, specs, made[:-1])
        rows = cache.recorded_state([photo, str(tmp_path / "other.jpg")], specs)
        assert list(rows) == [photo]
        assert cache.recorded_derivatives(rows[photo], specs) is None  # the last one is missing
        cache.record("ab" * 32, specs, made[-1:])
        row = cache.recorded_state([photo], specs)[photo]
        assert row[:6] == (photo, photo, 1, 2, 3, "ab" * 32)
        assert cache.recorded_derivatives(row, specs) == {d.spec: d for d in made}


def test_a_derivative_read_from_a_row_is_what_its_constructor_makes(tmp_path: Path) -> None:
    # a row's derivatives are built without the constructor: a new field or slots would
    # leave them short of what the constructor makes
    with DerivativeCache(tmp_path / "derivo.db") as cache:
        photo = str(tmp_path / "a.jpg")
        stat = FileStat(size=1, mtime_ns=2, inode=3)
        cache.put_photo(photo, source=photo, stat=stat, source_hash="cd" * 32)
        values = {
            "spec": "thumbnail",
            "path": str(cache.root / "t.jpg"),
            "width": 200,
            "height": 150,
            "bytes": 4321,
            "format": "jpeg",
            "thumbhash": "abc=",
            "blake3": "ef" * 32,
        }
        cache.record("cd" * 32, (THUMBNAIL,), [Derivative(**values)])
        row = cache.recorded_state([photo], (THUMBNAIL,))[photo]
        made = cache.recorded_derivatives(row, (THUMBNAIL,))
    assert made is not None
    assert {f.name for f in dataclasses.fields(Derivative)} == set(values)
    assert type(made["thumbnail"]) is Derivative
    assert vars(made["thumbnail"]) == vars(Derivative(**values))
    assert made["thumbnail"] == Derivative(**values)
