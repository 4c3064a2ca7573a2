"""Renders start largest first, so no worker idles at the end of a run on one big photo."""

from __future__ import annotations

import shutil
from pathlib import Path

from derivo import DerivativeCache, InlineExecutor, Pipeline, RenderFuture, RenderTask
from tests.conftest import SAMPLES


class RecordingExecutor(InlineExecutor):
    """Renders in the test's process and notes the order the renders were submitted in."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []

    def submit(self, task: RenderTask, *, block: bool = True) -> RenderFuture:
        self.order.append(Path(task.source).name)
        return super().submit(task, block=block)


def test_a_window_is_rendered_largest_file_first(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    names = ("canon_hdr_NO.jpg", "Reconyx_HC500_Hyperfire.jpg", "jolla.jpg")
    for name in names:
        shutil.copy(SAMPLES / name, folder / name)
    by_size = sorted(names, key=lambda name: (folder / name).stat().st_size, reverse=True)
    assert by_size != list(names)  # the test can tell the two orders apart
    with (
        DerivativeCache(tmp_path / "out" / "derivo.db") as cache,
        RecordingExecutor() as executor,
        Pipeline(cache=cache, executor=executor, out_dir=tmp_path / "out") as pipeline,
    ):
        results = list(pipeline.run((name, folder / name) for name in names))
    assert {r.outcome for r in results} == {"rendered"}
    assert executor.order == by_size
