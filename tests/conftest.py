"""Shared fixtures: real sample photos, an in-process executor, a real SQLite file."""

from __future__ import annotations

import gc
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

import derivo.cli
from derivo import DerivativeCache, InlineExecutor, Pipeline, RenderFuture, RenderTask, SpecSet
from derivo import pipeline as pipeline_module
from tests.smallfs import SmallFs

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
ORIENTATION = SAMPLES / "orientation"
BADINPUT = ROOT / "tests" / "data" / "badinput"

# Hypothesis' per-example deadline is a wall-clock limit: on a loaded machine it fails
# examples that are correct, so property tests state what is right, not how fast.
settings.register_profile("derivo", deadline=None)
settings.load_profile("derivo")


class CountingExecutor(InlineExecutor):
    """Renders in the test's own process and counts the renders it was asked for."""

    submitted = 0

    def submit(self, task: RenderTask, *, block: bool = True) -> RenderFuture:
        self.submitted += 1
        return super().submit(task, block=block)


@pytest.fixture
def executor() -> Iterator[CountingExecutor]:
    with CountingExecutor() as inline:
        yield inline


@pytest.fixture
def cli_renders_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI, run by ``CliRunner``, renders in this process instead of starting workers.

    For tests of what the CLI finds, records and prints, where worker processes are
    not the subject (those have tests of their own, marked slow).
    """

    def inline(**settings: object) -> InlineExecutor:
        return InlineExecutor()

    monkeypatch.setattr(derivo.cli, "make_executor", inline)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """A private copy of a few real photos that a test may change."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("jolla.jpg", "canon_hdr_NO.jpg", "Reconyx_HC500_Hyperfire.jpg"):
        shutil.copy(SAMPLES / name, folder / name)
    return folder


def old(path: Path, age: float = 86_400) -> None:
    """Date ``path`` ``age`` seconds back: older than any record of it, by default."""
    then = time.time() - age
    os.utime(path, (then, then))


@pytest.fixture
def nested_library(tmp_path: Path) -> Path:
    """Three photos, ``a.jpg``, ``x/b.jpg`` and ``x/y/c.jpg``, older than any record of them."""
    root = tmp_path / "lib"
    (root / "x" / "y").mkdir(parents=True)
    sources = ("jolla.jpg", "canon_hdr_NO.jpg", "Reconyx_HC500_Hyperfire.jpg")
    folders = (root, root / "x", root / "x" / "y")
    for name, sample, folder in zip(("a.jpg", "b.jpg", "c.jpg"), sources, folders, strict=True):
        shutil.copy(SAMPLES / sample, folder / name)
        old(folder / name)
    return root


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the sources the pipeline reads to hash (those the quick check did not vouch for)."""
    read: list[str] = []
    real = pipeline_module.hash_file

    def counted(path: Path) -> str:
        read.append(path.name)
        return real(path)

    monkeypatch.setattr(pipeline_module, "hash_file", counted)
    return read


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[DerivativeCache]:
    with DerivativeCache(tmp_path / "out" / "derivo.db") as db:
        yield db


@pytest.fixture
def make_pipeline(tmp_path: Path, cache: DerivativeCache, executor: CountingExecutor):  # type: ignore[no-untyped-def]
    """Build pipelines over the same cache and output folder, with chosen specs."""

    def make(specs: SpecSet | None = None) -> Pipeline:
        return Pipeline(cache=cache, executor=executor, out_dir=tmp_path / "out", specs=specs)

    return make


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Name the random order's seed even with -q, so a failing order can be replayed."""
    seed = getattr(config.option, "randomly_seed", None)
    if isinstance(seed, int):
        terminalreporter.write_line(
            f"random order seed {seed}: replay with python -m pytest --randomly-seed={seed}"
        )


#: A slow test (real processes, a server, a browser) costs about this many fast ones.
SLOW_WEIGHT = 15


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files by their expected cost, longest first, in their random order within.

    Test processes take whole files in this order (``--no-loadscope-reorder``), so
    the longest files start first and the short ones fill in around them: no long
    file is left to run alone at the end while the other processes sit idle. Every
    process computes the same order from the same seed, as xdist requires.
    """
    cost: dict[Path, int] = {}
    for item in items:
        weight = SLOW_WEIGHT if item.get_closest_marker("slow") else 1
        cost[item.path] = cost.get(item.path, 0) + weight
    items.sort(key=lambda item: -cost[item.path])


def pytest_collection_finish(session: pytest.Session) -> None:
    """Exempt what collection built (modules, test items) from the cyclic collector.

    It lives as long as the session anyway; without this, each ``gc.collect()``
    a test needs walks all of it again.
    """
    gc.freeze()


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Path]:
    """A small real file system mounted for the test, to fill to its last page."""
    mounts = SmallFs()
    try:
        yield mounts.mount(tmp_path / "small")
    finally:
        mounts.unmount_all()
