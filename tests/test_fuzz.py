"""Damaged copies of real photos through a real worker pool: a clean error or a sound image.

A smaller, fixed-seed run of ``python -m bench.fuzz``: every mutant must end as an
input error with a one-line reason or as derivatives the flat-band oracle passes,
with no crash, hang or lost worker.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import fuzz

MUTANTS = 200


@pytest.mark.slow
def test_every_mutant_is_refused_cleanly_or_renders_soundly(tmp_path: Path) -> None:
    seeds = fuzz.make_seeds(tmp_path / "seeds", large=False)
    assert {fmt for fmt, _ in seeds} == {"jpeg", "png", "webp", "heif"}
    counts = fuzz.run(seeds, MUTANTS, seed=7, work=tmp_path, workers=2, timeout=120.0)
    assert counts.mutants == MUTANTS
    assert counts.failures == [], fuzz.report(counts)
    assert counts.bad == 0 and counts.lost_workers == 0
    refused = sum(n for outcome, n in counts.outcomes.items() if outcome.startswith("refused:"))
    assert refused + counts.outcomes["ok"] == MUTANTS
    # both ends are exercised: damage that is refused, damage that still decodes whole
    assert counts.outcomes["refused:corrupt"] > MUTANTS // 10
    assert counts.outcomes["ok"] > MUTANTS // 10


def test_mutants_are_the_same_for_the_same_seed(tmp_path: Path) -> None:
    seeds = [("jpeg", Path(fuzz.CAMERA_JPEGS[0]))]
    first = [(m.name, m.data) for m in fuzz.mutants(seeds, 12, seed=3)]
    again = [(m.name, m.data) for m in fuzz.mutants(seeds, 12, seed=3)]
    other = [(m.name, m.data) for m in fuzz.mutants(seeds, 12, seed=4)]
    assert first == again and first != other
    assert {name.rsplit("-", 1)[1] for name, _ in first} >= {"truncate", "zero", "flip"}
    original = seeds[0][1].read_bytes()
    assert all(data != original for _, data in first)
