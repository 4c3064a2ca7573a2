"""Shared fixtures: real sample photos, an in-process executor, a real SQLite file."""

from __future__ import annotations

import gc
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import derivo.cli
from derivo import DerivativeCache, InlineExecutor, Pipeline, RenderFuture, RenderTask, SpecSet

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
ORIENTATION = SAMPLES / "orientation"
BADINPUT = ROOT / "tests" / "data" / "badinput"


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


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with slow tests first, in their random order, then the rest in theirs.

    Test processes take whole files, so a long file taken last would run alone while
    the other processes sit idle; started first, the short files fill in around it.
    Every process computes the same order from the same seed, as xdist requires.
    """
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Exempt what collection built (modules, test items) from the cyclic collector.

    It lives as long as the session anyway; without this, each ``gc.collect()``
    a test needs walks all of it again.
    """
    gc.freeze()
