"""Dispatch reads the cache outside the pipeline's lock, which renders landing need."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from derivo import DerivativeCache, Pipeline
from derivo.recorder import Landing
from tests.conftest import SAMPLES, CountingExecutor


def test_a_render_recorded_before_its_twin_is_dispatched_answers_the_twin_unlocked(
    tmp_path: Path, executor: CountingExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "twins"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg"):
        shutil.copy(SAMPLES / "jolla.jpg", folder / name)
    out = tmp_path / "out"
    with DerivativeCache(out / "derivo.db") as cache:
        pipeline = Pipeline(cache=cache, executor=executor, out_dir=out)
        recorder = pipeline._recorder
        landed = recorder.landed

        def landed_and_recorded(landing: Landing) -> None:
            # the first twin's render is recorded (its flight gone) before the second is
            # dispatched: the second must then ask the cache
            landed(landing)
            recorder.wait_idle()

        monkeypatch.setattr(recorder, "landed", landed_and_recorded)
        locked_while_reading: list[bool] = []
        derivatives_of = cache.derivatives_of

        def watched(*args, **kwargs):  # type: ignore[no-untyped-def]
            locked_while_reading.append(pipeline._lock.locked())
            return derivatives_of(*args, **kwargs)

        monkeypatch.setattr(cache, "derivatives_of", watched)
        results = list(pipeline.run([(p.name, p) for p in sorted(folder.iterdir())]))
        pipeline.close()
    assert [(r.photo_id, r.outcome) for r in results] == [
        ("a.jpg", "rendered"),
        ("b.jpg", "cached"),
    ]
    assert results[1].derivatives == results[0].derivatives
    assert executor.submitted == 1
    assert locked_while_reading and not any(locked_while_reading)
