"""The pipeline over a real SQLite file, rendering in-process: never twice, exactly what changed.

The pool's own behaviour (processes, crashes, time limits) is tested in test_pool.py.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from derivo import (
    DerivativeCache,
    InlineExecutor,
    Pipeline,
    RenderFailed,
    Spec,
    SpecSet,
    WorkerPool,
)
from derivo.specs import PREVIEW, THUMBNAIL
from tests.conftest import BADINPUT, SAMPLES, CountingExecutor


def run_all(pipeline: Pipeline, folder: Path, **options: bool) -> dict[str, str]:
    photos = [(p.name, p) for p in sorted(folder.iterdir())]
    return {r.photo_id: r.outcome for r in pipeline.run(photos, **options)}


def test_a_rerun_of_an_unchanged_folder_renders_nothing(photos: Path, make_pipeline,
                                                        executor: CountingExecutor) -> None:
    first = run_all(make_pipeline(), photos)
    assert set(first.values()) == {"rendered"}
    assert executor.submitted == 3
    assert set(run_all(make_pipeline(), photos).values()) == {"cached"}
    assert executor.submitted == 3


def test_a_changed_spec_rerenders_that_spec_only(photos: Path, make_pipeline,
                                                 cache: DerivativeCache) -> None:
    run_all(make_pipeline(), photos)
    before = {p.name: cache.derivatives(_hash(cache, p.name), [THUMBNAIL, PREVIEW])
              for p in photos.iterdir()}
    sharper = Spec(name="thumbnail", width=200, height=200, quality=90)
    outcomes = run_all(make_pipeline(SpecSet((sharper, PREVIEW))), photos)
    assert set(outcomes.values()) == {"rendered"}
    for photo in photos.iterdir():
        after = cache.derivatives(_hash(cache, photo.name), [sharper, PREVIEW])
        assert after["preview"] == before[photo.name]["preview"]
        assert after["thumbnail"].path != before[photo.name]["thumbnail"].path
        assert Path(before[photo.name]["thumbnail"].path).is_file()


def test_a_deleted_derivative_is_rendered_again(photos: Path, make_pipeline,
                                                cache: DerivativeCache) -> None:
    run_all(make_pipeline(), photos)
    gone = Path(cache.derivatives(_hash(cache, "jolla.jpg"), [PREVIEW])["preview"].path)
    gone.unlink()
    outcomes = run_all(make_pipeline(), photos)
    assert outcomes == {"jolla.jpg": "rendered", "canon_hdr_NO.jpg": "cached",
                        "Reconyx_HC500_Hyperfire.jpg": "cached"}
    assert gone.is_file()


def test_a_changed_source_is_rendered_again(photos: Path, make_pipeline,
                                            cache: DerivativeCache) -> None:
    run_all(make_pipeline(), photos)
    old_hash = _hash(cache, "jolla.jpg")
    shutil.copy(SAMPLES / "orientation" / "landscape_3.jpg", photos / "jolla.jpg")
    outcomes = run_all(make_pipeline(), photos)
    assert outcomes["jolla.jpg"] == "rendered"
    assert _hash(cache, "jolla.jpg") != old_hash
    assert cache.photo("jolla.jpg").width == 600  # type: ignore[union-attr]


def test_quick_check_trusts_stat_and_verify_hashes(photos: Path, make_pipeline,
                                                   cache: DerivativeCache) -> None:
    for photo in photos.iterdir():  # older than their record, as in a real library
        os.utime(photo, ns=(photo.stat().st_atime_ns, time.time_ns() - 3600 * 10**9))
    run_all(make_pipeline(), photos)
    target = photos / "jolla.jpg"
    st = target.stat()
    with open(target, "r+b") as f:  # same size, same inode, same mtime: only bytes differ
        f.seek(st.st_size // 2)
        f.write(b"\x00" * 16)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert run_all(make_pipeline(), photos)["jolla.jpg"] == "cached"
    assert run_all(make_pipeline(), photos, verify=True)["jolla.jpg"] == "rendered"


def test_identical_sources_render_once_and_share_derivatives(tmp_path: Path, make_pipeline,
                                                             executor: CountingExecutor) -> None:
    folder = tmp_path / "same"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        shutil.copy(SAMPLES / "jolla.jpg", folder / name)
    results = list(make_pipeline().run([(p.name, p) for p in sorted(folder.iterdir())]))
    assert executor.submitted == 1
    assert [r.outcome for r in results] == ["rendered", "cached", "cached"]
    assert len({r.derivatives["thumbnail"].path for r in results}) == 1


def test_bad_inputs_are_recorded_and_not_retried(tmp_path: Path, make_pipeline,
                                                 cache: DerivativeCache,
                                                 executor: CountingExecutor) -> None:
    bad = BADINPUT / "truncated" / "sharp__truncated.jpg"
    result = make_pipeline().submit("bad", bad).result()
    assert result.outcome == "failed" and result.error_kind == "corrupt"
    assert result.attempts == 1
    record = cache.photo("bad")
    assert record is not None and record.status == "failed"
    assert record.error == (
        "truncated or damaged JPEG (premature end of JPEG image; --lenient accepts it)"
    )
    again = make_pipeline().submit("bad", bad).result()
    assert again.outcome == "failed" and again.error == record.error
    assert executor.submitted == 1


def test_a_missing_source_fails_with_a_reason(tmp_path: Path, make_pipeline) -> None:
    result = make_pipeline().submit("gone", tmp_path / "nope.jpg").result()
    assert (result.outcome, result.error_kind) == ("failed", "missing")
    assert result.error == "source file not found"


def _hash(cache: DerivativeCache, photo_id: str) -> str:
    record = cache.photo(photo_id)
    assert record is not None and record.hash is not None
    return record.hash


def test_a_file_changed_just_after_hashing_is_hashed_again(photos: Path, make_pipeline) -> None:
    """Freshly written files are racy: same size and mtime tick may hide an edit."""
    for photo in photos.iterdir():  # written within the tick its record is made in
        os.utime(photo, ns=(photo.stat().st_atime_ns, time.time_ns() + 3600 * 10**9))
    run_all(make_pipeline(), photos)
    target = photos / "jolla.jpg"
    st = target.stat()
    with open(target, "r+b") as f:
        f.seek(st.st_size // 2)
        f.write(b"\x00" * 16)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert run_all(make_pipeline(), photos)["jolla.jpg"] == "rendered"


def test_an_unreadable_source_fails_alone(photos: Path, make_pipeline,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from derivo import pipeline as module

    real = module.hash_file

    def flaky(path: Path) -> str:
        if path.name == "jolla.jpg":
            raise OSError(5, "Input/output error")
        return real(path)

    monkeypatch.setattr(module, "hash_file", flaky)
    outcomes = {}
    for r in make_pipeline().run([(p.name, p) for p in sorted(photos.iterdir())]):
        outcomes[r.photo_id] = (r.outcome, r.error)
    assert outcomes["jolla.jpg"] == ("failed", "cannot read source: Input/output error")
    assert outcomes["canon_hdr_NO.jpg"][0] == "rendered"


class BrokenCache(DerivativeCache):
    def record(self, *args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")


def test_a_failure_to_record_settles_the_photo_instead_of_hanging(
    tmp_path: Path, executor: CountingExecutor
) -> None:
    with BrokenCache(tmp_path / "d.db") as cache:
        pipeline = Pipeline(cache=cache, executor=executor, out_dir=tmp_path / "out")
        result = pipeline.submit("jolla", SAMPLES / "jolla.jpg").result(timeout=60)
        pipeline.close()
        assert result.outcome == "failed" and result.error_kind == "cache"
        assert result.error == "could not record the result: OperationalError: disk I/O error"
        assert cache.photo("jolla").status == "pending"  # type: ignore[union-attr]


@pytest.mark.slow
def test_close_returns_after_every_result_is_recorded(photos: Path, tmp_path: Path) -> None:
    with WorkerPool(workers=2) as pool:
        for batch in range(2):
            with (
                DerivativeCache(tmp_path / "d.db") as cache,
                Pipeline(cache=cache, executor=pool, out_dir=tmp_path / "out") as pipeline,
            ):
                for p in sorted(photos.iterdir()):
                    pipeline.submit(f"{batch}-{p.name}", p)
    with DerivativeCache(tmp_path / "d.db") as cache:
        assert cache.counts()["done"] == 6


def test_run_raises_what_the_executor_raised(photos: Path, tmp_path: Path,
                                             cache: DerivativeCache) -> None:
    executor = InlineExecutor()
    executor.close()
    pipeline = Pipeline(cache=cache, executor=executor, out_dir=tmp_path / "out")
    with pytest.raises(RenderFailed, match="^the inline executor is shut down$"):
        list(pipeline.run([(p.name, p) for p in sorted(photos.iterdir())]))
    assert cache.photo("Reconyx_HC500_Hyperfire.jpg").status == "pending"  # type: ignore[union-attr]
