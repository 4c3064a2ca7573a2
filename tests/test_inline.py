"""The in-process executor: same futures and errors as the pool, no processes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from derivo import CorruptImage, InlineExecutor, RenderFailed, RenderTask
from tests.conftest import SAMPLES
from tests.workers import scripted


def task(source: str, out_dir: Path) -> RenderTask:
    return RenderTask(source=source, source_hash="00" * 32, specs=(), out_dir=str(out_dir))


def test_renders_in_the_calling_process_and_the_future_is_done(tmp_path: Path) -> None:
    with InlineExecutor(func=scripted) as executor:
        future = executor.submit(task("ok", tmp_path), block=False)
    assert future.done() and future.attempts == 1
    assert future.result().width == os.getpid()


def test_errors_are_reported_as_a_worker_pool_reports_them(tmp_path: Path) -> None:
    with InlineExecutor(func=scripted) as executor:
        boom = executor.submit(task("boom", tmp_path))
        bad = executor.submit(task("bad", tmp_path))
    assert type(boom.exception()) is RenderFailed
    assert str(boom.exception()) == "ZeroDivisionError: division by zero"
    assert type(bad.exception()) is CorruptImage
    assert str(bad.exception()) == "truncated JPEG"


def test_the_default_is_the_real_renderer(tmp_path: Path) -> None:
    from derivo.specs import DEFAULT_SPECS

    source = SAMPLES / "jolla.jpg"
    with InlineExecutor() as executor:
        result = executor.submit(
            RenderTask(
                source=str(source),
                source_hash="ab" * 32,
                specs=tuple(DEFAULT_SPECS),
                out_dir=str(tmp_path),
            )
        ).result()
    assert {(d.spec, d.width, d.height) for d in result.derivatives} == {
        ("thumbnail", 200, 150),
        ("preview", 1200, 900),
    }


def test_a_closed_executor_refuses_work(tmp_path: Path) -> None:
    executor = InlineExecutor(func=scripted)
    executor.close()
    with pytest.raises(RenderFailed, match="^the inline executor is shut down$"):
        executor.submit(task("ok", tmp_path))


def test_stats_count_renders_as_a_one_worker_pool_would(tmp_path: Path) -> None:
    with InlineExecutor(func=scripted) as executor:
        for source in ("ok", "ok", "boom", "bad"):
            executor.submit(task(source, tmp_path))
        stats = executor.stats()
    assert (stats.workers, stats.queued, stats.in_flight) == (1, 0, 0)
    assert (stats.completed, stats.failed, stats.restarts) == (2, 2, 0)
