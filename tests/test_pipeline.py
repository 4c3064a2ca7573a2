"""The pipeline over a real SQLite file, rendering in-process: never twice, exactly what changed.

The pool's own behaviour (processes, crashes, time limits) is tested in test_pool.py.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from derivo import (
    DerivativeCache,
    InlineExecutor,
    Pipeline,
    RenderFailed,
    RenderResult,
    RenderTask,
    Spec,
    SpecSet,
    StorageFull,
    WorkerCrashed,
    WorkerPool,
    recorder,
)
from derivo.specs import PREVIEW, THUMBNAIL
from tests.conftest import BADINPUT, SAMPLES, CountingExecutor


def run_all(pipeline: Pipeline, folder: Path, **options: bool) -> dict[str, str]:
    photos = [(p.name, p) for p in sorted(folder.iterdir())]
    return {r.photo_id: r.outcome for r in pipeline.run(photos, **options)}


def test_a_rerun_of_an_unchanged_folder_renders_nothing(
    photos: Path, make_pipeline, executor: CountingExecutor
) -> None:
    first = run_all(make_pipeline(), photos)
    assert set(first.values()) == {"rendered"}
    assert executor.submitted == 3
    assert set(run_all(make_pipeline(), photos).values()) == {"cached"}
    assert executor.submitted == 3


def test_a_changed_spec_rerenders_that_spec_only(
    photos: Path, make_pipeline, cache: DerivativeCache
) -> None:
    run_all(make_pipeline(), photos)
    before = {
        p.name: cache.derivatives(_hash(cache, p.name), [THUMBNAIL, PREVIEW])
        for p in photos.iterdir()
    }
    sharper = Spec(name="thumbnail", width=200, height=200, quality=90)
    outcomes = run_all(make_pipeline(SpecSet((sharper, PREVIEW))), photos)
    assert set(outcomes.values()) == {"rendered"}
    for photo in photos.iterdir():
        after = cache.derivatives(_hash(cache, photo.name), [sharper, PREVIEW])
        assert after["preview"] == before[photo.name]["preview"]
        assert after["thumbnail"].path != before[photo.name]["thumbnail"].path
        assert Path(before[photo.name]["thumbnail"].path).is_file()


def test_a_deleted_derivative_is_rendered_again(
    photos: Path, make_pipeline, cache: DerivativeCache
) -> None:
    run_all(make_pipeline(), photos)
    gone = Path(cache.derivatives(_hash(cache, "jolla.jpg"), [PREVIEW])["preview"].path)
    gone.unlink()
    outcomes = run_all(make_pipeline(), photos)
    assert outcomes == {
        "jolla.jpg": "rendered",
        "canon_hdr_NO.jpg": "cached",
        "Reconyx_HC500_Hyperfire.jpg": "cached",
    }
    assert gone.is_file()


def test_a_changed_source_is_rendered_again(
    photos: Path, make_pipeline, cache: DerivativeCache
) -> None:
    run_all(make_pipeline(), photos)
    old_hash = _hash(cache, "jolla.jpg")
    shutil.copy(SAMPLES / "orientation" / "landscape_3.jpg", photos / "jolla.jpg")
    outcomes = run_all(make_pipeline(), photos)
    assert outcomes["jolla.jpg"] == "rendered"
    assert _hash(cache, "jolla.jpg") != old_hash
    assert cache.photo("jolla.jpg").width == 600  # type: ignore[union-attr]


def test_quick_check_trusts_stat_and_verify_hashes(
    photos: Path, make_pipeline, cache: DerivativeCache
) -> None:
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


def test_identical_sources_render_once_and_share_derivatives(
    tmp_path: Path, make_pipeline, executor: CountingExecutor
) -> None:
    folder = tmp_path / "same"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        shutil.copy(SAMPLES / "jolla.jpg", folder / name)
    results = list(make_pipeline().run([(p.name, p) for p in sorted(folder.iterdir())]))
    assert executor.submitted == 1
    assert [r.outcome for r in results] == ["rendered", "cached", "cached"]
    assert len({r.derivatives["thumbnail"].path for r in results}) == 1


def test_bad_inputs_are_recorded_and_not_retried(
    tmp_path: Path, make_pipeline, cache: DerivativeCache, executor: CountingExecutor
) -> None:
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


def test_an_unreadable_source_fails_alone(
    photos: Path, make_pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
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


class FullWhileHeldCache(DerivativeCache):
    """Holds the recorder at its first batch until the test lets go; then the disk is full."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.recording, self.go = threading.Event(), threading.Event()

    @contextmanager
    def batch(self) -> Iterator[None]:
        if threading.current_thread().name == "derivo-record" and not self.go.is_set():
            self.recording.set()
            self.go.wait(60)
        with super().batch():
            yield

    def record(self, *args: object, **kwargs: object) -> None:
        raise StorageFull("no space left on the device of the cache: free space there")


def test_a_photo_that_joins_a_render_whose_recording_fails_is_not_done(
    tmp_path: Path, executor: CountingExecutor
) -> None:
    for name in ("a.jpg", "b.jpg"):  # the same bytes: one render serves both
        shutil.copy(SAMPLES / "jolla.jpg", tmp_path / name)
    with FullWhileHeldCache(tmp_path / "d.db") as cache:
        pipeline = Pipeline(cache=cache, executor=executor, out_dir=tmp_path / "out")
        first = pipeline.submit("a", tmp_path / "a.jpg")
        assert cache.recording.wait(60)
        joined = pipeline.submit("b", tmp_path / "b.jpg")  # returns once it joined the flight
        cache.go.set()
        outcomes = [f.result(timeout=60).outcome for f in (first, joined)]
        pipeline.close()
        assert executor.submitted == 1
        assert outcomes == ["pending", "pending"]
        assert cache.counts()["pending"] == 2


def test_a_temp_file_that_cannot_be_removed_does_not_stop_the_recorder(
    tmp_path: Path, cache: DerivativeCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(task: RenderTask) -> RenderResult:
        raise WorkerCrashed("worker process died (signal 9) on 2 attempts")

    def unremovable(root: Path) -> int:
        raise PermissionError(13, "Permission denied", str(root))

    monkeypatch.setattr(recorder, "remove_leftovers", unremovable)
    with InlineExecutor(func=crash) as crashing:
        pipeline = Pipeline(cache=cache, executor=crashing, out_dir=tmp_path / "out")
        result = pipeline.submit("jolla", SAMPLES / "jolla.jpg").result(timeout=60)
        pipeline.close()
    assert (result.outcome, result.error_kind) == ("failed", WorkerCrashed.kind)
    assert cache.photo("jolla").status == "failed"  # type: ignore[union-attr]


def test_a_bug_while_recording_settles_the_batch_and_the_recorder_goes_on(
    tmp_path: Path, make_pipeline, cache: DerivativeCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome = recorder.Landing.outcome
    calls = iter([True])

    def broken_once(self: recorder.Landing):  # type: ignore[no-untyped-def]
        if next(calls, False):
            raise KeyError("a bug")
        return outcome(self)

    monkeypatch.setattr(recorder.Landing, "outcome", broken_once)
    pipeline = make_pipeline()
    first = pipeline.submit("jolla", SAMPLES / "jolla.jpg").result(timeout=60)
    assert (first.outcome, first.error_kind) == ("failed", "cache")
    assert cache.photo("jolla").status == "pending"  # type: ignore[union-attr]
    later = pipeline.submit("canon", SAMPLES / "canon_hdr_NO.jpg").result(timeout=60)
    pipeline.close()
    assert later.outcome == "rendered"
    assert cache.photo("canon").status == "done"  # type: ignore[union-attr]


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


def test_run_raises_what_the_executor_raised(
    photos: Path, tmp_path: Path, cache: DerivativeCache
) -> None:
    executor = InlineExecutor()
    executor.close()
    pipeline = Pipeline(cache=cache, executor=executor, out_dir=tmp_path / "out")
    with pytest.raises(RenderFailed, match="^the inline executor is shut down$"):
        list(pipeline.run([(p.name, p) for p in sorted(photos.iterdir())]))
    assert cache.photo("Reconyx_HC500_Hyperfire.jpg").status == "pending"  # type: ignore[union-attr]
