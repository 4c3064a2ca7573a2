"""Re-runs answered from one plain row per photo, in both forms: with a result for every
photo, or with the photos that need nothing only counted (``Pipeline.run(unchanged=...)``,
the CLI without ``--json``). The shortcut still re-renders exactly what it must (a
derivative deleted, cut short or replaced, a source touched or changed, a spec changed)
and answers the rest with the derivatives the cache records."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

from derivo import DerivativeCache, PhotoResult, Pipeline, Spec, SpecSet
from derivo.cache import FileStat
from derivo.discover import scan
from derivo.outcomes import printable
from derivo.specs import PREVIEW, THUMBNAIL
from derivo.tasks import Derivative
from tests.conftest import SAMPLES, CountingExecutor, old


@pytest.fixture(params=[False, True], ids=["results", "counted"])
def counting(request: pytest.FixtureRequest) -> bool:
    """The re-run's form: a result for every photo, or the photos that need nothing counted."""
    return bool(request.param)


def run(
    cache: DerivativeCache,
    executor: CountingExecutor,
    library: Path,
    out: Path,
    specs: SpecSet | None = None,
    *,
    counting: bool = False,
) -> tuple[dict[str, PhotoResult], list[int]]:
    """The results a run yields, by file name, and the counts it was told (with ``counting``)."""
    counts: list[int] = []
    unchanged = counts.append if counting else None
    with Pipeline(cache=cache, executor=executor, out_dir=out, specs=specs) as pipeline:
        found = pipeline.run(scan([library]), unchanged=unchanged)
        return {Path(r.photo_id).name: r for r in found}, counts


def assert_answered(
    again: dict[str, PhotoResult],
    counts: list[int],
    counting: bool,
    *,
    unchanged: set[str],
    others: dict[str, str],
) -> None:
    """The re-run answered ``unchanged`` with no work (counted, or each a cached result) and
    ``others`` with these outcomes."""
    outcomes = {name: result.outcome for name, result in again.items()}
    if counting:
        assert outcomes == others
        assert sum(counts) == len(unchanged) and all(count > 0 for count in counts)
    else:
        assert outcomes == {**dict.fromkeys(unchanged, "cached"), **others}
        assert counts == []


def test_an_unchanged_rerun_needs_nothing_and_answers_with_the_recorded_derivatives(
    nested_library: Path,
    tmp_path: Path,
    executor: CountingExecutor,
    hashed: list[str],
    counting: bool,
) -> None:
    out = tmp_path / "out"
    with DerivativeCache(out / "derivo.db") as cache:
        first, first_counts = run(cache, executor, nested_library, out, counting=counting)
        hashed.clear()
        again, counts = run(cache, executor, nested_library, out, counting=counting)
        assert {r.outcome for r in first.values()} == {"rendered"} and first_counts == []
        assert_answered(again, counts, counting, unchanged={"a.jpg", "b.jpg", "c.jpg"}, others={})
        for name, result in again.items():
            assert result.source_hash == first[name].source_hash
            assert (result.width, result.height) == (first[name].width, first[name].height)
            recorded = cache.derivatives_of([result.source_hash or ""], SpecSet())
            assert result.derivatives == recorded[result.source_hash or ""]
            assert result.derivatives == first[name].derivatives
    assert hashed == []  # every photo answered by the quick check
    assert executor.submitted == 3


@pytest.mark.parametrize(
    ("damage", "spec"),
    [("deleted", "preview"), ("cut short", "thumbnail"), ("replaced by another size", "preview")],
)
def test_a_damaged_derivative_is_made_again_and_only_its_photo(
    nested_library: Path,
    tmp_path: Path,
    executor: CountingExecutor,
    hashed: list[str],
    counting: bool,
    damage: str,
    spec: str,
) -> None:
    out = tmp_path / "out"
    with DerivativeCache(out / "derivo.db") as cache:
        first, _ = run(cache, executor, nested_library, out, counting=counting)
        target = Path(first["b.jpg"].derivatives[spec].path)
        recorded_size = target.stat().st_size
        if damage == "deleted":
            target.unlink()
        elif damage == "cut short":
            os.truncate(target, recorded_size // 2)
        else:
            replacement = target.with_suffix(".new")
            replacement.write_bytes(target.read_bytes() + b"\0")
            os.replace(replacement, target)
        hashed.clear()
        again, counts = run(cache, executor, nested_library, out, counting=counting)
    remade = {"b.jpg": "rendered"}
    assert_answered(again, counts, counting, unchanged={"a.jpg", "c.jpg"}, others=remade)
    assert target.stat().st_size == again["b.jpg"].derivatives[spec].bytes
    assert hashed == []  # the source is unchanged: its recorded hash still holds
    assert executor.submitted == 4


def test_a_touched_source_is_hashed_again_without_a_render_and_a_changed_one_rendered(
    nested_library: Path,
    tmp_path: Path,
    executor: CountingExecutor,
    hashed: list[str],
    counting: bool,
) -> None:
    out = tmp_path / "out"
    touched, changed = nested_library / "x" / "b.jpg", nested_library / "x" / "y" / "c.jpg"
    with DerivativeCache(out / "derivo.db") as cache:
        first, _ = run(cache, executor, nested_library, out, counting=counting)
        old(touched, age=3600)
        shutil.copy(SAMPLES / "orientation" / "landscape_3.jpg", changed)
        old(changed)
        hashed.clear()
        again, counts = run(cache, executor, nested_library, out, counting=counting)
        record = cache.photo(str(touched))
    others = {"b.jpg": "cached", "c.jpg": "rendered"}
    assert_answered(again, counts, counting, unchanged={"a.jpg"}, others=others)
    assert again["b.jpg"].derivatives == first["b.jpg"].derivatives
    assert again["c.jpg"].source_hash != first["c.jpg"].source_hash
    assert sorted(hashed) == ["b.jpg", "c.jpg"]
    assert record is not None and record.stat is not None
    assert record.stat.mtime_ns == touched.stat().st_mtime_ns
    assert executor.submitted == 4  # the changed photo only


def test_a_source_no_older_than_its_record_is_hashed_not_answered_unread(
    nested_library: Path,
    tmp_path: Path,
    executor: CountingExecutor,
    hashed: list[str],
    counting: bool,
) -> None:
    out = tmp_path / "out"
    # an mtime not clearly older than the record: an edit in the same tick could go unseen
    old(nested_library / "a.jpg", age=-86_400)
    with DerivativeCache(out / "derivo.db") as cache:
        run(cache, executor, nested_library, out, counting=counting)
        hashed.clear()
        again, counts = run(cache, executor, nested_library, out, counting=counting)
    rehashed = {"a.jpg": "cached"}
    assert_answered(again, counts, counting, unchanged={"b.jpg", "c.jpg"}, others=rehashed)
    assert hashed == ["a.jpg"]


def test_a_changed_spec_renders_that_spec_for_every_photo(
    nested_library: Path,
    tmp_path: Path,
    executor: CountingExecutor,
    hashed: list[str],
    counting: bool,
) -> None:
    out = tmp_path / "out"
    sharper = Spec(name="thumbnail", width=200, height=200, quality=90)
    with DerivativeCache(out / "derivo.db") as cache:
        first, _ = run(cache, executor, nested_library, out, counting=counting)
        hashed.clear()
        specs = SpecSet((sharper, PREVIEW))
        again, counts = run(cache, executor, nested_library, out, specs, counting=counting)
    everything = dict.fromkeys(("a.jpg", "b.jpg", "c.jpg"), "rendered")
    assert_answered(again, counts, counting, unchanged=set(), others=everything)
    assert hashed == []
    for name, result in again.items():
        assert result.derivatives["preview"] == first[name].derivatives["preview"]
        assert result.derivatives["thumbnail"].path != first[name].derivatives["thumbnail"].path
    assert executor.submitted == 6


def test_a_recorded_row_holds_each_wanted_derivative_or_none(
    nested_library: Path, tmp_path: Path, executor: CountingExecutor
) -> None:
    out = tmp_path / "out"
    wider = Spec(name="wide", width=400, height=400)
    twin = nested_library / "twin.jpg"
    shutil.copy(nested_library / "a.jpg", twin)
    old(twin)
    with DerivativeCache(out / "derivo.db") as cache:
        run(cache, executor, nested_library, out)
        ids = [str(nested_library / "a.jpg"), str(twin), str(nested_library / "unknown.jpg")]
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
