"""Shared fixtures: real sample photos, a real worker pool, a real SQLite file."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from derivo import DerivativeCache, Pipeline, SpecSet, WorkerPool

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
ORIENTATION = SAMPLES / "orientation"
BADINPUT = ROOT / "tests" / "data" / "badinput"


@pytest.fixture(scope="session")
def pool() -> Iterator[WorkerPool]:
    """One real two-process pool shared by the tests that only need rendering done."""
    with WorkerPool(workers=2) as shared:
        yield shared


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """A private copy of a few real photos that a test may change."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("jolla.jpg", "canon_hdr_NO.jpg", "Reconyx_HC500_Hyperfire.jpg"):
        shutil.copy(SAMPLES / name, folder / name)
    return folder


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[DerivativeCache]:
    with DerivativeCache(tmp_path / "out" / "derivo.db") as db:
        yield db


@pytest.fixture
def make_pipeline(tmp_path: Path, cache: DerivativeCache, pool: WorkerPool):  # type: ignore[no-untyped-def]
    """Build pipelines over the same cache and output folder, with chosen specs."""

    def make(specs: SpecSet | None = None) -> Pipeline:
        return Pipeline(cache=cache, executor=pool, out_dir=tmp_path / "out", specs=specs)

    return make
